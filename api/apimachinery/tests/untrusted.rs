//! Every parser of untrusted input in this crate, fed arbitrary input: it may refuse, it
//! must never panic. Bounded by case counts, so the suite's time is bounded in CI.

use kumo_apimachinery::{patch, protobuf, selectors};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Arbitrary JSON values, a few levels deep, with keys that Kubernetes objects use so that
/// the strategic merge walks its list-merge paths.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    let key = prop_oneof![
        Just("metadata".to_string()),
        Just("spec".to_string()),
        Just("containers".to_string()),
        Just("name".to_string()),
        Just("ports".to_string()),
        Just("containerPort".to_string()),
        Just("$patch".to_string()),
        Just("$retainKeys".to_string()),
        Just("$setElementOrder/containers".to_string()),
        Just("$deleteFromPrimitiveList/finalizers".to_string()),
        Just("finalizers".to_string()),
        Just("env".to_string()),
        "[a-z]{1,6}",
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const KINDS: &[&str] = &[
    "Pod",
    "Deployment",
    "Service",
    "ConfigMap",
    "Namespace",
    "Thing",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn selectors_never_panic(s in "\\PC{0,64}", t in "[a-z=!,()\\. inotexs-]{0,40}") {
        let _ = selectors::parse_label_selector(&s);
        let _ = selectors::parse_label_selector(&t);
        let _ = selectors::parse_field_selector(&s);
        if let Ok(f) = selectors::parse_field_selector(&t) {
            for k in KINDS {
                let _ = f.for_kind(k);
            }
        }
        let _ = selectors::escape_field_value(&s);
    }

    #[test]
    fn label_selector_objects_never_panic(v in json_value()) {
        let _ = selectors::from_label_selector_object(&v);
    }

    #[test]
    fn patches_of_arbitrary_bytes_never_panic(
        orig in json_value(),
        body in proptest::collection::vec(any::<u8>(), 0..96),
    ) {
        let _ = patch::apply_json_patch(&orig, &body);
        let _ = patch::apply_merge_patch(&orig, &body);
        for k in KINDS {
            let _ = patch::apply_strategic(k, &orig, &body);
        }
    }

    #[test]
    fn patches_of_arbitrary_json_never_panic(orig in json_value(), p in json_value()) {
        let body = serde_json::to_vec(&p).expect("encode");
        let _ = patch::apply_json_patch(&orig, &body);
        let _ = patch::apply_merge_patch(&orig, &body);
        for k in KINDS {
            let _ = patch::apply_strategic(k, &orig, &body);
        }
        // JSON patch operations with arbitrary paths.
        let ops = json!([{"op": "add", "path": format!("/{}", p.as_str().unwrap_or("a")), "value": p},
                          {"op": "move", "from": "/spec", "path": "/spec/x"},
                          {"op": "copy", "from": "/metadata", "path": "/metadata/-"}]);
        let _ = patch::apply_json_patch(&orig, &serde_json::to_vec(&ops).expect("encode"));
    }

    #[test]
    fn protobuf_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = protobuf::decode(&body);
        let mut framed = b"k8s\0".to_vec();
        framed.extend_from_slice(&body);
        let _ = protobuf::decode(&framed);
    }
}

/// Protobuf envelopes that are nearly right: valid tags with lengths that overrun, deep
/// nesting, huge varints.
#[test]
fn protobuf_adversarial_envelopes_are_refused() {
    let cases: Vec<Vec<u8>> = vec![
        b"k8s\0\x0a\xff\xff\xff\xff\x0f".to_vec(),
        b"k8s\0\x12\x05abc".to_vec(),
        b"k8s\0\x0a\x02\x0a\x10".to_vec(),
        [b"k8s\0".as_slice(), &[0x80; 20]].concat(),
        [b"k8s\0".as_slice(), &[0x0a, 0x00, 0x12, 0x03, 0x0a, 0x01]].concat(),
    ];
    for c in cases {
        assert!(protobuf::decode(&c).is_err(), "{c:?}");
    }
}
