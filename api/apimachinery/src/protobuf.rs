//! Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) into
//! the JSON object the same client would have sent as JSON.
//!
//! A body is the magic `k8s\0` followed by a `runtime.Unknown` envelope: `typeMeta` (1, with
//! `apiVersion` 1 and `kind` 2), `raw` (2, the object's own protobuf encoding),
//! `contentEncoding` (3) and `contentType` (4). The object is decoded with the generated wire
//! schema in [`crate::protobuf_schema`] (see `gen/protobuf_schema.py`).
//!
//! Presence: Go's protobuf marshaller writes every non-pointer field, so `""`, `0` and `false`
//! arrive for fields the client never set. A zero scalar is kept only where Go's encoding/json
//! would have written it too: the Go field is a pointer (`replicas: 0`, `automountServiceAccountToken:
//! false`) or has no `omitempty` (`containerPort`, `port`); see `Field::keep_empty`. So the
//! result is the JSON body the same client sends in JSON mode: `nodePort: 0`, `paused: false` or
//! `restartPolicy: ""` do not appear, while non-pointer structs do (`resources: {}`,
//! `creationTimestamp: null`). Empty repeated fields and maps never appear. Unknown field
//! numbers (fields newer than the table) are skipped.

use serde_json::{Map, Number, Value};

use crate::protobuf_schema::{Card, Field, MESSAGES, Message, ROOTS, Ty};

/// The Kubernetes protobuf media type.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

const MAGIC: &[u8] = b"k8s\0";
const MAX_DEPTH: usize = 100;

/// Why a protobuf body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("protobuf body does not start with the Kubernetes magic prefix \"k8s\\x00\"")]
    BadMagic,
    #[error("truncated varint in protobuf body")]
    TruncatedVarint,
    #[error("varint in protobuf body is longer than 10 bytes")]
    VarintOverflow,
    #[error("truncated protobuf body: a field needs {needed} bytes but {left} remain")]
    Truncated { needed: u64, left: usize },
    #[error("invalid protobuf field number 0")]
    ZeroTag,
    #[error("unsupported protobuf wire type {wire_type} for {field}")]
    WireType { field: String, wire_type: u8 },
    #[error("protobuf field {field} is not valid UTF-8")]
    Utf8 { field: String },
    #[error("protobuf field {field} does not hold valid JSON: {reason}")]
    Json { field: String, reason: String },
    #[error("unsupported protobuf content encoding {0:?}")]
    ContentEncoding(String),
    #[error("unsupported content type {0:?} inside a protobuf envelope")]
    ContentType(String),
    #[error("the server could not decode protobuf for {api_version}/{kind}")]
    UnknownKind { api_version: String, kind: String },
    #[error("protobuf message nested more than {MAX_DEPTH} levels deep")]
    TooDeep,
}

/// Whether a `Content-Type` header names the Kubernetes protobuf encoding (parameters ignored).
pub fn is_protobuf(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(CONTENT_TYPE))
}

/// Decodes a Kubernetes protobuf body ("k8s\0" magic + runtime.Unknown envelope{typeMeta{apiVersion=1,kind=2}=1, raw=2, contentEncoding=3, contentType=4}) into the JSON object, with apiVersion and kind set from the envelope.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let envelope = body.strip_prefix(MAGIC).ok_or(ProtoError::BadMagic)?;
    let (mut api_version, mut kind) = (String::new(), String::new());
    let (mut raw, mut encoding, mut content_type): (&[u8], String, String) =
        (&[], "".into(), "".into());
    let mut r = Reader::new(envelope);
    while let Some((tag, wire)) = r.field()? {
        match tag {
            1 => {
                let mut t = Reader::new(wire.len("runtime.Unknown.typeMeta")?);
                while let Some((tag, wire)) = t.field()? {
                    match tag {
                        1 => api_version = wire.string("runtime.TypeMeta.apiVersion")?,
                        2 => kind = wire.string("runtime.TypeMeta.kind")?,
                        _ => {}
                    }
                }
            }
            2 => raw = wire.len("runtime.Unknown.raw")?,
            3 => encoding = wire.string("runtime.Unknown.contentEncoding")?,
            4 => content_type = wire.string("runtime.Unknown.contentType")?,
            _ => {}
        }
    }
    if !encoding.is_empty() {
        return Err(ProtoError::ContentEncoding(encoding));
    }
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::String(api_version.clone()));
    out.insert("kind".into(), Value::String(kind.clone()));
    if !content_type.is_empty() && !is_protobuf(&content_type) {
        let json = content_type.split(';').next().unwrap_or("").trim();
        if !json.eq_ignore_ascii_case("application/json") {
            return Err(ProtoError::ContentType(content_type));
        }
        let value: Value = serde_json::from_slice(raw).map_err(|e| ProtoError::Json {
            field: "runtime.Unknown.raw".into(),
            reason: e.to_string(),
        })?;
        let Value::Object(fields) = value else {
            return Err(ProtoError::Json {
                field: "runtime.Unknown.raw".into(),
                reason: "not a JSON object".into(),
            });
        };
        for (k, v) in fields {
            if k != "apiVersion" && k != "kind" {
                out.insert(k, v);
            }
        }
        return Ok(Value::Object(out));
    }
    let root =
        root_message(&api_version, &kind).ok_or(ProtoError::UnknownKind { api_version, kind })?;
    decode_message(raw, root, 0, &mut out)?;
    Ok(Value::Object(out))
}

/// The message index of a top-level kind. DeleteOptions is accepted under any apiVersion, as
/// clients send it with the group version of the resource being deleted.
fn root_message(api_version: &str, kind: &str) -> Option<usize> {
    ROOTS
        .iter()
        .find(|(v, k, _)| *k == kind && (*v == api_version || kind == "DeleteOptions"))
        .map(|&(_, _, id)| usize::from(id))
}

/// Decodes the fields of message `id` from `buf` into `out`.
fn decode_message(
    buf: &[u8],
    id: usize,
    depth: usize,
    out: &mut Map<String, Value>,
) -> Result<(), ProtoError> {
    if depth > MAX_DEPTH {
        return Err(ProtoError::TooDeep);
    }
    let msg = &MESSAGES[id];
    let mut r = Reader::new(buf);
    while let Some((tag, wire)) = r.field()? {
        let Ok(i) = msg.fields.binary_search_by_key(&tag, |f| f.tag) else {
            continue;
        };
        let field = &msg.fields[i];
        let ctx = Ctx { msg, field };
        match field.card {
            Card::One => {
                if !field.keep_empty && is_zero(field.ty, wire) {
                    continue;
                }
                out.insert(field.json.into(), value(field.ty, wire, ctx, depth)?);
            }
            Card::Many => {
                let slot = out
                    .entry(field.json)
                    .or_insert_with(|| Value::Array(Vec::new()));
                let Value::Array(items) = slot else {
                    continue;
                };
                match (field.ty, wire) {
                    (Ty::I32 | Ty::I64 | Ty::Bool, Wire::Len(packed)) => {
                        let mut p = Reader::new(packed);
                        while !p.done() {
                            items.push(value(field.ty, Wire::Varint(p.varint()?), ctx, depth)?);
                        }
                    }
                    (Ty::F64, Wire::Len(packed)) => {
                        let mut p = Reader::new(packed);
                        while !p.done() {
                            items.push(value(field.ty, Wire::Fixed64(p.fixed64()?), ctx, depth)?);
                        }
                    }
                    _ => items.push(value(field.ty, wire, ctx, depth)?),
                }
            }
            Card::Map => {
                let mut e = Reader::new(wire.len(&ctx.name())?);
                let (mut key, mut val) = (String::new(), None);
                while let Some((tag, wire)) = e.field()? {
                    match tag {
                        1 => key = wire.string(&ctx.name())?,
                        2 => val = Some(wire),
                        _ => {}
                    }
                }
                let val = val.unwrap_or(match field.ty {
                    Ty::I32 | Ty::I64 | Ty::Bool => Wire::Varint(0),
                    Ty::F64 => Wire::Fixed64(0),
                    _ => Wire::Len(&[]),
                });
                let v = value(field.ty, val, ctx, depth)?;
                if let Value::Object(map) = out
                    .entry(field.json)
                    .or_insert_with(|| Value::Object(Map::new()))
                {
                    map.insert(key, v);
                }
            }
            Card::Inline => {
                let Ty::Msg(inner) = field.ty else {
                    continue;
                };
                decode_message(wire.len(&ctx.name())?, usize::from(inner), depth + 1, out)?;
            }
        }
    }
    Ok(())
}

/// Whether a scalar wire value is its type's zero (`""`, `0`, `false`, empty bytes).
fn is_zero(ty: Ty, wire: Wire<'_>) -> bool {
    match (ty, wire) {
        (Ty::Str | Ty::Bytes, Wire::Len(b)) => b.is_empty(),
        (Ty::I32, Wire::Varint(v)) => v as i32 == 0,
        (Ty::I64 | Ty::Bool, Wire::Varint(v)) => v == 0,
        (Ty::F64, Wire::Fixed64(bits)) => f64::from_bits(bits) == 0.0,
        _ => false,
    }
}

/// The field being decoded, for error messages.
#[derive(Clone, Copy)]
struct Ctx {
    msg: &'static Message,
    field: &'static Field,
}

impl Ctx {
    fn name(&self) -> String {
        format!("{}.{}", self.msg.name, self.field.json)
    }
}

/// Converts one wire value of type `ty` to JSON.
fn value(ty: Ty, wire: Wire<'_>, ctx: Ctx, depth: usize) -> Result<Value, ProtoError> {
    let name = || ctx.name();
    Ok(match ty {
        Ty::Str => Value::String(wire.string(&name())?),
        // Truncation to the low 32 bits is how proto decodes a (sign-extended) int32.
        Ty::I32 => Value::from(wire.varint(&name())? as i32),
        Ty::I64 => Value::from(wire.varint(&name())? as i64),
        Ty::Bool => Value::Bool(wire.varint(&name())? != 0),
        Ty::F64 => match wire {
            Wire::Fixed64(bits) => {
                Number::from_f64(f64::from_bits(bits)).map_or(Value::Null, Value::Number)
            }
            other => return Err(other.wrong(&name())),
        },
        Ty::Bytes => Value::String(base64(wire.len(&name())?)),
        Ty::Msg(id) => {
            let mut map = Map::new();
            decode_message(wire.len(&name())?, usize::from(id), depth + 1, &mut map)?;
            Value::Object(map)
        }
        Ty::Time | Ty::MicroTime => {
            let buf = wire.len(&name())?;
            if buf.is_empty() {
                return Ok(Value::Null);
            }
            let (mut seconds, mut nanos) = (0i64, 0i64);
            let mut r = Reader::new(buf);
            while let Some((tag, wire)) = r.field()? {
                match tag {
                    1 => seconds = wire.varint(&name())? as i64,
                    2 => nanos = i64::from(wire.varint(&name())? as i32),
                    _ => {}
                }
            }
            // Time is truncated to whole seconds, as Kubernetes does when decoding it.
            let micros = (ty == Ty::MicroTime).then_some(nanos.clamp(0, 999_999_999) / 1000);
            Value::String(rfc3339(seconds, micros))
        }
        Ty::Duration => {
            let mut nanos = 0i64;
            let mut r = Reader::new(wire.len(&name())?);
            while let Some((tag, wire)) = r.field()? {
                if tag == 1 {
                    nanos = wire.varint(&name())? as i64;
                }
            }
            Value::String(go_duration(nanos))
        }
        Ty::Quantity => {
            let mut s = String::new();
            let mut r = Reader::new(wire.len(&name())?);
            while let Some((tag, wire)) = r.field()? {
                if tag == 1 {
                    s = wire.string(&name())?;
                }
            }
            if s.is_empty() {
                s.push('0');
            }
            Value::String(s)
        }
        Ty::IntOrString => {
            let (mut is_string, mut int_val, mut str_val) = (false, 0i32, String::new());
            let mut r = Reader::new(wire.len(&name())?);
            while let Some((tag, wire)) = r.field()? {
                match tag {
                    1 => is_string = wire.varint(&name())? == 1,
                    2 => int_val = wire.varint(&name())? as i32,
                    3 => str_val = wire.string(&name())?,
                    _ => {}
                }
            }
            if is_string {
                Value::String(str_val)
            } else {
                Value::from(int_val)
            }
        }
        Ty::StrList => {
            let mut items = Vec::new();
            let mut r = Reader::new(wire.len(&name())?);
            while let Some((tag, wire)) = r.field()? {
                if tag == 1 {
                    items.push(Value::String(wire.string(&name())?));
                }
            }
            Value::Array(items)
        }
        Ty::RawExtension | Ty::FieldsV1 => {
            let mut raw: &[u8] = &[];
            let mut r = Reader::new(wire.len(&name())?);
            while let Some((tag, wire)) = r.field()? {
                if tag == 1 {
                    raw = wire.len(&name())?;
                }
            }
            if raw.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(raw).map_err(|e| ProtoError::Json {
                    field: name(),
                    reason: e.to_string(),
                })?
            }
        }
    })
}

/// One field's payload as read off the wire.
#[derive(Clone, Copy, Debug)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32,
    Len(&'a [u8]),
}

impl<'a> Wire<'a> {
    fn wrong(self, field: &str) -> ProtoError {
        let wire_type = match self {
            Wire::Varint(_) => 0,
            Wire::Fixed64(_) => 1,
            Wire::Len(_) => 2,
            Wire::Fixed32 => 5,
        };
        ProtoError::WireType {
            field: field.into(),
            wire_type,
        }
    }

    fn varint(self, field: &str) -> Result<u64, ProtoError> {
        match self {
            Wire::Varint(v) => Ok(v),
            other => Err(other.wrong(field)),
        }
    }

    fn len(self, field: &str) -> Result<&'a [u8], ProtoError> {
        match self {
            Wire::Len(b) => Ok(b),
            other => Err(other.wrong(field)),
        }
    }

    fn string(self, field: &str) -> Result<String, ProtoError> {
        let bytes = self.len(field)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| ProtoError::Utf8 {
            field: field.into(),
        })
    }
}

/// A cursor over protobuf bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut v = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(ProtoError::TruncatedVarint);
            };
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ProtoError::VarintOverflow)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], ProtoError> {
        let left = self.buf.len() - self.pos;
        match usize::try_from(n) {
            Ok(n) if n <= left => {
                let out = &self.buf[self.pos..self.pos + n];
                self.pos += n;
                Ok(out)
            }
            _ => Err(ProtoError::Truncated { needed: n, left }),
        }
    }

    fn fixed64(&mut self) -> Result<u64, ProtoError> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    }

    /// The next field's number and payload, or `None` at the end.
    fn field(&mut self) -> Result<Option<(u32, Wire<'a>)>, ProtoError> {
        if self.done() {
            return Ok(None);
        }
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3).map_err(|_| ProtoError::ZeroTag)?;
        if tag == 0 {
            return Err(ProtoError::ZeroTag);
        }
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed64(self.fixed64()?),
            2 => {
                let n = self.varint()?;
                Wire::Len(self.take(n)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed32
            }
            other => {
                return Err(ProtoError::WireType {
                    field: format!("field {tag}"),
                    wire_type: other as u8,
                });
            }
        };
        Ok(Some((tag, wire)))
    }
}

/// Standard base64 with padding, as Go's encoding/json writes `[]byte`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
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

/// `2026-01-02T03:04:05Z`, or with `.000123` microseconds.
fn rfc3339(seconds: i64, micros: Option<i64>) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match micros {
        Some(us) => format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{us:06}Z"),
        None => format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z"),
    }
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
fn go_duration(nanos: i64) -> String {
    fn frac(u: u64, prec: u32) -> (String, u64) {
        let p = 10u64.pow(prec);
        let f = u % p;
        if f == 0 {
            return (String::new(), u / p);
        }
        let digits = format!("{f:0width$}", width = prec as usize);
        (format!(".{}", digits.trim_end_matches('0')), u / p)
    }
    if nanos == 0 {
        return "0s".into();
    }
    let u = nanos.unsigned_abs();
    let s = if u < 1_000_000_000 {
        let (unit, prec) = match u {
            0..1_000 => ("ns", 0),
            1_000..1_000_000 => ("µs", 3),
            _ => ("ms", 6),
        };
        let (f, i) = frac(u, prec);
        format!("{i}{f}{unit}")
    } else {
        let (f, secs) = frac(u, 9);
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if h > 0 {
            format!("{h}h{m}m{s}{f}s")
        } else if m > 0 {
            format!("{m}m{s}{f}s")
        } else {
            format!("{s}{f}s")
        }
    };
    if nanos < 0 { format!("-{s}") } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // A tiny protobuf encoder: each helper returns one encoded field.
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn vi(tag: u32, v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        varint(u64::from(tag) << 3, &mut out);
        varint(v, &mut out);
        out
    }
    fn ld(tag: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(u64::from(tag) << 3 | 2, &mut out);
        varint(payload.len() as u64, &mut out);
        out.extend_from_slice(payload);
        out
    }
    fn s(tag: u32, v: &str) -> Vec<u8> {
        ld(tag, v.as_bytes())
    }
    fn m(tag: u32, fields: &[Vec<u8>]) -> Vec<u8> {
        ld(tag, &fields.concat())
    }
    fn entry(tag: u32, key: &str, value: &[u8]) -> Vec<u8> {
        m(tag, &[s(1, key), ld(2, value)])
    }
    fn body(api_version: &str, kind: &str, raw: &[Vec<u8>]) -> Vec<u8> {
        let unknown = [
            m(1, &[s(1, api_version), s(2, kind)]),
            ld(2, &raw.concat()),
            s(3, ""),
            s(4, ""),
        ];
        [MAGIC.to_vec(), unknown.concat()].concat()
    }
    /// ObjectMeta as Go marshals it: every non-pointer field written, zero or not.
    fn meta(name: &str, namespace: &str, labels: &[(&str, &str)]) -> Vec<u8> {
        let mut f = vec![
            s(1, name),
            s(2, ""),
            s(3, namespace),
            s(4, ""),
            s(5, ""),
            s(6, ""),
        ];
        f.push(vi(7, 0));
        f.push(ld(8, &[]));
        for (k, v) in labels {
            f.push(entry(11, k, v.as_bytes()));
        }
        m(1, &f)
    }
    fn int_or_string_int(tag: u32, v: u64) -> Vec<u8> {
        m(tag, &[vi(1, 0), vi(2, v), s(3, "")])
    }
    fn int_or_string_str(tag: u32, v: &str) -> Vec<u8> {
        m(tag, &[vi(1, 1), vi(2, 0), s(3, v)])
    }

    #[test]
    fn configmap_with_labels_and_data() {
        let b = body(
            "v1",
            "ConfigMap",
            &[
                meta("cfg", "default", &[("app", "web"), ("tier", "")]),
                entry(2, "a", b"1"),
                entry(2, "empty", b""),
                entry(2, "z", b"last"),
            ],
        );
        assert_eq!(
            decode(&b).unwrap(),
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": "cfg",
                    "namespace": "default",
                    "creationTimestamp": null,
                    "labels": {"app": "web", "tier": ""}
                },
                "data": {"a": "1", "empty": "", "z": "last"}
            })
        );
    }

    #[test]
    fn secret_bytes_are_base64() {
        let b = body(
            "v1",
            "Secret",
            &[
                meta("sec", "", &[]),
                entry(2, "password", b"s3cr3t"),
                entry(2, "bin", &[0, 0xff, 0xfe, 0x01]),
                entry(2, "none", b""),
                s(3, "Opaque"),
                vi(5, 0), // immutable is *bool: an explicit false survives
            ],
        );
        assert_eq!(
            decode(&b).unwrap(),
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "sec", "creationTimestamp": null},
                "data": {"password": "czNjcjN0", "bin": "AP/+AQ==", "none": ""},
                "type": "Opaque",
                "immutable": false
            })
        );
    }

    #[test]
    fn deployment_with_zero_replicas_ports_and_int_or_string() {
        let container = |name: &str, image: &str, port: u64| {
            m(
                2,
                &[
                    s(1, name),
                    s(2, image),
                    s(5, ""),
                    m(6, &[s(1, ""), vi(2, 0), vi(3, port), s(4, "TCP"), s(5, "")]),
                    m(8, &[]),
                    s(13, ""),
                    vi(16, 0),
                ],
            )
        };
        let spec = m(
            2,
            &[
                vi(1, 0),
                m(2, &[entry(1, "app", b"web")]),
                m(
                    3,
                    &[
                        meta("", "", &[("app", "web")]),
                        m(
                            2,
                            &[
                                container("web", "nginx:1.27", 80),
                                container("sidecar", "envoy", 0),
                                s(3, ""),
                                vi(11, 0),
                            ],
                        ),
                    ],
                ),
                m(
                    4,
                    &[
                        s(1, "RollingUpdate"),
                        m(2, &[int_or_string_int(1, 0), int_or_string_str(2, "25%")]),
                    ],
                ),
                vi(5, 0),
                vi(7, 0),
            ],
        );
        let b = body(
            "apps/v1",
            "Deployment",
            &[meta("web", "prod", &[]), spec, m(3, &[vi(1, 0)])],
        );
        let port = |p: u64| json!({"containerPort": p, "protocol": "TCP"});
        assert_eq!(
            decode(&b).unwrap(),
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "prod", "creationTimestamp": null},
                "spec": {
                    "replicas": 0,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                        "spec": {
                            "containers": [
                                {"name": "web", "image": "nginx:1.27", "ports": [port(80)], "resources": {}},
                                {"name": "sidecar", "image": "envoy", "ports": [port(0)], "resources": {}}
                            ]
                        }
                    },
                    "strategy": {
                        "type": "RollingUpdate",
                        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}
                    }
                },
                "status": {}
            })
        );
    }

    #[test]
    fn service_with_int_target_port() {
        let b = body(
            "v1",
            "Service",
            &[
                meta("api", "", &[]),
                m(
                    2,
                    &[
                        m(
                            1,
                            &[
                                s(1, "http"),
                                s(2, "TCP"),
                                vi(3, 80),
                                int_or_string_int(4, 8080),
                                vi(5, 0),
                            ],
                        ),
                        entry(2, "app", b"api"),
                        s(3, ""),
                        s(4, "ClusterIP"),
                        s(18, "10.0.0.1"),
                        s(18, "fd00::1"),
                    ],
                ),
            ],
        );
        assert_eq!(
            decode(&b).unwrap(),
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "api", "creationTimestamp": null},
                "spec": {
                    "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                    "selector": {"app": "api"},
                    "type": "ClusterIP",
                    "clusterIPs": ["10.0.0.1", "fd00::1"]
                }
            })
        );
    }

    /// Bodies captured from kubectl v1.33.1 (`kubectl create ...` against a stub server) decode
    /// to exactly the JSON kubectl prints for the same command with `--dry-run=client -o json`.
    #[test]
    fn real_kubectl_bodies_match_kubectl_json() {
        macro_rules! fixture {
            ($name:literal) => {
                (
                    $name,
                    &include_bytes!(concat!(
                        "../tests/fixtures/kubectl-1.33-create-",
                        $name,
                        ".pb"
                    ))[..],
                    include_str!(concat!(
                        "../tests/fixtures/kubectl-1.33-create-",
                        $name,
                        ".json"
                    )),
                )
            };
        }
        for (name, pb, json) in [
            fixture!("deployment"),
            fixture!("configmap"),
            fixture!("secret"),
            fixture!("service"),
            fixture!("job"),
            fixture!("pdb"),
        ] {
            let want: Value = serde_json::from_str(json).unwrap();
            assert_eq!(decode(pb).unwrap(), want, "{name}");
        }
    }

    #[test]
    fn inline_structs_quantities_times_and_raw_json() {
        // Pod: Volume{name, VolumeSource inline{configMap{LocalObjectReference inline{name}}}},
        // Probe{ProbeHandler inline{httpGet{path, port}}}, PodSecurityContext supplementalGroups.
        let pod_spec = m(
            2,
            &[
                m(
                    1,
                    &[
                        s(1, "cfg"),
                        m(2, &[m(19, &[m(1, &[s(1, "app-config")]), vi(3, 420)])]),
                    ],
                ),
                m(
                    2,
                    &[
                        s(1, "app"),
                        m(
                            10,
                            &[
                                m(
                                    1,
                                    &[m(2, &[s(1, "/healthz"), int_or_string_str(2, "http")])],
                                ),
                                vi(2, 5),
                            ],
                        ),
                    ],
                ),
                m(14, &[vi(2, 0), ld(4, &[1, 2, 0x80, 0x01]), vi(4, 7)]),
            ],
        );
        let managed = m(
            17,
            &[
                s(1, "kubectl"),
                s(2, "Update"),
                m(4, &[vi(1, 1_767_323_045), vi(2, 999)]),
                s(6, "FieldsV1"),
                m(7, &[ld(1, br#"{"f:metadata":{}}"#)]),
            ],
        );
        let b = body("v1", "Pod", &[m(1, &[s(1, "p"), managed]), pod_spec]);
        assert_eq!(
            decode(&b).unwrap(),
            json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": "p",
                    "managedFields": [{
                        "manager": "kubectl",
                        "operation": "Update",
                        "time": "2026-01-02T03:04:05Z",
                        "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:metadata": {}}
                    }]
                },
                "spec": {
                    "volumes": [{"name": "cfg", "configMap": {"name": "app-config", "defaultMode": 420}}],
                    "containers": [{
                        "name": "app",
                        "livenessProbe": {
                            "httpGet": {"path": "/healthz", "port": "http"},
                            "initialDelaySeconds": 5
                        }
                    }],
                    "securityContext": {"runAsUser": 0, "supplementalGroups": [1, 2, 128, 7]}
                }
            })
        );

        let quota = body(
            "v1",
            "ResourceQuota",
            &[m(
                2,
                &[
                    m(1, &[s(1, "cpu"), m(2, &[s(1, "500m")])]),
                    m(1, &[s(1, "pods"), m(2, &[])]),
                ],
            )],
        );
        assert_eq!(
            decode(&quota).unwrap(),
            json!({"apiVersion": "v1", "kind": "ResourceQuota", "spec": {"hard": {"cpu": "500m", "pods": "0"}}})
        );

        let revision = body(
            "apps/v1",
            "ControllerRevision",
            &[m(2, &[ld(1, br#"{"spec":{"replicas":2}}"#)]), vi(3, 4)],
        );
        assert_eq!(
            decode(&revision).unwrap(),
            json!({
                "apiVersion": "apps/v1",
                "kind": "ControllerRevision",
                "data": {"spec": {"replicas": 2}},
                "revision": 4
            })
        );

        let event = body(
            "v1",
            "Event",
            &[
                s(3, "Started"),
                m(6, &[vi(1, 0)]),
                m(10, &[vi(1, 1_767_323_045), vi(2, 123_456_789)]),
                vi(8, u64::MAX), // int32 -1, sign-extended to ten bytes
            ],
        );
        assert_eq!(
            decode(&event).unwrap(),
            json!({
                "apiVersion": "v1",
                "kind": "Event",
                "reason": "Started",
                "firstTimestamp": "1970-01-01T00:00:00Z",
                "eventTime": "2026-01-02T03:04:05.123456Z",
                "count": -1
            })
        );
    }

    #[test]
    fn delete_options_scale_and_unknown_fields() {
        let b = body(
            "apps/v1",
            "DeleteOptions",
            &[
                vi(1, 0),
                s(4, "Foreground"),
                s(5, "All"),
                vi(99, 1),
                s(100, "ignored"),
            ],
        );
        assert_eq!(
            decode(&b).unwrap(),
            json!({
                "apiVersion": "apps/v1",
                "kind": "DeleteOptions",
                "gracePeriodSeconds": 0,
                "propagationPolicy": "Foreground",
                "dryRun": ["All"]
            })
        );
        // autoscaling/v1 ScaleSpec.replicas is a plain `int32 omitempty`: Go's JSON drops a
        // zero, and Kubernetes reads the absent field as 0.
        for (replicas, spec) in [(0, json!({})), (3, json!({"replicas": 3}))] {
            let scale = body(
                "autoscaling/v1",
                "Scale",
                &[meta("web", "default", &[]), m(2, &[vi(1, replicas)])],
            );
            assert_eq!(
                decode(&scale).unwrap(),
                json!({
                    "apiVersion": "autoscaling/v1",
                    "kind": "Scale",
                    "metadata": {"name": "web", "namespace": "default", "creationTimestamp": null},
                    "spec": spec
                })
            );
        }
    }

    #[test]
    fn self_reviews() {
        // `kubectl auth can-i create pods`: Go writes every non-pointer field of the spec.
        let attrs = m(
            1,
            &[
                s(1, "default"),
                s(2, "create"),
                s(3, ""),
                s(4, ""),
                s(5, "pods"),
                s(6, ""),
                s(7, ""),
            ],
        );
        let b = body(
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview",
            &[
                meta("", "", &[]),
                m(2, &[attrs]),
                m(3, &[vi(1, 0), s(2, ""), s(3, ""), vi(4, 0)]),
            ],
        );
        assert_eq!(
            decode(&b).unwrap(),
            json!({
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "metadata": {"creationTimestamp": null},
                "spec": {"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "pods"}},
                "status": {"allowed": false},
            })
        );
        let b = body(
            "authorization.k8s.io/v1",
            "SelfSubjectRulesReview",
            &[meta("", "", &[]), m(2, &[s(1, "default")])],
        );
        assert_eq!(decode(&b).unwrap()["spec"], json!({"namespace": "default"}));
        // `ExtraValue` is a `[]string` wrapped in a message.
        let user = m(
            1,
            &[
                s(1, "kumo-admin"),
                s(3, "system:masters"),
                entry(4, "scopes", &[s(1, "a"), s(1, "b")].concat()),
            ],
        );
        let b = body(
            "authentication.k8s.io/v1",
            "SelfSubjectReview",
            &[meta("", "", &[]), m(2, &[user])],
        );
        assert_eq!(
            decode(&b).unwrap()["status"],
            json!({"userInfo": {"username": "kumo-admin", "groups": ["system:masters"], "extra": {"scopes": ["a", "b"]}}})
        );
    }

    #[test]
    fn every_registered_kind_has_a_schema() {
        for r in crate::resources::RESOURCES {
            let api_version = if r.group.is_empty() {
                r.version.to_string()
            } else {
                format!("{}/{}", r.group, r.version)
            };
            let b = body(&api_version, r.kind, &[]);
            let got = decode(&b).unwrap_or_else(|e| panic!("{api_version} {}: {e}", r.kind));
            assert_eq!(got, json!({"apiVersion": api_version, "kind": r.kind}));
        }
    }

    #[test]
    fn json_inside_the_envelope() {
        let unknown = [
            m(1, &[s(1, "v1"), s(2, "ConfigMap")]),
            ld(2, br#"{"metadata":{"name":"x"}}"#),
            s(4, "application/json"),
        ];
        let b = [MAGIC.to_vec(), unknown.concat()].concat();
        assert_eq!(
            decode(&b).unwrap(),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
        );
    }

    #[test]
    fn errors() {
        assert_eq!(decode(b"{\"kind\":\"Pod\"}"), Err(ProtoError::BadMagic));
        assert_eq!(decode(b"k8s\0\x0a\x80"), Err(ProtoError::TruncatedVarint));
        assert!(matches!(
            decode(b"k8s\0\x12\x05ab"),
            Err(ProtoError::Truncated { needed: 5, left: 2 })
        ));
        let err = decode(&body("example.com/v1", "Widget", &[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the server could not decode protobuf for example.com/v1/Widget"
        );
        // A string where ConfigMap.data expects a map entry of strings: bad UTF-8.
        let bad = body("v1", "ConfigMap", &[entry(2, "k", &[0xff])]);
        assert!(matches!(decode(&bad), Err(ProtoError::Utf8 { .. })));
        // metadata (a message) sent as a varint.
        let wrong = body("v1", "ConfigMap", &[vi(1, 3)]);
        assert!(matches!(
            decode(&wrong),
            Err(ProtoError::WireType { wire_type: 0, .. })
        ));
        let mut deep = Vec::new();
        for _ in 0..200 {
            deep = ld(50, &deep);
        }
        let nested = body("v1", "ConfigMap", &[ld(1, &[]), deep]);
        assert!(
            decode(&nested).is_ok(),
            "unknown nesting is skipped, not recursed"
        );
        let mut gzip = body("v1", "ConfigMap", &[]);
        gzip.extend(s(3, "gzip"));
        assert_eq!(
            decode(&gzip),
            Err(ProtoError::ContentEncoding("gzip".into()))
        );
    }

    #[test]
    fn content_types() {
        assert!(is_protobuf("application/vnd.kubernetes.protobuf"));
        assert!(is_protobuf(
            "Application/VND.Kubernetes.Protobuf ; charset=utf-8"
        ));
        assert!(!is_protobuf("application/json"));
        assert!(!is_protobuf("application/vnd.kubernetes.protobuf+json"));
    }

    #[test]
    fn formatting_helpers() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(rfc3339(0, None), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400, None), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1, Some(5)), "1969-12-31T23:59:59.000005Z");
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(999), "999ns");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(1_500_000), "1.5ms");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(3_723_500_000_000), "1h2m3.5s");
        assert_eq!(go_duration(-2_000_000_000), "-2s");
    }
}
