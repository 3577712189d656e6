//! A Service's allocations — its cluster IPs and node ports — as claim keys in the store
//! (`core/_clusterips/<ip>`, `core/_nodeports/<port>`, each holding the key of the Service
//! that owns it), written in the same all-or-nothing transaction as the Service on create,
//! update and delete: a claim and the Service that names it are stored together or not at
//! all, so no crash can leave one without the other. [`release_orphan`] frees what older
//! code could leave behind (it proposed claims apart from the object).
//!
//! Pure: the registry reads the store and proposes; these functions decide.

use std::collections::BTreeSet;

use bytes::Bytes;
use kumo_apimachinery::validation::FieldError;
use kumo_raft_store::{KeyValue, Op, Precondition, Revision, Txn};
use rand::Rng;
use serde_json::{Value, json};

/// Prefix of the cluster IP claim keys.
pub const CLUSTER_IP_CLAIMS: &str = "core/_clusterips/";
/// Prefix of the node port claim keys.
pub const NODE_PORT_CLAIMS: &str = "core/_nodeports/";

/// The range Service cluster IPs come from (Kubernetes' default service CIDR).
pub(crate) const SERVICE_CIDR: &str = "10.96.0.0/12";

/// The range node ports come from (Kubernetes' default `--service-node-port-range`).
pub(crate) const NODE_PORTS: std::ops::RangeInclusive<i64> = 30000..=32767;

/// Random candidates tried for one cluster IP or node port before the range counts as
/// full (500): at 32 tries a pick fails only when nearly every value is taken.
const RANDOM_TRIES: usize = 32;

pub fn cluster_ip_claim(ip: &str) -> String {
    format!("{CLUSTER_IP_CLAIMS}{ip}")
}

pub fn node_port_claim(port: i64) -> String {
    format!("{NODE_PORT_CLAIMS}{port}")
}

/// Whether `ip` is a usable address of [`SERVICE_CIDR`] (not its network or broadcast).
pub(crate) fn in_service_range(ip: &str) -> bool {
    let Ok(ip) = ip.parse::<std::net::Ipv4Addr>() else {
        return false;
    };
    let n = u32::from(ip);
    let base = u32::from(std::net::Ipv4Addr::new(10, 96, 0, 0));
    let size = 1u32 << (32 - 12);
    n > base && n < base + size - 1
}

/// Whether a Service of this spec has node ports: NodePort, and LoadBalancer unless
/// `allocateLoadBalancerNodePorts` is false.
pub(crate) fn needs_node_ports(svc: &Value) -> bool {
    match svc.pointer("/spec/type").and_then(Value::as_str) {
        Some("NodePort") => true,
        Some("LoadBalancer") => {
            svc.pointer("/spec/allocateLoadBalancerNodePorts")
                .and_then(Value::as_bool)
                != Some(false)
        }
        _ => false,
    }
}

/// The non-zero node ports in a Service's spec.
pub(crate) fn node_ports(svc: &Value) -> Vec<i64> {
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| p.get("nodePort").and_then(Value::as_i64))
                .filter(|n| *n != 0)
                .collect()
        })
        .unwrap_or_default()
}

/// The cluster IPs a Service's spec names (`clusterIPs`, else `clusterIP`), without
/// `None` (headless) and empty values.
fn cluster_ips(svc: &Value) -> Vec<String> {
    let listed: Vec<String> = svc
        .pointer("/spec/clusterIPs")
        .and_then(Value::as_array)
        .map(|ips| {
            ips.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let ips = if listed.is_empty() {
        svc.pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .map(|ip| vec![ip.to_string()])
            .unwrap_or_default()
    } else {
        listed
    };
    ips.into_iter()
        .filter(|ip| !ip.is_empty() && ip != "None")
        .collect()
}

/// The claim keys a stored Service holds: one per cluster IP, one per node port.
pub fn claims_of(svc: &Value) -> BTreeSet<String> {
    let mut claims: BTreeSet<String> = cluster_ips(svc)
        .iter()
        .map(|ip| cluster_ip_claim(ip))
        .collect();
    claims.extend(node_ports(svc).into_iter().map(node_port_claim));
    claims
}

/// A claim key as stored: the key of the object that holds it, and its revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub owner: Bytes,
    pub revision: Revision,
}

impl Held {
    pub fn of(kv: &KeyValue) -> Held {
        Held {
            owner: kv.value.clone(),
            revision: kv.mod_revision,
        }
    }

    fn is(&self, owner: &str) -> bool {
        self.owner == owner.as_bytes()
    }
}

/// The operations that move the Service stored at `owner` from holding `old` to holding
/// `new`, for the transaction that writes the Service. `held(k)` is claim `k` as read from
/// the store (before the transaction). A new claim is a put that requires the key absent
/// (another holder fails the transaction on it), or — when the key already names this
/// Service (left by older code) — a check that it still does. A claim given up is deleted
/// at the revision read, and only if it names this Service (one it never held is no one's
/// to free here).
pub fn claim_ops(
    owner: &str,
    old: &BTreeSet<String>,
    new: &BTreeSet<String>,
    held: impl Fn(&str) -> Option<Held>,
) -> Vec<Op> {
    let mut ops = Vec::new();
    for k in new.difference(old) {
        match held(k) {
            Some(h) if h.is(owner) => ops.push(Op::check_revision(k.clone(), h.revision)),
            _ => ops.push(Op::put(
                k.clone(),
                Bytes::copy_from_slice(owner.as_bytes()),
                Precondition::Absent,
            )),
        }
    }
    for k in old.difference(new) {
        if let Some(h) = held(k).filter(|h| h.is(owner)) {
            ops.push(Op::delete(k.clone(), Precondition::Revision(h.revision)));
        }
    }
    ops
}

/// Why an allocation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllocError {
    /// A requested value is out of range or taken: 422 with this cause.
    Invalid(FieldError),
    /// No free value found in [`RANDOM_TRIES`] picks: 500.
    Full(&'static str),
}

/// Chooses the cluster IP of a new Service and writes it into its spec: the requested one
/// (in [`SERVICE_CIDR`] and free, else 422), or a free one at random. `free(claim key)`
/// says whether a claim is free for this Service (absent, or already its own); the
/// transaction's precondition settles a race with a concurrent claim. Nothing for
/// ExternalName and headless (`None`) Services.
pub fn assign_cluster_ip(
    obj: &mut Value,
    rng: &mut impl Rng,
    free: impl Fn(&str) -> bool,
) -> Result<(), AllocError> {
    let ty = obj
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if ty == "ExternalName" {
        return Ok(());
    }
    let requested = obj
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if requested == "None" {
        obj["spec"]["clusterIPs"] = json!(["None"]);
        return Ok(());
    }
    let invalid = |message: String| {
        AllocError::Invalid(FieldError {
            field: "spec.clusterIPs".into(),
            reason: "FieldValueInvalid",
            message,
        })
    };
    let ip = if requested.is_empty() {
        let picked = (0..RANDOM_TRIES)
            .map(|_| {
                let n: u32 = rng.random_range(11..65_534);
                format!("10.96.{}.{}", n >> 8, n & 0xff)
            })
            .find(|ip| free(&cluster_ip_claim(ip)));
        picked.ok_or(AllocError::Full(
            "failed to allocate a service IP: range is full",
        ))?
    } else if !in_service_range(&requested) {
        return Err(invalid(format!(
            "Invalid value: [\"{requested}\"]: failed to allocate IP {requested}: the provided IP ({requested}) is not in the valid range. The range of valid IPs is {SERVICE_CIDR}"
        )));
    } else if !free(&cluster_ip_claim(&requested)) {
        return Err(invalid(format!(
            "Invalid value: [\"{requested}\"]: failed to allocate IP {requested}: provided IP is already allocated"
        )));
    } else {
        requested
    };
    obj["spec"]["clusterIP"] = json!(ip);
    obj["spec"]["clusterIPs"] = json!([ip]);
    Ok(())
}

/// Gives every port of a Service that needs a node port one: a requested one must be in
/// [`NODE_PORTS`] (else 422) and free (else 422, unless it is in `ours`, the ports the
/// Service held before); a missing one is picked at random among free ports not used by
/// the Service's other ports. A dry run checks the range only and assigns nothing.
pub fn assign_node_ports(
    obj: &mut Value,
    ours: &[i64],
    dry_run: bool,
    rng: &mut impl Rng,
    free: impl Fn(&str) -> bool,
) -> Result<(), AllocError> {
    if !needs_node_ports(obj) {
        return Ok(());
    }
    let count = obj
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let mut used: BTreeSet<i64> = node_ports(obj).into_iter().collect();
    for i in 0..count {
        let requested = obj
            .pointer(&format!("/spec/ports/{i}/nodePort"))
            .and_then(Value::as_i64)
            .filter(|n| *n != 0);
        let invalid = |message: String| {
            AllocError::Invalid(FieldError {
                field: format!("spec.ports[{i}].nodePort"),
                reason: "FieldValueInvalid",
                message,
            })
        };
        match requested {
            Some(n) if ours.contains(&n) => {}
            Some(n) if !NODE_PORTS.contains(&n) => {
                return Err(invalid(format!(
                    "Invalid value: {n}: provided port is not in the valid range. The range of valid ports is {}-{}",
                    NODE_PORTS.start(),
                    NODE_PORTS.end()
                )));
            }
            // A dry run checks the range but looks at no claim.
            _ if dry_run => {}
            Some(n) if !free(&node_port_claim(n)) => {
                return Err(invalid(format!(
                    "Invalid value: {n}: provided port is already allocated"
                )));
            }
            Some(_) => {}
            None => {
                let port = (0..RANDOM_TRIES)
                    .map(|_| rng.random_range(NODE_PORTS))
                    .find(|p| !used.contains(p) && free(&node_port_claim(*p)))
                    .ok_or(AllocError::Full(
                        "failed to allocate a node port: range is full",
                    ))?;
                used.insert(port);
                obj["spec"]["ports"][i]["nodePort"] = json!(port);
            }
        }
    }
    Ok(())
}

/// The transaction that frees `claim` if the object it names does not hold it: `owner` is
/// that object as stored (`None`: absent) with the claims it holds. The claim goes only
/// while both are as read — the owner still absent or at the revision read, the claim
/// at its revision — so a Service written meanwhile keeps what it holds. `None` when the
/// owner holds the claim.
pub fn release_orphan(
    claim: &KeyValue,
    owner: Option<(&KeyValue, &BTreeSet<String>)>,
) -> Option<Txn> {
    let owner_key = std::str::from_utf8(&claim.value).ok();
    let guard = match (owner_key, owner) {
        (Some(_), Some((_, holds))) if holds.contains(&claim.key) => return None,
        (Some(_), Some((kv, _))) => Some(Op::check_revision(kv.key.clone(), kv.mod_revision)),
        (Some(k), None) if !k.is_empty() => Some(Op::check(k, Precondition::Absent)),
        // Not a key: no owner to check.
        _ => None,
    };
    let release = Op::delete(
        claim.key.clone(),
        Precondition::Revision(claim.mod_revision),
    );
    Txn::new(guard.into_iter().chain([release]).collect()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn kv(key: &str, value: &str, rev: Revision) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Bytes::from(value.to_string()),
            create_revision: rev,
            mod_revision: rev,
        }
    }

    fn set(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn a_service_holds_its_ips_and_node_ports() {
        let svc = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.9",
            "clusterIPs": ["10.96.0.9"], "ports": [{"port": 80, "nodePort": 30080}, {"port": 81}]}});
        assert_eq!(
            claims_of(&svc),
            set(&["core/_clusterips/10.96.0.9", "core/_nodeports/30080"])
        );
        let headless = json!({"spec": {"clusterIP": "None", "clusterIPs": ["None"]}});
        assert!(claims_of(&headless).is_empty());
        let external = json!({"spec": {"type": "ExternalName", "externalName": "x.example"}});
        assert!(claims_of(&external).is_empty());
        // Written by older code: clusterIP without clusterIPs.
        assert_eq!(
            claims_of(&json!({"spec": {"clusterIP": "10.96.0.3"}})),
            set(&["core/_clusterips/10.96.0.3"])
        );
    }

    #[test]
    fn claim_ops_move_a_service_from_its_old_claims_to_its_new() {
        let me = "core/services/default/a";
        let held = |k: &str| match k {
            "core/_nodeports/30001" => Some(Held::of(&kv(k, me, 7))),
            // Left by older code for this Service, not in its old spec.
            "core/_nodeports/30002" => Some(Held::of(&kv(k, me, 8))),
            "core/_nodeports/30003" => Some(Held::of(&kv(k, "core/services/default/b", 9))),
            _ => None,
        };
        let old = set(&[
            "core/_nodeports/30001",
            "core/_nodeports/30003",
            "core/_x/kept",
        ]);
        let new = set(&[
            "core/_nodeports/30002",
            "core/_nodeports/30004",
            "core/_x/kept",
        ]);
        let ops = claim_ops(me, &old, &new, held);
        assert_eq!(
            ops,
            [
                Op::check_revision("core/_nodeports/30002", 8),
                Op::put(
                    "core/_nodeports/30004",
                    Bytes::from(me),
                    Precondition::Absent
                ),
                Op::delete("core/_nodeports/30001", Precondition::Revision(7)),
                // 30003 is b's: not freed by a.
            ]
        );
        // Create: everything new; delete: everything old.
        assert_eq!(claim_ops(me, &BTreeSet::new(), &old, |_| None).len(), 3);
        assert_eq!(claim_ops(me, &old, &BTreeSet::new(), held).len(), 1);
    }

    #[test]
    fn cluster_ips_are_requested_or_picked_free() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut svc = json!({"spec": {"clusterIP": "10.96.1.1", "ports": [{"port": 80}]}});
        assert_eq!(assign_cluster_ip(&mut svc, &mut rng, |_| true), Ok(()));
        assert_eq!(svc["spec"]["clusterIPs"], json!(["10.96.1.1"]));
        let taken = assign_cluster_ip(&mut svc, &mut rng, |_| false);
        let Err(AllocError::Invalid(e)) = taken else {
            panic!("{taken:?}")
        };
        assert!(e.message.ends_with("provided IP is already allocated"));
        let mut out = json!({"spec": {"clusterIP": "192.168.0.1"}});
        assert!(matches!(
            assign_cluster_ip(&mut out, &mut rng, |_| true),
            Err(AllocError::Invalid(e)) if e.message.contains("not in the valid range")
        ));
        // Random: only a free one (here the first two offered are taken); none free is a
        // full range.
        let offered = std::cell::RefCell::new(Vec::new());
        let mut any = json!({"spec": {}});
        let free = |k: &str| {
            offered.borrow_mut().push(k.to_string());
            offered.borrow().len() > 2
        };
        assert_eq!(assign_cluster_ip(&mut any, &mut rng, free), Ok(()));
        let ip = any["spec"]["clusterIP"].as_str().unwrap_or_default();
        assert!(in_service_range(ip), "{ip}");
        assert_eq!(offered.borrow().len(), 3);
        assert_eq!(offered.borrow()[2], cluster_ip_claim(ip));
        assert!(matches!(
            assign_cluster_ip(&mut json!({"spec": {}}), &mut rng, |_| false),
            Err(AllocError::Full(_))
        ));
        let mut headless = json!({"spec": {"clusterIP": "None"}});
        assert_eq!(
            assign_cluster_ip(&mut headless, &mut rng, |_| false),
            Ok(())
        );
        assert!(claims_of(&headless).is_empty());
    }

    #[test]
    fn node_ports_are_requested_or_picked_free_and_distinct() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let mut svc = json!({"spec": {"type": "NodePort", "ports": [
            {"port": 80}, {"port": 81, "nodePort": 30500}, {"port": 82}]}});
        assert_eq!(
            assign_node_ports(&mut svc, &[], false, &mut rng, |_| true),
            Ok(())
        );
        let ports = node_ports(&svc);
        assert_eq!(ports.len(), 3);
        assert_eq!(ports[1], 30500);
        assert_ne!(ports[0], ports[2]);
        // Taken, unless it was ours; out of range even in a dry run.
        let mut taken =
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30500}]}});
        assert!(matches!(
            assign_node_ports(&mut taken.clone(), &[], false, &mut rng, |_| false),
            Err(AllocError::Invalid(e)) if e.field == "spec.ports[0].nodePort" && e.message.ends_with("already allocated")
        ));
        assert_eq!(
            assign_node_ports(&mut taken, &[30500], false, &mut rng, |_| false),
            Ok(())
        );
        let mut low =
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}});
        assert!(matches!(
            assign_node_ports(&mut low, &[], true, &mut rng, |_| true),
            Err(AllocError::Invalid(e)) if e.message.contains("not in the valid range")
        ));
        let mut dry = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}});
        assert_eq!(
            assign_node_ports(&mut dry, &[], true, &mut rng, |_| false),
            Ok(())
        );
        assert!(node_ports(&dry).is_empty());
    }

    #[test]
    fn an_orphan_is_released_only_while_its_owner_does_not_hold_it() {
        let claim = kv("core/_nodeports/30001", "core/services/default/a", 5);
        let svc = kv("core/services/default/a", "{}", 9);
        // The owner holds it: nothing to do.
        assert_eq!(
            release_orphan(&claim, Some((&svc, &set(&["core/_nodeports/30001"])))),
            None
        );
        // The owner exists but does not hold it: freed while the owner stays at 9.
        let txn = release_orphan(&claim, Some((&svc, &BTreeSet::new()))).expect("txn");
        assert_eq!(
            txn.ops(),
            [
                Op::check_revision("core/services/default/a", 9),
                Op::delete("core/_nodeports/30001", Precondition::Revision(5)),
            ]
        );
        // No owner: freed while it stays absent.
        let txn = release_orphan(&claim, None).expect("txn");
        assert_eq!(
            txn.ops()[0],
            Op::check("core/services/default/a", Precondition::Absent)
        );
    }
}
