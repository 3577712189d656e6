//! Strategic merge patch, the server half of k8s.io/apimachinery/pkg/util/strategicpatch:
//! applying a patch (as sent by `kubectl patch`, `kubectl apply` client-side and `kubectl
//! edit`) to an object, with the list semantics of [`crate::merge_keys::patch_list_type`].
//!
//! - Maps merge recursively; `null` deletes a key.
//! - Lists with a merge key merge item by item: a patch item whose key matches an original
//!   item merges into it, others are added. Scalar lists with `patchStrategy: merge` (sets)
//!   are unioned. All other lists are replaced.
//! - Order, as Kubernetes computes it without `$setElementOrder`: items already in the list
//!   keep their relative place, and items new to the list come before the remaining
//!   original-only items (so `kubectl patch` adding an env var puts it first). With
//!   `$setElementOrder/<field>` (which kubectl apply and edit always send) the items named
//!   there come in that order.
//! - Directives: `$patch: replace` on a map (use the map as is) or as a list element
//!   `{"$patch": "replace"}` (use the patch list as is); `$patch: delete` on a list item with
//!   its merge key (remove the matching items) or on a map (it becomes `{}`, as in Kubernetes);
//!   `$retainKeys: [..]` (drop the map's other keys, then merge);
//!   `$deleteFromPrimitiveList/<field>: [..]` (remove these scalars from the list);
//!   `$setElementOrder/<field>: [..]`.
//!
//! Values new to the object are stored without `null`s and directives. Unknown `$`-prefixed
//! keys are ignored.

use serde_json::{Map, Value};

use super::PatchError;
use crate::merge_keys::{ListType, patch_list_type};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

/// Applies the strategic merge `patch` to `original`, an object of `kind`.
///
/// `patch` must be a JSON object (else [`PatchError::BadRequest`] `invalid JSON document`);
/// a non-object `original` is treated as `{}`. Errors are classified as described on
/// [`PatchError`].
pub fn strategic_merge_patch(
    kind: &str,
    original: &Value,
    patch: &Value,
) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::BadRequest("invalid JSON document".to_string()));
    };
    let original = match original {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let mut merger = Merger {
        kind,
        path: Vec::new(),
    };
    Ok(Value::Object(merger.merge_map(original, patch.clone())?))
}

struct Merger<'k> {
    kind: &'k str,
    /// Field names from the root to the map being merged, skipping list items.
    path: Vec<String>,
}

impl Merger<'_> {
    fn list_type(&self, field: &str) -> ListType {
        let mut p: Vec<&str> = self.path.iter().map(String::as_str).collect();
        p.push(field);
        patch_list_type(self.kind, &p)
    }

    fn merge_map(
        &mut self,
        mut original: Map<String, Value>,
        mut patch: Map<String, Value>,
    ) -> Result<Map<String, Value>, PatchError> {
        if let Some(directive) = patch.shift_remove(DIRECTIVE) {
            return match directive.as_str() {
                Some("replace") => Ok(clean_map(patch)),
                Some("delete") => Ok(Map::new()),
                _ => Err(bad_patch_type(&directive, &patch)),
            };
        }
        apply_retain_keys(&mut original, &mut patch)?;
        self.merge_set_element_orders(&mut original, &mut patch)?;

        let mut deletions = Vec::new();
        for (k, pv) in patch {
            if k.starts_with('$') {
                if let Some(field) = directive_field(&k, DELETE_FROM_PRIMITIVE_LIST)? {
                    deletions.push((field.to_string(), pv));
                }
                // Other `$` keys: $setElementOrder was consumed above; unknown ones are ignored.
                continue;
            }
            if pv.is_null() {
                original.shift_remove(&k);
                continue;
            }
            let Some(slot) = original.get_mut(&k) else {
                if let Some(v) = clean(pv) {
                    original.insert(k, v);
                }
                continue;
            };
            let merged = match (std::mem::take(slot), pv) {
                (Value::Object(o), Value::Object(p)) => {
                    self.path.push(k.clone());
                    let r = self.merge_map(o, p);
                    self.path.pop();
                    Some(Value::Object(r?))
                }
                (Value::Array(o), Value::Array(p)) => {
                    let lt = self.list_type(&k);
                    self.path.push(k.clone());
                    let r = self.merge_list(lt, o, p);
                    self.path.pop();
                    Some(Value::Array(r?))
                }
                (_, p) => clean(p),
            };
            match merged {
                Some(v) => *slot = v,
                None => {
                    original.shift_remove(&k);
                }
            }
        }

        for (field, pv) in deletions {
            let Value::Array(to_delete) = pv else {
                return Err(bad_primitive_list());
            };
            if let Some(Value::Array(list)) = original.get_mut(&field) {
                list.retain(|x| !to_delete.iter().any(|d| scalar_eq(x, d)));
            }
        }
        Ok(original)
    }

    fn merge_list(
        &mut self,
        lt: ListType,
        original: Vec<Value>,
        patch: Vec<Value>,
    ) -> Result<Vec<Value>, PatchError> {
        match lt {
            ListType::Atomic => Ok(clean_list(patch)),
            ListType::Set => self.merge_slice(original, patch, None),
            ListType::Map(keys) => self.merge_slice(original, patch, keys.first().copied()),
        }
    }

    /// Kubernetes `mergeSlice` for a list with `patchStrategy: merge`.
    fn merge_slice(
        &mut self,
        original: Vec<Value>,
        patch: Vec<Value>,
        key: Option<&str>,
    ) -> Result<Vec<Value>, PatchError> {
        if original.is_empty() && patch.is_empty() {
            return Ok(original);
        }
        if !all_maps(&original, &patch)? {
            let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
            for v in original.iter().chain(patch.iter()) {
                if !merged.iter().any(|m| scalar_eq(m, v)) {
                    merged.push(v.clone());
                }
            }
            return reorder(merged, &patch, &original, None);
        }
        let Some(key) = key else {
            return Err(PatchError::Internal(
                "cannot merge lists without merge key for type map".to_string(),
            ));
        };

        // Special elements: `$patch: delete` items and `{"$patch": "replace"}`.
        let mut original = original;
        let mut plain = Vec::with_capacity(patch.len());
        let mut replace = false;
        for item in patch {
            let Value::Object(m) = item else {
                plain.push(item);
                continue;
            };
            let Some(directive) = m.get(DIRECTIVE) else {
                plain.push(Value::Object(m));
                continue;
            };
            match directive.as_str() {
                Some("delete") => {
                    let Some(kv) = m.get(key) else {
                        return Err(no_merge_key(&m, key));
                    };
                    original.retain(|o| !o.get(key).is_some_and(|ov| scalar_eq(ov, kv)));
                }
                Some("replace") => replace = true,
                Some("merge") => {
                    return Err(PatchError::Internal(
                        "merging lists cannot yet be specified in the patch".to_string(),
                    ));
                }
                _ => return Err(bad_patch_type(directive, &m)),
            }
        }
        let patch = if replace {
            original = clean_list(plain);
            Vec::new()
        } else {
            plain
        };

        // Merge items by key; items new to the list are added.
        let server_order = original.clone();
        let mut merged = original;
        for item in &patch {
            let Value::Object(pm) = item else {
                continue;
            };
            let Some(kv) = pm.get(key) else {
                return Err(no_merge_key(pm, key));
            };
            let found = merged
                .iter()
                .position(|o| o.get(key).is_some_and(|ov| scalar_eq(ov, kv)));
            match found {
                Some(i) => {
                    let Value::Object(om) = std::mem::take(&mut merged[i]) else {
                        continue;
                    };
                    merged[i] = Value::Object(self.merge_map(om, pm.clone())?);
                }
                None => {
                    if let Some(v) = clean(item.clone()) {
                        merged.push(v);
                    }
                }
            }
        }
        reorder(merged, &patch, &server_order, Some(key))
    }

    /// Kubernetes `mergePatchIntoOriginal`: merges each list named by a
    /// `$setElementOrder/<field>` directive and orders it as the directive says; the merged
    /// list fields are removed from `patch`.
    fn merge_set_element_orders(
        &mut self,
        original: &mut Map<String, Value>,
        patch: &mut Map<String, Value>,
    ) -> Result<(), PatchError> {
        let keys: Vec<String> = patch
            .keys()
            .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
            .cloned()
            .collect();
        for k in keys {
            let Some(order) = patch.shift_remove(&k) else {
                continue;
            };
            let Some(field) = directive_field(&k, SET_ELEMENT_ORDER)? else {
                continue;
            };
            let Value::Array(order) = order else {
                return Err(bad_set_element_order());
            };
            let lt = self.list_type(field);
            let key = lt.keys().first().copied();
            let original_list = match original.get(field) {
                None => None,
                Some(Value::Array(l)) => Some(l.clone()),
                Some(other) => return Err(bad_arg_type(other)),
            };
            let patch_list = match patch.get(field) {
                None => None,
                Some(Value::Array(l)) => Some(l.clone()),
                Some(other) => return Err(bad_arg_type(other)),
            };
            if let Some(p) = &patch_list {
                validate_set_order(p, &order, key)?;
            }
            let merged = match (&original_list, patch_list) {
                (Some(o), None) => o.clone(),
                (None, Some(p)) => clean_list(p),
                (Some(o), Some(p)) => {
                    self.path.push(field.to_string());
                    let r = self.merge_list(lt, o.clone(), p);
                    self.path.pop();
                    r?
                }
                (None, None) => continue,
            };
            let merged = if lt == ListType::Atomic {
                merged
            } else {
                let key = if all_maps(&merged, &order)? {
                    key
                } else {
                    None
                };
                reorder(
                    merged,
                    &order,
                    original_list.as_deref().unwrap_or_default(),
                    key,
                )?
            };
            original.insert(field.to_string(), Value::Array(merged));
            patch.shift_remove(field);
        }
        Ok(())
    }
}

/// `$prefix/field` -> `field`; `$prefix` without a field is a malformed patch.
fn directive_field<'a>(key: &'a str, prefix: &str) -> Result<Option<&'a str>, PatchError> {
    let Some(rest) = key.strip_prefix(prefix) else {
        return Ok(None);
    };
    match rest.strip_prefix('/') {
        Some(field) => Ok(Some(field)),
        None if prefix == SET_ELEMENT_ORDER => Err(bad_set_element_order()),
        None => Err(bad_primitive_list()),
    }
}

/// Kubernetes `applyRetainKeysDirective`.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(bad_retain_keys());
    };
    let retained = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !retained(k) {
            return Err(bad_retain_keys());
        }
    }
    original.retain(|k, _| retained(k));
    Ok(())
}

/// Kubernetes `validatePatchWithSetOrderList`: the patch items must appear in the
/// `$setElementOrder` list, in the same relative order.
fn validate_set_order(
    patch: &[Value],
    order: &[Value],
    key: Option<&str>,
) -> Result<(), PatchError> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let items: Vec<&Value> = patch
        .iter()
        .filter(|v| key.is_none() || !is_directive_item(v))
        .collect();
    let (mut pi, mut si) = (0, 0);
    while pi < items.len() && si < order.len() {
        if is_directive_item(items[pi]) {
            pi += 1;
            continue;
        }
        let equal = match key {
            None => scalar_eq(items[pi], &order[si]),
            Some(key) => scalar_eq(
                merge_key_of(items[pi], key)?,
                merge_key_of(&order[si], key)?,
            ),
        };
        if equal {
            pi += 1;
        }
        si += 1;
    }
    if pi < items.len() && si >= order.len() {
        return Err(PatchError::Internal(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            go_fmt(&Value::Array(patch.to_vec())),
            go_fmt(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}

fn is_directive_item(v: &Value) -> bool {
    v.as_object().is_some_and(|m| m.contains_key(DIRECTIVE))
}

fn merge_key_of<'v>(item: &'v Value, key: &str) -> Result<&'v Value, PatchError> {
    match item {
        Value::Object(m) => m.get(key).ok_or_else(|| no_merge_key(m, key)),
        other => Err(bad_arg_type(other)),
    }
}

/// Kubernetes `normalizeElementOrder` after partitioning: the items of `merged` named in
/// `order` come in `order`'s order, the others in `server_order`'s order, and the two runs
/// are interleaved by their places in `server_order` (items not in `server_order` go first).
fn reorder(
    merged: Vec<Value>,
    order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
) -> Result<Vec<Value>, PatchError> {
    let ident = |v: &Value| -> Result<Value, PatchError> {
        match key {
            Some(key) => merge_key_of(v, key).cloned(),
            None => Ok(v.clone()),
        }
    };
    let order_ids = order.iter().map(ident).collect::<Result<Vec<_>, _>>()?;
    let server_ids: Vec<Value> = server_order.iter().filter_map(|v| ident(v).ok()).collect();
    let index = |ids: &[Value], id: &Value| ids.iter().position(|x| scalar_eq(x, id));

    let mut in_order = Vec::new();
    let mut server_only = Vec::new();
    for item in merged {
        let id = ident(&item)?;
        match index(&order_ids, &id) {
            Some(i) => in_order.push((i, index(&server_ids, &id), item)),
            None => server_only.push((index(&server_ids, &id), item)),
        }
    }
    in_order.sort_by_key(|(i, _, _)| *i);
    server_only.sort_by_key(|(s, _)| s.unwrap_or(usize::MAX));

    let mut out = Vec::with_capacity(in_order.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = in_order.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((ls, _)), Some((_, rs, _))) => matches!((ls, rs), (Some(l), Some(r)) if l < r),
        };
        let next = if take_left {
            left.next().map(|(_, v)| v)
        } else {
            right.next().map(|(_, _, v)| v)
        };
        out.extend(next);
    }
    Ok(out)
}

/// Whether the elements of the lists are maps (`true`) or scalars (`false`); lists of lists
/// and mixed lists are errors.
fn all_maps(a: &[Value], b: &[Value]) -> Result<bool, PatchError> {
    let mut maps = None;
    for v in a.iter().chain(b.iter()) {
        let is_map = match v {
            Value::Array(_) => {
                return Err(PatchError::Invalid(
                    "lists of lists are not supported".to_string(),
                ));
            }
            Value::Object(_) => true,
            _ => false,
        };
        match maps {
            None => maps = Some(is_map),
            Some(m) if m != is_map => {
                return Err(PatchError::Internal(format!(
                    "list element types are not identical: [{} {}]",
                    go_fmt(&Value::Array(a.to_vec())),
                    go_fmt(&Value::Array(b.to_vec()))
                )));
            }
            Some(_) => {}
        }
    }
    Ok(maps.unwrap_or(false))
}

/// Equality of JSON scalars as Go compares decoded values (all numbers are float64).
fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// A patch value as stored: without `null` map values, without directive keys, without
/// list items carrying `$patch`; a map with `$patch: delete` is dropped (`None`), one with
/// `$patch: replace` is kept without the directive.
fn clean(v: Value) -> Option<Value> {
    match v {
        Value::Object(mut m) => {
            if let Some(d) = m.shift_remove(DIRECTIVE)
                && d.as_str() != Some("replace")
            {
                return None;
            }
            Some(Value::Object(clean_map(m)))
        }
        Value::Array(items) => Some(Value::Array(clean_list(items))),
        other => Some(other),
    }
}

fn clean_map(m: Map<String, Value>) -> Map<String, Value> {
    m.into_iter()
        .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
        .filter_map(|(k, v)| clean(v).map(|v| (k, v)))
        .collect()
}

fn clean_list(items: Vec<Value>) -> Vec<Value> {
    items
        .into_iter()
        .filter(|v| !is_directive_item(v))
        .filter_map(clean)
        .collect()
}

fn no_merge_key(m: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::Internal(format!(
        "map: {} does not contain declared merge key: {key}",
        go_fmt_map(m)
    ))
}

fn bad_patch_type(directive: &Value, m: &Map<String, Value>) -> PatchError {
    let mut with = m.clone();
    with.insert(DIRECTIVE.to_string(), directive.clone());
    PatchError::Internal(format!(
        "unknown patch type: {} in map: {}",
        go_fmt(directive),
        go_fmt_map(&with)
    ))
}

fn bad_arg_type(actual: &Value) -> PatchError {
    let t = match actual {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    };
    PatchError::Internal(format!("expected a []interface {{}}, but received a {t}"))
}

fn bad_retain_keys() -> PatchError {
    PatchError::BadRequest("invalid patch format of retainKeys".to_string())
}

fn bad_primitive_list() -> PatchError {
    PatchError::BadRequest("invalid patch format of primitive list".to_string())
}

fn bad_set_element_order() -> PatchError {
    PatchError::BadRequest("invalid patch format of setElementOrder list".to_string())
}

/// A value formatted as Go's `%v` formats the decoded `interface{}` (`map[k:v]` with sorted
/// keys), for error messages that match Kubernetes'.
fn go_fmt(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) => go_float(f),
            None => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_fmt).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(m) => go_fmt_map(m),
    }
}

fn go_fmt_map(m: &Map<String, Value>) -> String {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    let parts: Vec<String> = keys
        .into_iter()
        .map(|k| format!("{k}:{}", m.get(k).map(go_fmt).unwrap_or_default()))
        .collect();
    format!("map[{}]", parts.join(" "))
}

/// Go's `%v` of a float64: shortest representation, exponent form from 1e21 up and
/// below 1e-4 (`1e+21`, `1e-05`).
fn go_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) => {
                let (sign, digits) = match exp.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', exp),
                };
                format!("{mantissa}e{sign}{digits:0>2}")
            }
            None => s,
        }
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn smp(kind: &str, original: Value, patch: Value) -> Value {
        strategic_merge_patch(kind, &original, &patch).unwrap()
    }

    fn containers(obj: &Value) -> &Value {
        &obj["spec"]["template"]["spec"]["containers"]
    }

    fn deploy(containers: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {"spec": {"containers": containers}}
            }
        })
    }

    fn two_containers() -> Value {
        deploy(json!([
            {"name": "app", "image": "nginx:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
            {"name": "sidecar", "image": "envoy:1"}
        ]))
    }

    #[test]
    fn kubectl_patch_container_image() {
        let out = smp(
            "Deployment",
            two_containers(),
            json!({"spec":{"template":{"spec":{"containers":[{"name":"app","image":"nginx:2"}]}}}}),
        );
        assert_eq!(
            containers(&out),
            &json!([
                {"name": "app", "image": "nginx:2", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                {"name": "sidecar", "image": "envoy:1"}
            ])
        );
        // The rest of the object is untouched.
        assert_eq!(out["spec"]["replicas"], 2);
        assert_eq!(out["metadata"], two_containers()["metadata"]);
    }

    #[test]
    fn merge_keeps_field_order() {
        let out = smp(
            "Deployment",
            two_containers(),
            json!({"metadata":{"labels":{"z":"1"}},"spec":{"replicas":3}}),
        );
        let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["apiVersion", "kind", "metadata", "spec"]);
        let spec_keys: Vec<&String> = out["spec"].as_object().unwrap().keys().collect();
        assert_eq!(spec_keys, ["replicas", "strategy", "template"]);
        assert_eq!(out["metadata"]["labels"], json!({"app": "web", "z": "1"}));
    }

    #[test]
    fn env_merges_by_name() {
        let out = smp(
            "Deployment",
            two_containers(),
            json!({"spec":{"template":{"spec":{"containers":[{"name":"app","env":[
                {"name":"B","value":"two"},
                {"name":"C","value":"3"}
            ]}]}}}}),
        );
        // B is updated in place and keeps its place after A; C is new and follows the patch
        // order after B.
        assert_eq!(
            containers(&out)[0]["env"],
            json!([
                {"name": "A", "value": "1"},
                {"name": "B", "value": "two"},
                {"name": "C", "value": "3"}
            ])
        );
        // A new item alone goes first (Kubernetes' mergeSortedSlice).
        let out = smp(
            "Deployment",
            two_containers(),
            json!({"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"Z","value":"z"}]}]}}}}),
        );
        assert_eq!(
            containers(&out)[0]["env"],
            json!([
                {"name": "Z", "value": "z"},
                {"name": "A", "value": "1"},
                {"name": "B", "value": "2"}
            ])
        );
    }

    #[test]
    fn null_deletes_and_value_from() {
        let out = smp(
            "Deployment",
            two_containers(),
            json!({
                "metadata": {"labels": {"app": null, "missing": null}},
                "spec": {"template": {"spec": {"containers": [
                    {"name": "app", "env": [{"name": "A", "value": null, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}
                ]}}}
            }),
        );
        assert_eq!(out["metadata"]["labels"], json!({}));
        assert_eq!(
            containers(&out)[0]["env"][0],
            json!({"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
        );
    }

    #[test]
    fn delete_container_directive() {
        let out = smp(
            "Deployment",
            two_containers(),
            json!({"spec":{"template":{"spec":{"containers":[{"$patch":"delete","name":"sidecar"}]}}}}),
        );
        assert_eq!(containers(&out).as_array().unwrap().len(), 1);
        assert_eq!(containers(&out)[0]["name"], "app");

        // Deleting something absent is a no-op.
        let out = smp(
            "Deployment",
            two_containers(),
            json!({"spec":{"template":{"spec":{"containers":[{"$patch":"delete","name":"nope"}]}}}}),
        );
        assert_eq!(containers(&out), containers(&two_containers()));

        // Missing merge key on a delete item.
        let err = strategic_merge_patch(
            "Deployment",
            &two_containers(),
            &json!({"spec":{"template":{"spec":{"containers":[{"$patch":"delete","image":"x"}]}}}}),
        )
        .unwrap_err();
        assert_eq!(
            err,
            PatchError::Internal(
                "map: map[$patch:delete image:x] does not contain declared merge key: name".into()
            )
        );
    }

    #[test]
    fn missing_merge_key_is_an_error() {
        let err = strategic_merge_patch(
            "Deployment",
            &two_containers(),
            &json!({"spec":{"template":{"spec":{"containers":[{"image":"nginx","ports":[{"containerPort":80}]}]}}}}),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "map: map[image:nginx ports:[map[containerPort:80]]] does not contain declared merge key: name"
        );
        assert_eq!(err.status_code(), 500);
    }

    #[test]
    fn replace_list_directive() {
        let out = smp(
            "Deployment",
            two_containers(),
            json!({"spec":{"template":{"spec":{"containers":[
                {"name":"only","image":"busybox"},
                {"$patch":"replace"}
            ]}}}}),
        );
        assert_eq!(
            containers(&out),
            &json!([{"name": "only", "image": "busybox"}])
        );
    }

    #[test]
    fn replace_and_delete_map_directive() {
        let out = smp(
            "Deployment",
            two_containers(),
            json!({"spec":{"strategy":{"$patch":"replace","type":"Recreate"}}}),
        );
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
        let out = smp(
            "Deployment",
            two_containers(),
            json!({"metadata":{"labels":{"$patch":"delete"}}}),
        );
        assert_eq!(out["metadata"]["labels"], json!({}));
        // A new map carrying `$patch: delete` is not added; `replace` is added without it.
        let out = smp(
            "Deployment",
            two_containers(),
            json!({"metadata":{"annotations":{"$patch":"delete"}, "x": {"$patch": "replace", "a": 1}}}),
        );
        assert!(out["metadata"].get("annotations").is_none());
        assert_eq!(out["metadata"]["x"], json!({"a": 1}));
        let err = strategic_merge_patch(
            "Deployment",
            &two_containers(),
            &json!({"metadata":{"labels":{"$patch":"frob"}}}),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown patch type: frob in map: map[$patch:frob]"
        );
    }

    #[test]
    fn retain_keys_strategy_switch() {
        // kubectl apply switching RollingUpdate -> Recreate.
        let out = smp(
            "Deployment",
            two_containers(),
            json!({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}),
        );
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
        // Without $retainKeys, a plain merge keeps rollingUpdate.
        let out = smp(
            "Deployment",
            two_containers(),
            json!({"spec":{"strategy":{"type":"Recreate"}}}),
        );
        assert!(out["spec"]["strategy"].get("rollingUpdate").is_some());
        // Patch keys must be listed in $retainKeys (nulls excepted).
        let err = strategic_merge_patch(
            "Deployment",
            &two_containers(),
            &json!({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate","rollingUpdate":{"maxSurge":1}}}}),
        )
        .unwrap_err();
        assert_eq!(
            err,
            PatchError::BadRequest("invalid patch format of retainKeys".into())
        );
        let out = smp(
            "Deployment",
            two_containers(),
            json!({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate","rollingUpdate":null}}}),
        );
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
        let err = strategic_merge_patch(
            "Deployment",
            &two_containers(),
            &json!({"spec":{"strategy":{"$retainKeys":"type"}}}),
        )
        .unwrap_err();
        assert_eq!(err.status_code(), 400);
    }

    #[test]
    fn retain_keys_on_volume() {
        let pod = json!({"kind":"Pod","spec":{"volumes":[
            {"name":"data","emptyDir":{}},
            {"name":"cfg","configMap":{"name":"c"}}
        ]}});
        let out = smp(
            "Pod",
            pod,
            json!({"spec":{"volumes":[{"name":"data","$retainKeys":["name","hostPath"],"hostPath":{"path":"/d"}}]}}),
        );
        assert_eq!(
            out["spec"]["volumes"],
            json!([
                {"name": "data", "hostPath": {"path": "/d"}},
                {"name": "cfg", "configMap": {"name": "c"}}
            ])
        );
    }

    #[test]
    fn set_element_order() {
        // kubectl apply adding a container at the end, and reordering.
        let out = smp(
            "Deployment",
            two_containers(),
            json!({"spec":{"template":{"spec":{
                "$setElementOrder/containers":[{"name":"app"},{"name":"sidecar"},{"name":"new"}],
                "containers":[{"name":"new","image":"busybox"}]
            }}}}),
        );
        let names: Vec<&Value> = containers(&out)
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["name"])
            .collect();
        assert_eq!(names, ["app", "sidecar", "new"]);

        let out = smp(
            "Deployment",
            two_containers(),
            json!({"spec":{"template":{"spec":{
                "$setElementOrder/containers":[{"name":"sidecar"},{"name":"app"}],
                "containers":[{"name":"app","image":"nginx:3"}]
            }}}}),
        );
        assert_eq!(containers(&out)[0]["name"], "sidecar");
        assert_eq!(containers(&out)[1]["image"], "nginx:3");
        assert_eq!(containers(&out)[1]["env"][1]["name"], "B");

        // Order only, no list in the patch.
        let out = smp(
            "Deployment",
            two_containers(),
            json!({"spec":{"template":{"spec":{
                "$setElementOrder/containers":[{"name":"sidecar"},{"name":"app"}]
            }}}}),
        );
        assert_eq!(containers(&out)[0]["name"], "sidecar");
        assert_eq!(containers(&out)[1]["name"], "app");

        // With a deletion (kubectl apply removing a container).
        let out = smp(
            "Deployment",
            two_containers(),
            json!({"spec":{"template":{"spec":{
                "$setElementOrder/containers":[{"name":"sidecar"}],
                "containers":[{"$patch":"delete","name":"app"}]
            }}}}),
        );
        assert_eq!(
            containers(&out),
            &json!([{"name": "sidecar", "image": "envoy:1"}])
        );

        // Nested: env order inside a container.
        let out = smp(
            "Deployment",
            two_containers(),
            json!({"spec":{"template":{"spec":{
                "$setElementOrder/containers":[{"name":"app"},{"name":"sidecar"}],
                "containers":[{"name":"app","$setElementOrder/env":[{"name":"B"},{"name":"A"},{"name":"C"}],"env":[{"name":"C","value":"3"}]}]
            }}}}),
        );
        let env: Vec<&Value> = containers(&out)[0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["name"])
            .collect();
        assert_eq!(env, ["B", "A", "C"]);
        assert!(containers(&out)[0].get("$setElementOrder/env").is_none());

        // Patch items out of the directive's order are an error.
        let err = strategic_merge_patch(
            "Deployment",
            &two_containers(),
            &json!({"spec":{"template":{"spec":{
                "$setElementOrder/containers":[{"name":"app"}],
                "containers":[{"name":"other"}]
            }}}}),
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("The order in patch list"),
            "{err}"
        );
        // A list absent from the original is added in the given order.
        let out = smp(
            "Pod",
            json!({"spec":{}}),
            json!({"spec":{"$setElementOrder/volumes":[{"name":"b"},{"name":"a"}],"volumes":[{"name":"b"},{"name":"a"}]}}),
        );
        assert_eq!(
            out["spec"]["volumes"],
            json!([{"name": "b"}, {"name": "a"}])
        );
        let err = strategic_merge_patch("Pod", &json!({}), &json!({"$setElementOrder/x": "nope"}))
            .unwrap_err();
        assert_eq!(err.status_code(), 400);
    }

    #[test]
    fn finalizers_are_a_set() {
        let obj = json!({"metadata":{"name":"x","finalizers":["a","b"]}});
        let out = smp(
            "ConfigMap",
            obj.clone(),
            json!({"metadata":{"finalizers":["b","c"]}}),
        );
        // b keeps its place after a; c is new and follows b, as in the patch.
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
        let out = smp(
            "ConfigMap",
            obj.clone(),
            json!({"metadata":{"finalizers":["c"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["c", "a", "b"]));
        let out = smp(
            "ConfigMap",
            obj.clone(),
            json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
        // kubectl's 3-way patch: add, delete and order at once.
        let out = smp(
            "ConfigMap",
            obj.clone(),
            json!({"metadata":{
                "$setElementOrder/finalizers":["b","c"],
                "$deleteFromPrimitiveList/finalizers":["a"],
                "finalizers":["c"]
            }}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["b", "c"]));
        let err = strategic_merge_patch(
            "ConfigMap",
            &obj,
            &json!({"metadata":{"$deleteFromPrimitiveList/finalizers":"a"}}),
        )
        .unwrap_err();
        assert_eq!(
            err,
            PatchError::BadRequest("invalid patch format of primitive list".into())
        );
    }

    #[test]
    fn atomic_lists_replace() {
        let pod = json!({"spec":{
            "tolerations":[{"key":"a","operator":"Exists"}],
            "containers":[{"name":"c","args":["x","y"],"envFrom":[{"configMapRef":{"name":"a"}}]}]
        }});
        let out = smp(
            "Pod",
            pod,
            json!({"spec":{
                "tolerations":[{"key":"b","operator":"Exists"}],
                "containers":[{"name":"c","args":["z"],"envFrom":[{"secretRef":{"name":"s"}}]}]
            }}),
        );
        assert_eq!(
            out["spec"]["tolerations"],
            json!([{"key": "b", "operator": "Exists"}])
        );
        assert_eq!(out["spec"]["containers"][0]["args"], json!(["z"]));
        assert_eq!(
            out["spec"]["containers"][0]["envFrom"],
            json!([{"secretRef": {"name": "s"}}])
        );
        // Unknown kinds: everything is atomic except metadata.
        let out = smp(
            "Widget",
            json!({"spec":{"items":[{"name":"a"}]}}),
            json!({"spec":{"items":[{"name":"b"}]}}),
        );
        assert_eq!(out["spec"]["items"], json!([{"name": "b"}]));
    }

    #[test]
    fn ports_and_service_ports() {
        let pod = json!({"spec":{"containers":[{"name":"c","ports":[
            {"containerPort":80,"protocol":"TCP"},
            {"containerPort":443,"protocol":"TCP"}
        ]}]}});
        let out = smp(
            "Pod",
            pod,
            json!({"spec":{"containers":[{"name":"c","ports":[{"containerPort":80,"name":"http"}]}]}}),
        );
        assert_eq!(
            out["spec"]["containers"][0]["ports"],
            json!([
                {"containerPort": 80, "protocol": "TCP", "name": "http"},
                {"containerPort": 443, "protocol": "TCP"}
            ])
        );
        let svc = json!({"spec":{"ports":[{"port":80,"targetPort":8080}]}});
        let out = smp(
            "Service",
            svc,
            json!({"spec":{"ports":[{"port":80.0,"targetPort":9090}]}}),
        );
        // 80.0 matches 80 (Go decodes both to float64); the patch value is kept.
        assert_eq!(out["spec"]["ports"].as_array().unwrap().len(), 1);
        assert_eq!(out["spec"]["ports"][0]["port"].as_f64(), Some(80.0));
        assert_eq!(out["spec"]["ports"][0]["targetPort"], 9090);
    }

    #[test]
    fn status_conditions_and_owner_refs() {
        let obj = json!({
            "metadata":{"ownerReferences":[{"uid":"1","name":"a"}]},
            "status":{"conditions":[{"type":"Ready","status":"False"},{"type":"Available","status":"True"}]}
        });
        let out = smp(
            "Deployment",
            obj,
            json!({
                "metadata":{"ownerReferences":[{"uid":"2","name":"b"}]},
                "status":{"conditions":[{"type":"Ready","status":"True"}]}
            }),
        );
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type":"Ready","status":"True"},{"type":"Available","status":"True"}])
        );
        assert_eq!(
            out["metadata"]["ownerReferences"],
            json!([{"uid":"2","name":"b"},{"uid":"1","name":"a"}])
        );
    }

    #[test]
    fn cronjob_and_new_fields() {
        let cj = json!({"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[
            {"name":"a","image":"x"},{"name":"b","image":"y"}
        ]}}}}}});
        let out = smp(
            "CronJob",
            cj,
            json!({"spec":{"schedule":"* * * * *","jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"b","image":"z"}]}}}}}}),
        );
        assert_eq!(out["spec"]["schedule"], "* * * * *");
        assert_eq!(
            out["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"],
            json!([{"name":"a","image":"x"},{"name":"b","image":"z"}])
        );
        // New values are stored without nulls and directives.
        let out = smp(
            "Pod",
            json!({"spec":{}}),
            json!({"spec":{"containers":[{"name":"c","image":null,"env":[{"name":"A","$patch":"delete"}]}],"x":{"a":null,"b":1}}}),
        );
        assert_eq!(out["spec"]["containers"], json!([{"name": "c", "env": []}]));
        assert_eq!(out["spec"]["x"], json!({"b": 1}));
    }

    #[test]
    fn type_changes_and_errors() {
        let out = smp("Pod", json!({"a":{"b":1}}), json!({"a":"s"}));
        assert_eq!(out, json!({"a": "s"}));
        let out = smp("Pod", json!({"a":"s"}), json!({"a":{"b":1,"c":null}}));
        assert_eq!(out, json!({"a": {"b": 1}}));
        let err = strategic_merge_patch("Pod", &json!({}), &json!([1])).unwrap_err();
        assert_eq!(err, PatchError::BadRequest("invalid JSON document".into()));
        let err = strategic_merge_patch(
            "ConfigMap",
            &json!({"metadata":{"finalizers":[["a"]]}}),
            &json!({"metadata":{"finalizers":[["b"]]}}),
        )
        .unwrap_err();
        assert_eq!(
            err,
            PatchError::Invalid("lists of lists are not supported".into())
        );
        let err = strategic_merge_patch(
            "Pod",
            &json!({"spec":{"containers":[{"name":"a"}]}}),
            &json!({"spec":{"containers":[{"$patch":"merge"}]}}),
        )
        .unwrap_err();
        assert_eq!(err.status_code(), 500);
        let err = strategic_merge_patch(
            "Pod",
            &json!({"spec":{"containers":[{"name":"a"}]}}),
            &json!({"spec":{"containers":["a"]}}),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("list element types are not identical")
        );
        // Top-level directives.
        assert_eq!(
            smp("Pod", json!({"a": 1}), json!({"$patch": "delete"})),
            json!({})
        );
        assert_eq!(
            smp("Pod", json!({"a": 1}), json!({"$patch": "replace", "b": 2})),
            json!({"b": 2})
        );
        // Non-object original.
        assert_eq!(smp("Pod", json!(null), json!({"a": 1})), json!({"a": 1}));
    }

    #[test]
    fn go_formatting() {
        assert_eq!(go_fmt(&json!(80)), "80");
        assert_eq!(go_fmt(&json!(1.5)), "1.5");
        assert_eq!(go_fmt(&json!(1e21)), "1e+21");
        assert_eq!(go_fmt(&json!(0.00001)), "1e-05");
        assert_eq!(
            go_fmt(&json!({"b": [1, "x"], "a": null, "c": true})),
            "map[a:<nil> b:[1 x] c:true]"
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn names() -> impl Strategy<Value = Vec<String>> {
            proptest::collection::vec("[a-e]", 0..5).prop_map(|mut v| {
                v.sort();
                v.dedup();
                v
            })
        }

        proptest! {
            /// Merging containers by name: every original and patch name is present once,
            /// patched fields win and untouched containers are unchanged.
            #[test]
            fn containers_merge_by_name(orig in names(), patch in names()) {
                let original = deploy(Value::Array(orig.iter().map(|n| json!({"name": n, "image": "old", "keep": n})).collect()));
                let p = json!({"spec":{"template":{"spec":{"containers":
                    patch.iter().map(|n| json!({"name": n, "image": "new"})).collect::<Vec<_>>()}}}});
                let out = smp("Deployment", original, p);
                let list = containers(&out).as_array().unwrap();
                let mut all: Vec<&String> = orig.iter().chain(patch.iter()).collect();
                all.sort();
                all.dedup();
                prop_assert_eq!(list.len(), all.len());
                for c in list {
                    let n = c["name"].as_str().unwrap().to_string();
                    let expect_image = if patch.contains(&n) { "new" } else { "old" };
                    prop_assert_eq!(c["image"].as_str(), Some(expect_image));
                    prop_assert_eq!(c.get("keep").is_some(), orig.contains(&n));
                }
            }

            /// With $setElementOrder naming every item, the result is in exactly that order.
            #[test]
            fn set_element_order_is_honoured(orig in names(), patch in names(), seed in any::<u64>()) {
                let original = deploy(Value::Array(orig.iter().map(|n| json!({"name": n})).collect()));
                let mut order: Vec<String> = orig.iter().chain(patch.iter()).cloned().collect();
                order.sort();
                order.dedup();
                let len = order.len().max(1);
                order.rotate_left((seed as usize) % len);
                // Patch items must follow the directive's order.
                let patch_items: Vec<Value> = order.iter().filter(|n| patch.contains(n)).map(|n| json!({"name": n, "x": 1})).collect();
                let p = json!({"spec":{"template":{"spec":{
                    "$setElementOrder/containers": order.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
                    "containers": patch_items
                }}}});
                let out = smp("Deployment", original, p);
                let got: Vec<String> = containers(&out).as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect();
                prop_assert_eq!(got, order);
            }
        }
    }
}
