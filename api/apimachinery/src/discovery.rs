//! Discovery documents: the JSON bodies of `/api`, `/apis`, `/apis/<group>`, the per
//! group-version `APIResourceList`s and aggregated discovery (`apidiscovery.k8s.io/v2`).

use serde_json::{Map, Value, json};

use crate::resources::{RESOURCES, ResourceInfo, group_versions};

/// `apiVersion` of aggregated discovery served to kubectl >= 1.30.
pub const AGGREGATED_V2: &str = "apidiscovery.k8s.io/v2";
/// `apiVersion` of the beta aggregated discovery format (same shape as v2).
pub const AGGREGATED_V2BETA1: &str = "apidiscovery.k8s.io/v2beta1";

/// Verbs of a `/status` or `/scale` subresource.
const SUB_VERBS: &[&str] = &["get", "patch", "update"];
/// Verbs of the streaming pod subresources `exec`, `attach` and `portforward`.
const STREAM_VERBS: &[&str] = &["create", "get"];

/// One subresource as discovery lists it.
struct Subresource {
    name: &'static str,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    verbs: &'static [&'static str],
}

/// The subresources of a resource, sorted by name as the Kubernetes apiserver lists them.
fn subresources(r: &ResourceInfo) -> Vec<Subresource> {
    let own = |name, kind, verbs| Subresource {
        name,
        group: r.group,
        version: r.version,
        kind,
        verbs,
    };
    let mut out = Vec::new();
    if r.status {
        out.push(own("status", r.kind, SUB_VERBS));
    }
    if r.scale {
        out.push(Subresource {
            name: "scale",
            group: "autoscaling",
            version: "v1",
            kind: "Scale",
            verbs: SUB_VERBS,
        });
    }
    if r.group.is_empty() && r.plural == "pods" {
        out.push(own("log", "Pod", &["get"]));
        out.push(own("exec", "PodExecOptions", STREAM_VERBS));
        out.push(own("attach", "PodAttachOptions", STREAM_VERBS));
        out.push(own("portforward", "PodPortForwardOptions", STREAM_VERBS));
    }
    out.sort_by_key(|s| s.name);
    out
}

fn strings(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| Value::from(*s)).collect())
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// The resources served in one group-version, in registry order.
fn resources_of(group: &str, version: &str) -> impl Iterator<Item = &'static ResourceInfo> {
    RESOURCES
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

/// Opaque hash of the storage version, shared by every served version of a resource
/// (8 bytes of FNV-1a, base64 like the apiserver's).
fn storage_version_hash(r: &ResourceInfo) -> String {
    let digest = crate::openapi::fnv1a64(r.storage_prefix().as_bytes());
    base64(&digest.to_be_bytes())
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `GET /api`: the `APIVersions` of the core group.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "apiVersion": "v1",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    })
}

fn group_body(group: &str, versions: &[&str]) -> Value {
    let entries: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": group_version(group, v), "version": v}))
        .collect();
    let preferred = entries.first().cloned().unwrap_or(Value::Null);
    json!({
        "name": group,
        "versions": entries,
        "preferredVersion": preferred,
    })
}

/// `GET /apis`: the `APIGroupList` of every named group, preferred version first.
pub fn api_group_list() -> Value {
    let groups: Vec<Value> = group_versions()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, versions)| group_body(g, &versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/<group>`: the `APIGroup`, or `None` when the group is not served.
pub fn api_group(group: &str) -> Option<Value> {
    if group.is_empty() {
        return None;
    }
    let (name, versions) = group_versions().into_iter().find(|(g, _)| *g == group)?;
    let mut body = Map::new();
    body.insert("kind".into(), "APIGroup".into());
    body.insert("apiVersion".into(), "v1".into());
    if let Value::Object(rest) = group_body(name, &versions) {
        body.extend(rest);
    }
    Some(Value::Object(body))
}

/// `GET /api/v1` or `GET /apis/<group>/<version>`: the `APIResourceList`, or `None` when the
/// group-version is not served.
pub fn api_resource_list(group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for r in resources_of(group, version) {
        let mut main = Map::new();
        main.insert("name".into(), r.plural.into());
        main.insert("singularName".into(), r.singular.into());
        main.insert("namespaced".into(), r.namespaced.into());
        main.insert("kind".into(), r.kind.into());
        main.insert("verbs".into(), strings(r.verbs()));
        if !r.short_names.is_empty() {
            main.insert("shortNames".into(), strings(r.short_names));
        }
        if !r.categories.is_empty() {
            main.insert("categories".into(), strings(r.categories));
        }
        // Reviews are never stored: Kubernetes lists no storage version hash for them.
        if !r.review {
            main.insert("storageVersionHash".into(), storage_version_hash(r).into());
        }
        resources.push(Value::Object(main));
        for s in subresources(r) {
            let mut sub = Map::new();
            sub.insert("name".into(), format!("{}/{}", r.plural, s.name).into());
            sub.insert("singularName".into(), "".into());
            sub.insert("namespaced".into(), r.namespaced.into());
            if s.group != r.group || s.version != r.version {
                sub.insert("group".into(), s.group.into());
                sub.insert("version".into(), s.version.into());
            }
            sub.insert("kind".into(), s.kind.into());
            sub.insert("verbs".into(), strings(s.verbs));
            resources.push(Value::Object(sub));
        }
    }
    if resources.is_empty() {
        return None;
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version(group, version),
        "resources": resources,
    }))
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "version": version, "kind": kind})
}

fn resource_discovery(r: &ResourceInfo) -> Value {
    let subs: Vec<Value> = subresources(r)
        .into_iter()
        .map(|s| {
            json!({
                "subresource": s.name,
                "responseKind": gvk(s.group, s.version, s.kind),
                "verbs": strings(s.verbs),
            })
        })
        .collect();
    let mut out = Map::new();
    out.insert("resource".into(), r.plural.into());
    out.insert("responseKind".into(), gvk(r.group, r.version, r.kind));
    out.insert(
        "scope".into(),
        if r.namespaced {
            "Namespaced"
        } else {
            "Cluster"
        }
        .into(),
    );
    out.insert("singularResource".into(), r.singular.into());
    out.insert("verbs".into(), strings(r.verbs()));
    if !r.short_names.is_empty() {
        out.insert("shortNames".into(), strings(r.short_names));
    }
    if !r.categories.is_empty() {
        out.insert("categories".into(), strings(r.categories));
    }
    if !subs.is_empty() {
        out.insert("subresources".into(), Value::Array(subs));
    }
    Value::Object(out)
}

/// Aggregated discovery (`APIGroupDiscoveryList`): for `/api` when `core`, else for `/apis`.
/// `api_version` is [`AGGREGATED_V2`] or [`AGGREGATED_V2BETA1`]; both share one shape.
pub fn aggregated_discovery(core: bool, api_version: &str) -> Value {
    let items: Vec<Value> = group_versions()
        .into_iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(group, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> =
                        resources_of(group, v).map(resource_discovery).collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            let metadata = if group.is_empty() {
                json!({"creationTimestamp": null})
            } else {
                json!({"name": group, "creationTimestamp": null})
            };
            json!({"metadata": metadata, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": api_version,
        "metadata": {},
        "items": items,
    })
}

/// The `Content-Type` of an aggregated discovery response of the given `apiVersion`
/// (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`).
pub fn aggregated_content_type(api_version: &str) -> String {
    let (group, version) = crate::resources::split_api_version(api_version);
    format!("application/json;g={group};v={version};as=APIGroupDiscoveryList")
}

/// Picks the aggregated discovery format an `Accept` header asks for: the first JSON media
/// range (by preference, `q` respected) naming `as=APIGroupDiscoveryList` in
/// `apidiscovery.k8s.io` v2 or v2beta1. `None` means: serve legacy discovery.
pub fn negotiate_aggregated(accept: &str) -> Option<&'static str> {
    let mut best: Option<(f32, &'static str)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        if !media.eq_ignore_ascii_case("application/json") {
            continue;
        }
        let (mut g, mut v, mut as_, mut q) = ("", "", "", 1.0f32);
        for param in parts {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            match key.trim() {
                "g" => g = value.trim(),
                "v" => v = value.trim(),
                "as" => as_ = value.trim(),
                "q" => q = value.trim().parse().unwrap_or(0.0),
                _ => {}
            }
        }
        if g != "apidiscovery.k8s.io" || as_ != "APIGroupDiscoveryList" || q <= 0.0 {
            continue;
        }
        let found = match v {
            "v2" => AGGREGATED_V2,
            "v2beta1" => AGGREGATED_V2BETA1,
            _ => continue,
        };
        if best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, found));
        }
    }
    best.map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        APIGroup, APIGroupList, APIResourceList, APIVersions,
    };

    #[test]
    fn core_versions_parse() {
        let v: APIVersions = serde_json::from_value(core_versions("10.0.0.1:6443")).unwrap();
        assert_eq!(v.versions, vec!["v1".to_string()]);
        assert_eq!(
            v.server_address_by_client_cidrs[0].server_address,
            "10.0.0.1:6443"
        );
    }

    #[test]
    fn group_list_parses_and_prefers_autoscaling_v2() {
        let list: APIGroupList = serde_json::from_value(api_group_list()).unwrap();
        assert!(list.groups.iter().all(|g| !g.name.is_empty()));
        let auto = list
            .groups
            .iter()
            .find(|g| g.name == "autoscaling")
            .unwrap();
        assert_eq!(auto.preferred_version.as_ref().unwrap().version, "v2");
        assert_eq!(auto.versions.len(), 2);
        assert_eq!(auto.versions[0].group_version, "autoscaling/v2");
        assert!(list.groups.iter().any(|g| g.name == "apps"));
    }

    #[test]
    fn single_group() {
        let g: APIGroup = serde_json::from_value(api_group("apps").unwrap()).unwrap();
        assert_eq!(g.preferred_version.unwrap().group_version, "apps/v1");
        assert!(api_group("").is_none());
        assert!(api_group("nope").is_none());
    }

    #[test]
    fn resource_lists_parse() {
        for (group, versions) in group_versions() {
            for v in versions {
                let list: APIResourceList =
                    serde_json::from_value(api_resource_list(group, v).unwrap()).unwrap();
                assert_eq!(list.group_version, group_version(group, v));
            }
        }
        assert!(api_resource_list("apps", "v2").is_none());
    }

    #[test]
    fn apps_subresources() {
        let list: APIResourceList =
            serde_json::from_value(api_resource_list("apps", "v1").unwrap()).unwrap();
        let find = |n: &str| list.resources.iter().find(|r| r.name == n).unwrap();
        let d = find("deployments");
        assert_eq!(d.kind, "Deployment");
        assert_eq!(d.short_names.as_deref(), Some(&["deploy".to_string()][..]));
        assert_eq!(d.categories.as_deref(), Some(&["all".to_string()][..]));
        assert!(d.storage_version_hash.as_ref().unwrap().len() == 12);
        let scale = find("deployments/scale");
        assert_eq!(scale.kind, "Scale");
        assert_eq!(scale.group.as_deref(), Some("autoscaling"));
        assert_eq!(scale.version.as_deref(), Some("v1"));
        assert_eq!(scale.verbs, vec!["get", "patch", "update"]);
        assert_eq!(find("deployments/status").kind, "Deployment");
        assert!(
            !list
                .resources
                .iter()
                .any(|r| r.name == "controllerrevisions/status")
        );
    }

    #[test]
    fn pod_subresources() {
        let list: APIResourceList =
            serde_json::from_value(api_resource_list("", "v1").unwrap()).unwrap();
        let names: Vec<&str> = list.resources.iter().map(|r| r.name.as_str()).collect();
        for n in [
            "pods",
            "pods/status",
            "pods/log",
            "pods/exec",
            "pods/attach",
            "pods/portforward",
            "namespaces/status",
        ] {
            assert!(names.contains(&n), "{n}");
        }
        let exec = list
            .resources
            .iter()
            .find(|r| r.name == "pods/exec")
            .unwrap();
        assert_eq!(exec.kind, "PodExecOptions");
        assert!(exec.namespaced);
        let ns = list
            .resources
            .iter()
            .find(|r| r.name == "namespaces")
            .unwrap();
        assert!(!ns.namespaced);
    }

    #[test]
    fn storage_hash_shared_across_versions() {
        let hash = |v: &str| {
            let list: APIResourceList =
                serde_json::from_value(api_resource_list("autoscaling", v).unwrap()).unwrap();
            list.resources[0].storage_version_hash.clone().unwrap()
        };
        assert_eq!(hash("v1"), hash("v2"));
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"fooba"), "Zm9vYmE=");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
    }

    #[test]
    fn aggregated_core() {
        let doc = aggregated_discovery(true, AGGREGATED_V2);
        assert_eq!(doc["kind"], "APIGroupDiscoveryList");
        assert_eq!(doc["apiVersion"], "apidiscovery.k8s.io/v2");
        let items = doc["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert!(items[0]["metadata"].get("name").is_none());
        let v1 = &items[0]["versions"][0];
        assert_eq!(v1["version"], "v1");
        assert_eq!(v1["freshness"], "Current");
        let pods = v1["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "pods")
            .unwrap();
        assert_eq!(pods["scope"], "Namespaced");
        assert_eq!(pods["singularResource"], "pod");
        assert_eq!(
            pods["responseKind"],
            json!({"group": "", "version": "v1", "kind": "Pod"})
        );
        assert!(
            pods["subresources"].as_array().unwrap().iter().any(
                |s| s["subresource"] == "exec" && s["responseKind"]["kind"] == "PodExecOptions"
            )
        );
    }

    #[test]
    fn aggregated_groups() {
        let doc = aggregated_discovery(false, AGGREGATED_V2BETA1);
        assert_eq!(doc["apiVersion"], "apidiscovery.k8s.io/v2beta1");
        let items = doc["items"].as_array().unwrap();
        assert!(items.iter().all(|i| i["metadata"]["name"] != ""));
        let auto = items
            .iter()
            .find(|i| i["metadata"]["name"] == "autoscaling")
            .unwrap();
        assert_eq!(auto["versions"][0]["version"], "v2");
        assert_eq!(auto["versions"][1]["version"], "v1");
        let apps = items
            .iter()
            .find(|i| i["metadata"]["name"] == "apps")
            .unwrap();
        let deploy = &apps["versions"][0]["resources"][0];
        assert_eq!(deploy["resource"], "deployments");
        let scale = deploy["subresources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["subresource"] == "scale")
            .unwrap();
        assert_eq!(
            scale["responseKind"],
            json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
        );
        let crb = items
            .iter()
            .find(|i| i["metadata"]["name"] == "rbac.authorization.k8s.io")
            .unwrap()["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "clusterrolebindings")
            .unwrap()
            .clone();
        assert_eq!(crb["scope"], "Cluster");
    }

    #[test]
    fn reviews_are_create_only() {
        let list: APIResourceList =
            serde_json::from_value(api_resource_list("authorization.k8s.io", "v1").unwrap())
                .unwrap();
        let names: Vec<&str> = list.resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]
        );
        for r in &list.resources {
            assert_eq!(r.verbs, ["create"], "{}", r.name);
            assert!(!r.namespaced && r.storage_version_hash.is_none());
        }
        let doc = aggregated_discovery(false, AGGREGATED_V2);
        let authn = doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["metadata"]["name"] == "authentication.k8s.io")
            .unwrap();
        let ssr = &authn["versions"][0]["resources"][0];
        assert_eq!(ssr["resource"], "selfsubjectreviews");
        assert_eq!(ssr["verbs"], json!(["create"]));
        assert_eq!(ssr["scope"], "Cluster");
        assert!(ssr.get("subresources").is_none());
    }

    #[test]
    fn content_negotiation() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(negotiate_aggregated(kubectl), Some(AGGREGATED_V2));
        assert_eq!(
            negotiate_aggregated(
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            ),
            Some(AGGREGATED_V2BETA1)
        );
        assert_eq!(
            negotiate_aggregated(
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0.5, application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            ),
            Some(AGGREGATED_V2BETA1)
        );
        assert_eq!(negotiate_aggregated("application/json, */*"), None);
        assert_eq!(
            aggregated_content_type(AGGREGATED_V2),
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        );
    }
}
