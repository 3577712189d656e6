//! The reflector's index: what the controllers need to find their work, kept from the
//! watcher's lists and events. It holds no objects — only keys and uids, and only for the
//! objects that are being deleted, that name an owner, or that are namespaces — so its size
//! follows those objects, not the store. Pure: the shell feeds it what the watcher read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use kumo_apimachinery::resources::{self, ResourceInfo};
use kumo_raft_store::Revision;
use serde::Deserialize;

/// A stored object's identity, from its key (`apps/deployments/ns/name`, `core/namespaces/ns`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub res: &'static ResourceInfo,
    pub namespace: Option<String>,
    pub name: String,
}

/// The object a store key holds, or `None` for keys that hold none (allocation claims such
/// as `core/_clusterips/…`, anything unknown).
pub fn object_ref(key: &str) -> Option<ObjectRef> {
    static PREFIXES: OnceLock<HashMap<String, &'static ResourceInfo>> = OnceLock::new();
    let map = PREFIXES.get_or_init(|| {
        let mut m = HashMap::new();
        for r in resources::stored() {
            // The first registered version of a prefix is its storage version.
            m.entry(r.storage_prefix()).or_insert(r);
        }
        m
    });
    let mut parts = key.splitn(3, '/');
    let (group, plural, rest) = (parts.next()?, parts.next()?, parts.next()?);
    let res = *map.get(&format!("{group}/{plural}"))?;
    let (namespace, name) = match rest.split_once('/') {
        Some((ns, name)) if res.namespaced => (Some(ns.to_string()), name.to_string()),
        None if !res.namespaced => (None, rest.to_string()),
        _ => return None,
    };
    if name.is_empty() {
        return None;
    }
    Some(ObjectRef {
        res,
        namespace,
        name,
    })
}

/// The metadata the index keeps, read from a stored value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    pub uid: String,
    pub deleting: bool,
    pub finalizers: Vec<String>,
    /// uids of the owners in `ownerReferences`.
    pub owners: Vec<String>,
}

#[derive(Deserialize)]
struct Stored {
    #[serde(default)]
    metadata: StoredMeta,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredMeta {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    deletion_timestamp: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    finalizers: Option<Vec<String>>,
    #[serde(default)]
    owner_references: Option<Vec<OwnerRef>>,
}

#[derive(Deserialize)]
struct OwnerRef {
    #[serde(default)]
    uid: String,
}

/// Parses what the index needs. Most values name neither a deletion nor an owner: those are
/// recognised by a substring search (SIMD) and not parsed, since this runs on every change.
pub fn meta(value: &[u8]) -> Meta {
    let has = |needle: &[u8]| memchr::memmem::find(value, needle).is_some();
    if !has(b"\"deletionTimestamp\"") && !has(b"\"ownerReferences\"") {
        return Meta::default();
    }
    let Ok(s) = serde_json::from_slice::<Stored>(value) else {
        return Meta::default();
    };
    let m = s.metadata;
    Meta {
        uid: m.uid,
        deleting: m.deletion_timestamp.is_some(),
        finalizers: m.finalizers.unwrap_or_default(),
        owners: m
            .owner_references
            .unwrap_or_default()
            .into_iter()
            .map(|o| o.uid)
            .filter(|u| !u.is_empty())
            .collect(),
    }
}

/// An object being deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleting {
    pub uid: String,
    pub finalizers: Vec<String>,
}

/// One change as the controllers' triggers see it, after the index took it in.
#[derive(Debug)]
pub struct Change<'a> {
    pub key: &'a str,
    pub object: Option<&'a ObjectRef>,
    pub deleted: bool,
    /// Owners the object named before or after the change (a dependent that went away or
    /// let go of its owner concerns the owner).
    pub owners: &'a [String],
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Index {
    revision: Revision,
    deleting: BTreeMap<String, Deleting>,
    /// uid → key, for the objects in `deleting`.
    deleting_uids: HashMap<String, String>,
    /// Owner uid → keys of the objects naming it in `ownerReferences`.
    dependents: HashMap<String, BTreeSet<String>>,
    /// Key → owner uids: the reverse of `dependents`, to undo an object's entries.
    owners: HashMap<String, Vec<String>>,
    namespaces: BTreeSet<String>,
}

impl Index {
    /// The revision the index reflects.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    pub fn set_revision(&mut self, rev: Revision) {
        self.revision = self.revision.max(rev);
    }

    /// Takes in a stored value of `key`. Returns the owners it named before.
    pub fn put(&mut self, key: &str, object: Option<&ObjectRef>, meta: &Meta) -> Vec<String> {
        let prev = self.remove(key);
        let Some(obj) = object else {
            return prev;
        };
        if obj.res.kind == "Namespace" {
            self.namespaces.insert(obj.name.clone());
        }
        if meta.deleting {
            if !meta.uid.is_empty() {
                self.deleting_uids.insert(meta.uid.clone(), key.to_string());
            }
            self.deleting.insert(
                key.to_string(),
                Deleting {
                    uid: meta.uid.clone(),
                    finalizers: meta.finalizers.clone(),
                },
            );
        }
        if !meta.owners.is_empty() {
            for o in &meta.owners {
                self.dependents
                    .entry(o.clone())
                    .or_default()
                    .insert(key.to_string());
            }
            self.owners.insert(key.to_string(), meta.owners.clone());
        }
        prev
    }

    /// `key` was deleted. Returns the owners it named.
    pub fn remove(&mut self, key: &str) -> Vec<String> {
        if let Some(d) = self.deleting.remove(key)
            && self.deleting_uids.get(&d.uid).map(String::as_str) == Some(key)
        {
            self.deleting_uids.remove(&d.uid);
        }
        if let Some(ns) = key.strip_prefix("core/namespaces/") {
            self.namespaces.remove(ns);
        }
        let prev = self.owners.remove(key).unwrap_or_default();
        for o in &prev {
            if let Some(set) = self.dependents.get_mut(o) {
                set.remove(key);
                if set.is_empty() {
                    self.dependents.remove(o);
                }
            }
        }
        prev
    }

    pub fn deleting(&self, key: &str) -> Option<&Deleting> {
        self.deleting.get(key)
    }

    /// The key of the object with `uid`, if it is being deleted.
    pub fn deleting_uid(&self, uid: &str) -> Option<&str> {
        self.deleting_uids.get(uid).map(String::as_str)
    }

    /// Objects being deleted, in key order after `after`.
    pub fn deleting_after<'a>(
        &'a self,
        after: Option<&str>,
    ) -> impl Iterator<Item = (&'a String, &'a Deleting)> + 'a {
        use std::ops::Bound;
        let lower = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_string()));
        self.deleting.range((lower, Bound::Unbounded))
    }

    /// Keys of the objects that name `uid` as an owner, in key order.
    pub fn dependents(&self, uid: &str) -> impl Iterator<Item = &String> {
        self.dependents.get(uid).into_iter().flatten()
    }

    pub fn dependent_count(&self, uid: &str) -> usize {
        self.dependents.get(uid).map_or(0, BTreeSet::len)
    }

    pub fn has_namespace(&self, ns: &str) -> bool {
        self.namespaces.contains(ns)
    }

    /// Namespaces in name order after `after`.
    pub fn namespaces_after<'a>(&'a self, after: Option<&str>) -> impl Iterator<Item = &'a String> {
        use std::ops::Bound;
        let lower = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_string()));
        self.namespaces
            .range::<String, _>((lower, Bound::Unbounded))
    }

    /// Entries held, for tests and metrics: (deleting, owner links, namespaces).
    pub fn sizes(&self) -> (usize, usize, usize) {
        (
            self.deleting.len(),
            self.owners.len(),
            self.namespaces.len(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(ix: &mut Index, key: &str, json: &str) -> Vec<String> {
        ix.put(key, object_ref(key).as_ref(), &meta(json.as_bytes()))
    }

    #[test]
    fn keys_name_objects_or_nothing() {
        let r = object_ref("apps/deployments/shop/web").unwrap();
        assert_eq!(r.res.kind, "Deployment");
        assert_eq!(r.namespace.as_deref(), Some("shop"));
        assert_eq!(r.name, "web");
        let n = object_ref("core/namespaces/shop").unwrap();
        assert_eq!(
            (n.res.kind, n.namespace, n.name.as_str()),
            ("Namespace", None, "shop")
        );
        assert_eq!(object_ref("core/_clusterips/10.96.0.1"), None);
        assert_eq!(object_ref("core/pods/only-a-namespace"), None);
        assert_eq!(object_ref("core/namespaces/a/b"), None);
        assert_eq!(object_ref("nonsense"), None);
    }

    #[test]
    fn meta_skips_plain_values_and_reads_the_rest() {
        assert_eq!(meta(br#"{"metadata":{"uid":"u"}}"#), Meta::default());
        let m = meta(
            br#"{"metadata":{"uid":"u","deletionTimestamp":"t","finalizers":["orphan"],
                 "ownerReferences":[{"uid":"o1"},{"uid":"o2"}]}}"#,
        );
        assert_eq!(m.uid, "u");
        assert!(m.deleting);
        assert_eq!(m.finalizers, ["orphan"]);
        assert_eq!(m.owners, ["o1", "o2"]);
        // A value that only mentions the words elsewhere is not taken for a deletion.
        let m = meta(br#"{"metadata":{"annotations":{"deletionTimestamp":"x"}}}"#);
        assert!(!m.deleting);
        assert_eq!(meta(b"not json \"ownerReferences\""), Meta::default());
    }

    #[test]
    fn follows_deletions_owners_and_namespaces() {
        let mut ix = Index::default();
        put(&mut ix, "core/namespaces/a", r#"{"metadata":{"uid":"ns"}}"#);
        assert!(ix.has_namespace("a"));
        put(
            &mut ix,
            "apps/replicasets/a/rs",
            r#"{"metadata":{"uid":"rs","ownerReferences":[{"uid":"d"}]}}"#,
        );
        put(
            &mut ix,
            "core/pods/a/p1",
            r#"{"metadata":{"uid":"p1","ownerReferences":[{"uid":"rs"}]}}"#,
        );
        put(
            &mut ix,
            "core/pods/a/p2",
            r#"{"metadata":{"uid":"p2","ownerReferences":[{"uid":"rs"}]}}"#,
        );
        assert_eq!(
            ix.dependents("rs").collect::<Vec<_>>(),
            ["core/pods/a/p1", "core/pods/a/p2"]
        );
        // The owner starts being deleted.
        put(
            &mut ix,
            "apps/replicasets/a/rs",
            r#"{"metadata":{"uid":"rs","deletionTimestamp":"t","finalizers":["foregroundDeletion"],"ownerReferences":[{"uid":"d"}]}}"#,
        );
        assert_eq!(ix.deleting_uid("rs"), Some("apps/replicasets/a/rs"));
        assert_eq!(
            ix.deleting("apps/replicasets/a/rs").unwrap().finalizers,
            ["foregroundDeletion"]
        );
        assert_eq!(ix.dependent_count("d"), 1);
        // A dependent lets go of its owner (orphaned), another is deleted.
        let before = put(&mut ix, "core/pods/a/p1", r#"{"metadata":{"uid":"p1"}}"#);
        assert_eq!(before, ["rs"]);
        assert_eq!(ix.remove("core/pods/a/p2"), ["rs"]);
        assert_eq!(ix.dependent_count("rs"), 0);
        // The owner is gone: nothing of it is left.
        ix.remove("apps/replicasets/a/rs");
        ix.remove("core/namespaces/a");
        ix.remove("core/pods/a/p1");
        assert_eq!(ix.sizes(), (0, 0, 0));
        assert_eq!(ix, Index::default());
    }
}
