//! The Swagger 2.0 document as gnostic's `openapi.v2.Document` protobuf: what
//! `GET /openapi/v2` answers to `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`
//! (kubectl 1.27–1.29 read it for client-side validation, `explain` and the strategic-merge
//! metadata of `apply`).
//!
//! The encoder walks the JSON document and writes each Swagger object as the gnostic message
//! for it (field numbers from gnostic-models' `openapiv2/OpenAPIv2.proto`). Vendor extensions
//! (`x-...`) become `NamedAny { name, Any { yaml } }` with the value rendered as block YAML,
//! as gnostic does; kubectl parses that YAML back (group-version-kind, patch strategy, merge
//! key, list type …). Keys that Swagger 2.0 does not define are refused, as gnostic refuses them.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::openapi;

/// Why a JSON document could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A value has the wrong JSON type for its place in the document.
    #[error("{path}: expected {expected}")]
    Type {
        /// JSON pointer of the value.
        path: String,
        /// What the place wants.
        expected: &'static str,
    },
    /// A key that this Swagger object does not define.
    #[error("{path}: unknown key {key:?}")]
    UnknownKey {
        /// JSON pointer of the object.
        path: String,
        /// The key.
        key: String,
    },
}

type Result<T> = std::result::Result<T, Error>;

/// The Swagger 2.0 document encoded as gnostic's `openapi.v2.Document` protobuf, built once.
pub fn v2_document_protobuf() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        // The document is ours and tested to encode (see the tests below).
        encode_document(&openapi::v2_document())
            .unwrap_or_else(|e| panic!("the v2 document does not encode as protobuf: {e}"))
    })
}

/// Encodes any Swagger 2.0 JSON document (as our v2_document produces it) into gnostic's protobuf.
pub fn encode_document(doc: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(1 << 20);
    document(doc, &At::ROOT, &mut out)?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Where we are in the document (a JSON pointer built only when an error needs it).

struct At<'a> {
    parent: Option<&'a At<'a>>,
    key: &'a str,
}

impl<'a> At<'a> {
    const ROOT: At<'static> = At {
        parent: None,
        key: "",
    };

    fn child(&'a self, key: &'a str) -> At<'a> {
        At {
            parent: Some(self),
            key,
        }
    }

    fn pointer(&self) -> String {
        let mut parts = Vec::new();
        let mut at = Some(self);
        while let Some(a) = at {
            if a.parent.is_some() {
                parts.push(a.key.replace('~', "~0").replace('/', "~1"));
            }
            at = a.parent;
        }
        parts.reverse();
        parts.iter().map(|p| format!("/{p}")).collect()
    }

    fn wrong(&self, expected: &'static str) -> Error {
        Error::Type {
            path: self.pointer(),
            expected,
        }
    }

    fn unknown(&self, key: &str) -> Error {
        Error::UnknownKey {
            path: self.pointer(),
            key: key.to_string(),
        }
    }
}

fn object<'v>(v: &'v Value, at: &At) -> Result<&'v Map<String, Value>> {
    v.as_object().ok_or_else(|| at.wrong("an object"))
}

fn array<'v>(v: &'v Value, at: &At) -> Result<&'v Vec<Value>> {
    v.as_array().ok_or_else(|| at.wrong("an array"))
}

fn string<'v>(v: &'v Value, at: &At) -> Result<&'v str> {
    v.as_str().ok_or_else(|| at.wrong("a string"))
}

// ---------------------------------------------------------------------------------------
// Wire format: varints, fixed 64-bit and length-delimited fields.

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_key(out: &mut Vec<u8>, field: u32, wire: u32) {
    put_varint(out, u64::from(field << 3 | wire));
}

fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_str(out: &mut Vec<u8>, field: u32, s: &str) {
    put_bytes(out, field, s.as_bytes());
}

fn put_bool(out: &mut Vec<u8>, field: u32, b: bool) {
    put_key(out, field, VARINT);
    put_varint(out, u64::from(b));
}

fn put_i64(out: &mut Vec<u8>, field: u32, n: i64) {
    put_key(out, field, VARINT);
    // Negative int64 values are ten-byte two's complement varints.
    put_varint(out, n as u64);
}

fn put_f64(out: &mut Vec<u8>, field: u32, x: f64) {
    put_key(out, field, FIXED64);
    out.extend_from_slice(&x.to_bits().to_le_bytes());
}

/// A nested message: encoded into a scratch buffer, then written length-prefixed.
fn put_message(
    out: &mut Vec<u8>,
    field: u32,
    body: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    let mut inner = Vec::new();
    body(&mut inner)?;
    put_bytes(out, field, &inner);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Table-driven messages: most Swagger objects map key by key onto fields.

type Encoder = fn(&Value, &At, &mut Vec<u8>) -> Result<()>;

#[derive(Clone, Copy)]
enum Kind {
    /// `string` (proto3: the empty string is not written).
    Str,
    /// `repeated string`.
    Strs,
    /// `bool` (false is not written).
    Bool,
    /// `int64`.
    Int,
    /// `double`.
    Float,
    /// `Any`.
    Any,
    /// `repeated Any`.
    Anys,
    /// A message written by its encoder.
    Msg(Encoder),
    /// `repeated` message, each element written by the encoder.
    Msgs(Encoder),
}

/// One message: its fields by JSON key, and the field of its `repeated NamedAny vendor_extension`.
struct Message {
    fields: &'static [(&'static str, u32, Kind)],
    extensions: Option<u32>,
}

fn put_fields(msg: &Message, v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    let obj = object(v, at)?;
    for (key, value) in obj {
        let here = at.child(key);
        if let Some((_, field, kind)) = msg.fields.iter().find(|(k, _, _)| k == key) {
            put_field(*field, *kind, value, &here, out)?;
        } else if key.starts_with("x-")
            && let Some(field) = msg.extensions
        {
            put_named_any(out, field, key, value);
        } else {
            return Err(at.unknown(key));
        }
    }
    Ok(())
}

fn put_field(field: u32, kind: Kind, v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    match kind {
        Kind::Str => {
            let s = string(v, at)?;
            if !s.is_empty() {
                put_str(out, field, s);
            }
        }
        Kind::Strs => {
            for (i, s) in array(v, at)?.iter().enumerate() {
                let i = i.to_string();
                put_str(out, field, string(s, &at.child(&i))?);
            }
        }
        Kind::Bool => {
            if v.as_bool().ok_or_else(|| at.wrong("a boolean"))? {
                put_bool(out, field, true);
            }
        }
        Kind::Int => {
            let n = v
                .as_i64()
                .or_else(|| v.as_f64().filter(|x| x.fract() == 0.0).map(|x| x as i64))
                .ok_or_else(|| at.wrong("an integer"))?;
            if n != 0 {
                put_i64(out, field, n);
            }
        }
        Kind::Float => {
            let x = v.as_f64().ok_or_else(|| at.wrong("a number"))?;
            if x != 0.0 {
                put_f64(out, field, x);
            }
        }
        Kind::Any => put_any(out, field, v),
        Kind::Anys => {
            for item in array(v, at)? {
                put_any(out, field, item);
            }
        }
        Kind::Msg(encode) => put_message(out, field, |o| encode(v, at, o))?,
        Kind::Msgs(encode) => {
            for (i, item) in array(v, at)?.iter().enumerate() {
                let i = i.to_string();
                let here = at.child(&i);
                put_message(out, field, |o| encode(item, &here, o))?;
            }
        }
    }
    Ok(())
}

/// `Any { yaml = 2 }`.
fn put_any(out: &mut Vec<u8>, field: u32, v: &Value) {
    let mut inner = Vec::new();
    put_str(&mut inner, 2, &yaml(v));
    put_bytes(out, field, &inner);
}

/// `NamedAny { name = 1; Any value = 2 }`.
fn put_named_any(out: &mut Vec<u8>, field: u32, name: &str, v: &Value) {
    let mut inner = Vec::new();
    put_str(&mut inner, 1, name);
    put_any(&mut inner, 2, v);
    put_bytes(out, field, &inner);
}

/// A JSON object as `repeated Named<T> { name = 1; T value = 2 }` (one field per entry).
fn put_named(
    out: &mut Vec<u8>,
    field: u32,
    name: &str,
    value: &Value,
    at: &At,
    encode: Encoder,
) -> Result<()> {
    put_message(out, field, |o| {
        put_str(o, 1, name);
        put_message(o, 2, |o| encode(value, at, o))
    })
}

/// A message that only holds `repeated Named<T> additional_properties = 1`.
fn named_map(v: &Value, at: &At, out: &mut Vec<u8>, encode: Encoder) -> Result<()> {
    for (name, value) in object(v, at)? {
        put_named(out, 1, name, value, &at.child(name), encode)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The messages of openapi.v2.

const DOCUMENT: Message = Message {
    fields: &[
        ("swagger", 1, Kind::Str),
        ("info", 2, Kind::Msg(info)),
        ("host", 3, Kind::Str),
        ("basePath", 4, Kind::Str),
        ("schemes", 5, Kind::Strs),
        ("consumes", 6, Kind::Strs),
        ("produces", 7, Kind::Strs),
        ("paths", 8, Kind::Msg(paths)),
        ("definitions", 9, Kind::Msg(definitions)),
        ("parameters", 10, Kind::Msg(parameter_definitions)),
        ("responses", 11, Kind::Msg(response_definitions)),
        ("security", 12, Kind::Msgs(security_requirement)),
        ("securityDefinitions", 13, Kind::Msg(security_definitions)),
        ("tags", 14, Kind::Msgs(tag)),
        ("externalDocs", 15, Kind::Msg(external_docs)),
    ],
    extensions: Some(16),
};

fn document(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    put_fields(&DOCUMENT, v, at, out)
}

fn info(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    const INFO: Message = Message {
        fields: &[
            ("title", 1, Kind::Str),
            ("version", 2, Kind::Str),
            ("description", 3, Kind::Str),
            ("termsOfService", 4, Kind::Str),
            ("contact", 5, Kind::Msg(contact)),
            ("license", 6, Kind::Msg(license)),
        ],
        extensions: Some(7),
    };
    put_fields(&INFO, v, at, out)
}

fn contact(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    const CONTACT: Message = Message {
        fields: &[
            ("name", 1, Kind::Str),
            ("url", 2, Kind::Str),
            ("email", 3, Kind::Str),
        ],
        extensions: Some(4),
    };
    put_fields(&CONTACT, v, at, out)
}

fn license(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    const LICENSE: Message = Message {
        fields: &[("name", 1, Kind::Str), ("url", 2, Kind::Str)],
        extensions: Some(3),
    };
    put_fields(&LICENSE, v, at, out)
}

fn external_docs(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    const EXTERNAL_DOCS: Message = Message {
        fields: &[("description", 1, Kind::Str), ("url", 2, Kind::Str)],
        extensions: Some(3),
    };
    put_fields(&EXTERNAL_DOCS, v, at, out)
}

fn tag(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    const TAG: Message = Message {
        fields: &[
            ("name", 1, Kind::Str),
            ("description", 2, Kind::Str),
            ("externalDocs", 3, Kind::Msg(external_docs)),
        ],
        extensions: Some(4),
    };
    put_fields(&TAG, v, at, out)
}

/// `Paths { repeated NamedAny vendor_extension = 1; repeated NamedPathItem path = 2 }`.
fn paths(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    for (key, value) in object(v, at)? {
        if key.starts_with("x-") {
            put_named_any(out, 1, key, value);
        } else if key.starts_with('/') {
            put_named(out, 2, key, value, &at.child(key), path_item)?;
        } else {
            return Err(at.unknown(key));
        }
    }
    Ok(())
}

fn path_item(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    const PATH_ITEM: Message = Message {
        fields: &[
            ("$ref", 1, Kind::Str),
            ("get", 2, Kind::Msg(operation)),
            ("put", 3, Kind::Msg(operation)),
            ("post", 4, Kind::Msg(operation)),
            ("delete", 5, Kind::Msg(operation)),
            ("options", 6, Kind::Msg(operation)),
            ("head", 7, Kind::Msg(operation)),
            ("patch", 8, Kind::Msg(operation)),
            ("parameters", 9, Kind::Msgs(parameters_item)),
        ],
        extensions: Some(10),
    };
    put_fields(&PATH_ITEM, v, at, out)
}

fn operation(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    const OPERATION: Message = Message {
        fields: &[
            ("tags", 1, Kind::Strs),
            ("summary", 2, Kind::Str),
            ("description", 3, Kind::Str),
            ("externalDocs", 4, Kind::Msg(external_docs)),
            ("operationId", 5, Kind::Str),
            ("produces", 6, Kind::Strs),
            ("consumes", 7, Kind::Strs),
            ("parameters", 8, Kind::Msgs(parameters_item)),
            ("responses", 9, Kind::Msg(responses)),
            ("schemes", 10, Kind::Strs),
            ("deprecated", 11, Kind::Bool),
            ("security", 12, Kind::Msgs(security_requirement)),
        ],
        extensions: Some(13),
    };
    put_fields(&OPERATION, v, at, out)
}

/// `JsonReference { _ref = 1; description = 2 }`.
fn json_reference(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    const JSON_REFERENCE: Message = Message {
        fields: &[("$ref", 1, Kind::Str), ("description", 2, Kind::Str)],
        extensions: None,
    };
    put_fields(&JSON_REFERENCE, v, at, out)
}

fn is_reference(v: &Value) -> bool {
    v.get("$ref").is_some()
}

/// `ParametersItem { oneof { Parameter parameter = 1; JsonReference json_reference = 2 } }`.
fn parameters_item(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    if is_reference(v) {
        put_message(out, 2, |o| json_reference(v, at, o))
    } else {
        put_message(out, 1, |o| parameter(v, at, o))
    }
}

/// `Parameter { oneof { BodyParameter body_parameter = 1; NonBodyParameter non_body_parameter = 2 } }`,
/// and inside `NonBodyParameter` one of header (1), formData (2), query (3) or path (4).
fn parameter(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    let location = object(v, at)?
        .get("in")
        .ok_or_else(|| at.wrong("a parameter with \"in\""))?;
    let location = string(location, &at.child("in"))?;
    if location == "body" {
        return put_message(out, 1, |o| body_parameter(v, at, o));
    }
    let (variant, sub_schema): (u32, &Message) = match location {
        "header" => (1, &HEADER_OR_PATH_PARAMETER),
        "formData" => (2, &QUERY_OR_FORM_PARAMETER),
        "query" => (3, &QUERY_OR_FORM_PARAMETER),
        "path" => (4, &HEADER_OR_PATH_PARAMETER),
        _ => {
            return Err(at
                .child("in")
                .wrong("body, header, formData, query or path"));
        }
    };
    put_message(out, 2, |o| {
        put_message(o, variant, |o| put_fields(sub_schema, v, at, o))
    })
}

fn body_parameter(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    const BODY_PARAMETER: Message = Message {
        fields: &[
            ("description", 1, Kind::Str),
            ("name", 2, Kind::Str),
            ("in", 3, Kind::Str),
            ("required", 4, Kind::Bool),
            ("schema", 5, Kind::Msg(schema)),
        ],
        extensions: Some(6),
    };
    put_fields(&BODY_PARAMETER, v, at, out)
}

/// `HeaderParameterSubSchema` and `PathParameterSubSchema` (the same numbering).
const HEADER_OR_PATH_PARAMETER: Message = Message {
    fields: &[
        ("required", 1, Kind::Bool),
        ("in", 2, Kind::Str),
        ("description", 3, Kind::Str),
        ("name", 4, Kind::Str),
        ("type", 5, Kind::Str),
        ("format", 6, Kind::Str),
        ("items", 7, Kind::Msg(primitives_items)),
        ("collectionFormat", 8, Kind::Str),
        ("default", 9, Kind::Any),
        ("maximum", 10, Kind::Float),
        ("exclusiveMaximum", 11, Kind::Bool),
        ("minimum", 12, Kind::Float),
        ("exclusiveMinimum", 13, Kind::Bool),
        ("maxLength", 14, Kind::Int),
        ("minLength", 15, Kind::Int),
        ("pattern", 16, Kind::Str),
        ("maxItems", 17, Kind::Int),
        ("minItems", 18, Kind::Int),
        ("uniqueItems", 19, Kind::Bool),
        ("enum", 20, Kind::Anys),
        ("multipleOf", 21, Kind::Float),
    ],
    extensions: Some(22),
};

/// `QueryParameterSubSchema` and `FormDataParameterSubSchema` (with `allowEmptyValue` at 5).
const QUERY_OR_FORM_PARAMETER: Message = Message {
    fields: &[
        ("required", 1, Kind::Bool),
        ("in", 2, Kind::Str),
        ("description", 3, Kind::Str),
        ("name", 4, Kind::Str),
        ("allowEmptyValue", 5, Kind::Bool),
        ("type", 6, Kind::Str),
        ("format", 7, Kind::Str),
        ("items", 8, Kind::Msg(primitives_items)),
        ("collectionFormat", 9, Kind::Str),
        ("default", 10, Kind::Any),
        ("maximum", 11, Kind::Float),
        ("exclusiveMaximum", 12, Kind::Bool),
        ("minimum", 13, Kind::Float),
        ("exclusiveMinimum", 14, Kind::Bool),
        ("maxLength", 15, Kind::Int),
        ("minLength", 16, Kind::Int),
        ("pattern", 17, Kind::Str),
        ("maxItems", 18, Kind::Int),
        ("minItems", 19, Kind::Int),
        ("uniqueItems", 20, Kind::Bool),
        ("enum", 21, Kind::Anys),
        ("multipleOf", 22, Kind::Float),
    ],
    extensions: Some(23),
};

/// The validation keywords shared by `PrimitivesItems` and `Header`, from field 1.
macro_rules! primitive_fields {
    ($($extra:tt)*) => {
        &[
            ("type", 1, Kind::Str),
            ("format", 2, Kind::Str),
            ("items", 3, Kind::Msg(primitives_items)),
            ("collectionFormat", 4, Kind::Str),
            ("default", 5, Kind::Any),
            ("maximum", 6, Kind::Float),
            ("exclusiveMaximum", 7, Kind::Bool),
            ("minimum", 8, Kind::Float),
            ("exclusiveMinimum", 9, Kind::Bool),
            ("maxLength", 10, Kind::Int),
            ("minLength", 11, Kind::Int),
            ("pattern", 12, Kind::Str),
            ("maxItems", 13, Kind::Int),
            ("minItems", 14, Kind::Int),
            ("uniqueItems", 15, Kind::Bool),
            ("enum", 16, Kind::Anys),
            ("multipleOf", 17, Kind::Float),
            $($extra)*
        ]
    };
}

fn primitives_items(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    const PRIMITIVES_ITEMS: Message = Message {
        fields: primitive_fields!(),
        extensions: Some(18),
    };
    put_fields(&PRIMITIVES_ITEMS, v, at, out)
}

fn header(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    const HEADER: Message = Message {
        fields: primitive_fields!(("description", 18, Kind::Str)),
        extensions: Some(19),
    };
    put_fields(&HEADER, v, at, out)
}

/// `Responses { repeated NamedResponseValue response_code = 1; repeated NamedAny vendor_extension = 2 }`.
fn responses(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    for (code, value) in object(v, at)? {
        if code.starts_with("x-") {
            put_named_any(out, 2, code, value);
        } else {
            put_named(out, 1, code, value, &at.child(code), response_value)?;
        }
    }
    Ok(())
}

/// `ResponseValue { oneof { Response response = 1; JsonReference json_reference = 2 } }`.
fn response_value(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    if is_reference(v) {
        put_message(out, 2, |o| json_reference(v, at, o))
    } else {
        put_message(out, 1, |o| response(v, at, o))
    }
}

fn response(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    const RESPONSE: Message = Message {
        fields: &[
            ("description", 1, Kind::Str),
            ("schema", 2, Kind::Msg(schema_item)),
            ("headers", 3, Kind::Msg(headers)),
            ("examples", 4, Kind::Msg(examples)),
        ],
        extensions: Some(5),
    };
    put_fields(&RESPONSE, v, at, out)
}

fn headers(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    named_map(v, at, out, header)
}

/// `Examples { repeated NamedAny additional_properties = 1 }`.
fn examples(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    for (name, value) in object(v, at)? {
        put_named_any(out, 1, name, value);
    }
    Ok(())
}

/// `SchemaItem { oneof { Schema schema = 1; FileSchema file_schema = 2 } }`.
fn schema_item(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    if v.get("type").and_then(Value::as_str) == Some("file") {
        put_message(out, 2, |o| file_schema(v, at, o))
    } else {
        put_message(out, 1, |o| schema(v, at, o))
    }
}

fn file_schema(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    const FILE_SCHEMA: Message = Message {
        fields: &[
            ("format", 1, Kind::Str),
            ("title", 2, Kind::Str),
            ("description", 3, Kind::Str),
            ("default", 4, Kind::Any),
            ("required", 5, Kind::Strs),
            ("type", 6, Kind::Str),
            ("readOnly", 7, Kind::Bool),
            ("externalDocs", 8, Kind::Msg(external_docs)),
            ("example", 9, Kind::Any),
        ],
        extensions: Some(10),
    };
    put_fields(&FILE_SCHEMA, v, at, out)
}

fn definitions(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    named_map(v, at, out, schema)
}

fn parameter_definitions(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    named_map(v, at, out, parameter)
}

fn response_definitions(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    named_map(v, at, out, response)
}

fn schema(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    const SCHEMA: Message = Message {
        fields: &[
            ("$ref", 1, Kind::Str),
            ("format", 2, Kind::Str),
            ("title", 3, Kind::Str),
            ("description", 4, Kind::Str),
            ("default", 5, Kind::Any),
            ("multipleOf", 6, Kind::Float),
            ("maximum", 7, Kind::Float),
            ("exclusiveMaximum", 8, Kind::Bool),
            ("minimum", 9, Kind::Float),
            ("exclusiveMinimum", 10, Kind::Bool),
            ("maxLength", 11, Kind::Int),
            ("minLength", 12, Kind::Int),
            ("pattern", 13, Kind::Str),
            ("maxItems", 14, Kind::Int),
            ("minItems", 15, Kind::Int),
            ("uniqueItems", 16, Kind::Bool),
            ("maxProperties", 17, Kind::Int),
            ("minProperties", 18, Kind::Int),
            ("required", 19, Kind::Strs),
            ("enum", 20, Kind::Anys),
            ("additionalProperties", 21, Kind::Msg(additional_properties)),
            ("type", 22, Kind::Msg(type_item)),
            ("items", 23, Kind::Msg(items_item)),
            ("allOf", 24, Kind::Msgs(schema)),
            ("properties", 25, Kind::Msg(properties)),
            ("discriminator", 26, Kind::Str),
            ("readOnly", 27, Kind::Bool),
            ("xml", 28, Kind::Msg(xml)),
            ("externalDocs", 29, Kind::Msg(external_docs)),
            ("example", 30, Kind::Any),
        ],
        extensions: Some(31),
    };
    put_fields(&SCHEMA, v, at, out)
}

/// `AdditionalPropertiesItem { oneof { Schema schema = 1; bool boolean = 2 } }`: a oneof
/// member is written even when it is `false`.
fn additional_properties(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    match v {
        Value::Bool(b) => {
            put_bool(out, 2, *b);
            Ok(())
        }
        _ => put_message(out, 1, |o| schema(v, at, o)),
    }
}

/// `TypeItem { repeated string value = 1 }`: one type or several.
fn type_item(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    match v {
        Value::String(t) => {
            put_str(out, 1, t);
            Ok(())
        }
        _ => put_field(1, Kind::Strs, v, at, out),
    }
}

/// `ItemsItem { repeated Schema schema = 1 }`: one schema or a tuple of them.
fn items_item(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    match v {
        Value::Array(_) => put_field(1, Kind::Msgs(schema), v, at, out),
        _ => put_message(out, 1, |o| schema(v, at, o)),
    }
}

/// `Properties { repeated NamedSchema additional_properties = 1 }`.
fn properties(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    named_map(v, at, out, schema)
}

fn xml(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    const XML: Message = Message {
        fields: &[
            ("name", 1, Kind::Str),
            ("namespace", 2, Kind::Str),
            ("prefix", 3, Kind::Str),
            ("attribute", 4, Kind::Bool),
            ("wrapped", 5, Kind::Bool),
        ],
        extensions: Some(6),
    };
    put_fields(&XML, v, at, out)
}

/// `SecurityRequirement { repeated NamedStringArray additional_properties = 1 }`, with
/// `StringArray { repeated string value = 1 }`.
fn security_requirement(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    named_map(v, at, out, |scopes, at, o| {
        put_field(1, Kind::Strs, scopes, at, o)
    })
}

/// `SecurityDefinitions { repeated NamedSecurityDefinitionsItem additional_properties = 1 }`.
fn security_definitions(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    named_map(v, at, out, security_definitions_item)
}

/// `SecurityDefinitionsItem`: a oneof chosen by `type` (and `flow` for OAuth 2).
fn security_definitions_item(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    const BASIC: Message = Message {
        fields: &[("type", 1, Kind::Str), ("description", 2, Kind::Str)],
        extensions: Some(3),
    };
    const API_KEY: Message = Message {
        fields: &[
            ("type", 1, Kind::Str),
            ("name", 2, Kind::Str),
            ("in", 3, Kind::Str),
            ("description", 4, Kind::Str),
        ],
        extensions: Some(5),
    };
    const IMPLICIT: Message = Message {
        fields: &[
            ("type", 1, Kind::Str),
            ("flow", 2, Kind::Str),
            ("scopes", 3, Kind::Msg(oauth2_scopes)),
            ("authorizationUrl", 4, Kind::Str),
            ("description", 5, Kind::Str),
        ],
        extensions: Some(6),
    };
    // Password and application flows share their numbering.
    const TOKEN_FLOW: Message = Message {
        fields: &[
            ("type", 1, Kind::Str),
            ("flow", 2, Kind::Str),
            ("scopes", 3, Kind::Msg(oauth2_scopes)),
            ("tokenUrl", 4, Kind::Str),
            ("description", 5, Kind::Str),
        ],
        extensions: Some(6),
    };
    const ACCESS_CODE: Message = Message {
        fields: &[
            ("type", 1, Kind::Str),
            ("flow", 2, Kind::Str),
            ("scopes", 3, Kind::Msg(oauth2_scopes)),
            ("authorizationUrl", 4, Kind::Str),
            ("tokenUrl", 5, Kind::Str),
            ("description", 6, Kind::Str),
        ],
        extensions: Some(7),
    };
    let get = |key: &str| v.get(key).and_then(Value::as_str);
    let (variant, msg) = match (get("type"), get("flow")) {
        (Some("basic"), _) => (1, &BASIC),
        (Some("apiKey"), _) => (2, &API_KEY),
        (Some("oauth2"), Some("implicit")) => (3, &IMPLICIT),
        (Some("oauth2"), Some("password")) => (4, &TOKEN_FLOW),
        (Some("oauth2"), Some("application")) => (5, &TOKEN_FLOW),
        (Some("oauth2"), Some("accessCode")) => (6, &ACCESS_CODE),
        _ => return Err(at.wrong("a basic, apiKey or oauth2 security scheme")),
    };
    put_message(out, variant, |o| put_fields(msg, v, at, o))
}

/// `Oauth2Scopes { repeated NamedString additional_properties = 1 }`.
fn oauth2_scopes(v: &Value, at: &At, out: &mut Vec<u8>) -> Result<()> {
    for (name, value) in object(v, at)? {
        let value = string(value, &at.child(name))?;
        put_message(out, 1, |o| {
            put_str(o, 1, name);
            put_str(o, 2, value);
            Ok(())
        })?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// YAML text of a JSON value, in block style (as gnostic writes `Any.yaml`).

fn yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => yaml_map(m, 0, false, &mut out),
        Value::Array(a) if !a.is_empty() => yaml_seq(a, 0, false, &mut out),
        scalar => {
            yaml_scalar(scalar, &mut out);
            out.push('\n');
        }
    }
    out
}

fn indent(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A mapping at column `col`; its first key goes on the current line when `inline`.
fn yaml_map(m: &Map<String, Value>, col: usize, inline: bool, out: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 || !inline {
            indent(col, out);
        }
        yaml_string(k, out);
        out.push(':');
        match v {
            Value::Object(m) if !m.is_empty() => {
                out.push('\n');
                yaml_map(m, col + 2, false, out);
            }
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                yaml_seq(a, col, false, out);
            }
            scalar => {
                out.push(' ');
                yaml_scalar(scalar, out);
                out.push('\n');
            }
        }
    }
}

/// A sequence at column `col`; its first item goes on the current line when `inline`.
fn yaml_seq(a: &[Value], col: usize, inline: bool, out: &mut String) {
    for (i, v) in a.iter().enumerate() {
        if i > 0 || !inline {
            indent(col, out);
        }
        out.push_str("- ");
        match v {
            Value::Object(m) if !m.is_empty() => yaml_map(m, col + 2, true, out),
            Value::Array(a) if !a.is_empty() => yaml_seq(a, col + 2, true, out),
            scalar => {
                yaml_scalar(scalar, out);
                out.push('\n');
            }
        }
    }
}

/// A scalar (or an empty collection) on one line.
fn yaml_scalar(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => yaml_string(s, out),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

/// A string plain when YAML (1.1 or 1.2) would read it back as the same string, else
/// double-quoted (a JSON string literal is a valid YAML double-quoted scalar).
fn yaml_string(s: &str, out: &mut String) {
    if plain_is_safe(s) {
        out.push_str(s);
    } else {
        out.push_str(&Value::String(s.to_string()).to_string());
    }
}

fn plain_is_safe(s: &str) -> bool {
    const RESERVED: &[&str] = &[
        "null", "~", "true", "false", "yes", "no", "on", "off", "y", "n",
    ];
    let Some(first) = s.chars().next() else {
        return false;
    };
    first.is_ascii_alphabetic()
        && !s.ends_with(' ')
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && s.chars().all(|c| c.is_ascii_graphic() || c == ' ')
        && !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s))
        && !matches!(s.to_ascii_lowercase().as_str(), ".inf" | ".nan")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A field as the test decoder sees it.
    #[derive(Debug, Clone, PartialEq)]
    enum Wire {
        Varint(u64),
        Fixed64(u64),
        Bytes(Vec<u8>),
    }

    fn varint(buf: &[u8], pos: &mut usize) -> u64 {
        let mut n = 0u64;
        let mut shift = 0;
        loop {
            let b = buf[*pos];
            *pos += 1;
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return n;
            }
            shift += 7;
        }
    }

    /// Decodes one message into its fields, in order.
    fn decode(buf: &[u8]) -> Vec<(u32, Wire)> {
        let mut pos = 0;
        let mut fields = Vec::new();
        while pos < buf.len() {
            let key = varint(buf, &mut pos);
            let field = (key >> 3) as u32;
            let value = match key & 7 {
                0 => Wire::Varint(varint(buf, &mut pos)),
                1 => {
                    let bytes: [u8; 8] = buf[pos..pos + 8].try_into().unwrap();
                    pos += 8;
                    Wire::Fixed64(u64::from_le_bytes(bytes))
                }
                2 => {
                    let len = varint(buf, &mut pos) as usize;
                    let bytes = buf[pos..pos + len].to_vec();
                    pos += len;
                    Wire::Bytes(bytes)
                }
                w => panic!("unexpected wire type {w}"),
            };
            fields.push((field, value));
        }
        assert_eq!(pos, buf.len(), "trailing bytes");
        fields
    }

    fn all(buf: &[u8], field: u32) -> Vec<Vec<u8>> {
        decode(buf)
            .into_iter()
            .filter(|(f, _)| *f == field)
            .map(|(_, w)| match w {
                Wire::Bytes(b) => b,
                other => panic!("field {field} is {other:?}"),
            })
            .collect()
    }

    fn one(buf: &[u8], field: u32) -> Vec<u8> {
        let mut found = all(buf, field);
        assert_eq!(found.len(), 1, "field {field} in {:?}", decode(buf));
        found.remove(0)
    }

    fn text(buf: &[u8], field: u32) -> String {
        String::from_utf8(one(buf, field)).unwrap()
    }

    fn varint_field(buf: &[u8], field: u32) -> u64 {
        let found: Vec<u64> = decode(buf)
            .into_iter()
            .filter(|(f, _)| *f == field)
            .map(|(_, w)| match w {
                Wire::Varint(n) => n,
                other => panic!("field {field} is {other:?}"),
            })
            .collect();
        assert_eq!(found.len(), 1);
        found[0]
    }

    /// The `Named*` entry called `name` among the repeated `field` of `buf`: its value.
    fn named(buf: &[u8], field: u32, name: &str) -> Vec<u8> {
        all(buf, field)
            .into_iter()
            .find(|entry| text(entry, 1) == name)
            .map(|entry| one(&entry, 2))
            .unwrap_or_else(|| panic!("no {name} in field {field}"))
    }

    fn tiny() -> Value {
        json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "v1.33.0"},
            "paths": {
                "/apis/apps/v1/namespaces/{namespace}/deployments/{name}": {
                    "parameters": [
                        {"name": "name", "in": "path", "required": true, "type": "string",
                         "uniqueItems": true, "description": "name of the object"}
                    ],
                    "patch": {
                        "tags": ["apps_v1"],
                        "operationId": "patchAppsV1NamespacedDeployment",
                        "consumes": ["application/strategic-merge-patch+json"],
                        "parameters": [
                            {"name": "body", "in": "body", "required": true,
                             "schema": {"$ref": "#/definitions/io.k8s.api.apps.v1.Deployment"}},
                            {"name": "fieldValidation", "in": "query", "type": "string",
                             "uniqueItems": true, "description": "..."}
                        ],
                        "responses": {
                            "200": {"description": "OK",
                                    "schema": {"$ref": "#/definitions/io.k8s.api.apps.v1.Deployment"}},
                            "401": {"description": "Unauthorized"}
                        },
                        "x-kubernetes-action": "patch",
                        "x-kubernetes-group-version-kind":
                            {"group": "apps", "kind": "Deployment", "version": "v1"}
                    }
                }
            },
            "definitions": {
                "io.k8s.api.apps.v1.Deployment": {
                    "description": "Deployment enables declarative updates.",
                    "type": "object",
                    "properties": {
                        "spec": {
                            "$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec",
                            "description": "Specification of the desired behavior."
                        },
                        "labels": {
                            "type": "object",
                            "additionalProperties": {"type": "string"}
                        },
                        "env": {
                            "type": "array",
                            "items": {"$ref": "#/definitions/io.k8s.api.core.v1.EnvVar"},
                            "x-kubernetes-patch-merge-key": "name",
                            "x-kubernetes-patch-strategy": "merge",
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["name"]
                        },
                        "replicas": {"type": "integer", "format": "int32", "minimum": -1.5,
                                     "maxLength": 7}
                    },
                    "required": ["spec"],
                    "additionalProperties": false,
                    "x-kubernetes-group-version-kind": [
                        {"group": "apps", "kind": "Deployment", "version": "v1"}
                    ]
                }
            },
            "securityDefinitions": {
                "BearerToken": {"type": "apiKey", "name": "authorization", "in": "header",
                                "description": "Bearer Token authentication"}
            },
            "security": [{"BearerToken": []}]
        })
    }

    #[test]
    fn field_numbers_of_a_tiny_document() {
        let pb = encode_document(&tiny()).unwrap();
        assert_eq!(text(&pb, 1), "2.0");
        let info = one(&pb, 2);
        assert_eq!(text(&info, 1), "Kubernetes");
        assert_eq!(text(&info, 2), "v1.33.0");

        // Definitions (9) -> NamedSchema -> Schema.
        let deploy = named(&one(&pb, 9), 1, "io.k8s.api.apps.v1.Deployment");
        assert_eq!(text(&deploy, 4), "Deployment enables declarative updates.");
        assert_eq!(all(&one(&deploy, 22), 1), vec![b"object".to_vec()]);
        assert_eq!(all(&deploy, 19), vec![b"spec".to_vec()]);
        // additionalProperties: false is the oneof's boolean member, written although false.
        assert_eq!(decode(&one(&deploy, 21)), vec![(2, Wire::Varint(0))]);

        let props = one(&deploy, 25);
        let spec = named(&props, 1, "spec");
        assert_eq!(
            text(&spec, 1),
            "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
        );
        assert_eq!(text(&spec, 4), "Specification of the desired behavior.");
        let labels = named(&props, 1, "labels");
        let extra = one(&one(&labels, 21), 1);
        assert_eq!(all(&one(&extra, 22), 1), vec![b"string".to_vec()]);

        let env = named(&props, 1, "env");
        let items = all(&one(&env, 23), 1);
        assert_eq!(items.len(), 1);
        assert_eq!(
            text(&items[0], 1),
            "#/definitions/io.k8s.api.core.v1.EnvVar"
        );
        let ext = |schema: &[u8], name: &str| text(&named(schema, 31, name), 2);
        assert_eq!(ext(&env, "x-kubernetes-patch-merge-key"), "name\n");
        assert_eq!(ext(&env, "x-kubernetes-patch-strategy"), "merge\n");
        assert_eq!(ext(&env, "x-kubernetes-list-type"), "map\n");
        assert_eq!(ext(&env, "x-kubernetes-list-map-keys"), "- name\n");
        assert_eq!(
            ext(&deploy, "x-kubernetes-group-version-kind"),
            "- group: apps\n  kind: Deployment\n  version: v1\n"
        );

        let replicas = named(&props, 1, "replicas");
        assert_eq!(text(&replicas, 2), "int32");
        let minimum = decode(&replicas)
            .into_iter()
            .find(|(f, _)| *f == 9)
            .unwrap()
            .1;
        assert_eq!(minimum, Wire::Fixed64((-1.5f64).to_bits()));
        assert_eq!(varint_field(&replicas, 11), 7);

        // Security definitions (13) and requirements (12).
        let bearer = named(&one(&pb, 13), 1, "BearerToken");
        let api_key = one(&bearer, 2);
        assert_eq!(text(&api_key, 1), "apiKey");
        assert_eq!(text(&api_key, 2), "authorization");
        assert_eq!(text(&api_key, 3), "header");
        let requirement = all(&pb, 12);
        assert_eq!(requirement.len(), 1);
        let scopes = named(&requirement[0], 1, "BearerToken");
        assert!(scopes.is_empty());
    }

    #[test]
    fn paths_operations_and_parameter_oneofs() {
        let pb = encode_document(&tiny()).unwrap();
        let item = named(
            &one(&pb, 8),
            2,
            "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
        );
        // Path-level parameter: ParametersItem.parameter -> Parameter.non_body -> path (4).
        let path_param = one(&one(&one(&one(&item, 9), 1), 2), 4);
        assert_eq!(varint_field(&path_param, 1), 1);
        assert_eq!(text(&path_param, 2), "path");
        assert_eq!(text(&path_param, 4), "name");
        assert_eq!(text(&path_param, 5), "string");
        assert_eq!(varint_field(&path_param, 19), 1);

        let patch = one(&item, 8);
        assert_eq!(all(&patch, 1), vec![b"apps_v1".to_vec()]);
        assert_eq!(text(&patch, 5), "patchAppsV1NamespacedDeployment");
        let params = all(&patch, 8);
        assert_eq!(params.len(), 2);
        let body = one(&one(&params[0], 1), 1);
        assert_eq!(text(&body, 2), "body");
        assert_eq!(text(&body, 3), "body");
        assert_eq!(varint_field(&body, 4), 1);
        assert_eq!(
            text(&one(&body, 5), 1),
            "#/definitions/io.k8s.api.apps.v1.Deployment"
        );
        let query = one(&one(&one(&params[1], 1), 2), 3);
        assert_eq!(text(&query, 2), "query");
        assert_eq!(text(&query, 4), "fieldValidation");
        assert_eq!(text(&query, 6), "string");
        assert_eq!(varint_field(&query, 20), 1);

        let responses = one(&patch, 9);
        let ok = one(&named(&responses, 1, "200"), 1);
        assert_eq!(text(&ok, 1), "OK");
        let ok_schema = one(&one(&ok, 2), 1);
        assert_eq!(
            text(&ok_schema, 1),
            "#/definitions/io.k8s.api.apps.v1.Deployment"
        );
        let unauthorized = one(&named(&responses, 1, "401"), 1);
        assert!(all(&unauthorized, 2).is_empty());

        assert_eq!(
            text(&named(&patch, 13, "x-kubernetes-group-version-kind"), 2),
            "group: apps\nkind: Deployment\nversion: v1\n"
        );
        assert_eq!(
            text(&named(&patch, 13, "x-kubernetes-action"), 2),
            "patch\n"
        );
    }

    #[test]
    fn our_v2_document_encodes() {
        let pb = v2_document_protobuf();
        assert!(pb.len() > 100_000, "{}", pb.len());
        let doc = openapi::v2_document();
        let defs = one(pb, 9);
        assert_eq!(
            all(&defs, 1).len(),
            doc["definitions"].as_object().unwrap().len()
        );
        let paths = all(&one(pb, 8), 2);
        assert_eq!(paths.len(), doc["paths"].as_object().unwrap().len());
        let deploy = named(&defs, 1, "io.k8s.api.apps.v1.Deployment");
        assert!(
            text(&named(&deploy, 31, "x-kubernetes-group-version-kind"), 2)
                .contains("- group: apps\n  kind: Deployment\n  version: v1\n")
        );
    }

    #[test]
    fn shape_errors_name_the_place() {
        let err = encode_document(&json!({"swagger": "2.0", "info": {"title": 3}})).unwrap_err();
        assert_eq!(
            err,
            Error::Type {
                path: "/info/title".into(),
                expected: "a string"
            }
        );
        let err = encode_document(&json!({
            "definitions": {"a/b": {"type": "object", "nullable": true}}
        }))
        .unwrap_err();
        assert_eq!(
            err,
            Error::UnknownKey {
                path: "/definitions/a~1b".into(),
                key: "nullable".into()
            }
        );
    }

    #[test]
    fn yaml_of_values() {
        assert_eq!(yaml(&json!(true)), "true\n");
        assert_eq!(yaml(&json!(3)), "3\n");
        assert_eq!(yaml(&json!("merge")), "merge\n");
        assert_eq!(yaml(&json!("retainKeys,merge")), "retainKeys,merge\n");
        assert_eq!(yaml(&json!("true")), "\"true\"\n");
        assert_eq!(yaml(&json!("No")), "\"No\"\n");
        assert_eq!(yaml(&json!("")), "\"\"\n");
        assert_eq!(yaml(&json!("1.5")), "\"1.5\"\n");
        assert_eq!(yaml(&json!("a: b")), "\"a: b\"\n");
        assert_eq!(yaml(&json!("line\nbreak")), "\"line\\nbreak\"\n");
        assert_eq!(yaml(&json!([])), "[]\n");
        assert_eq!(yaml(&json!({})), "{}\n");
        assert_eq!(
            yaml(&json!(["containerPort", "protocol"])),
            "- containerPort\n- protocol\n"
        );
        assert_eq!(
            yaml(&json!({"a": {"b": [1, {"c": "d", "e": []}], "f": [[1, 2]]}})),
            "a:\n  b:\n  - 1\n  - c: d\n    e: []\n  f:\n  - - 1\n    - 2\n"
        );
    }

    #[test]
    fn varints() {
        let mut out = Vec::new();
        put_varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        out.clear();
        put_i64(&mut out, 1, -1);
        assert_eq!(out.len(), 11);
        assert_eq!(varint(&out[1..], &mut 0), u64::MAX);
    }
}
