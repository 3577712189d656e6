#!/usr/bin/env python3
"""Generates api/apimachinery/src/protobuf_schema.rs: the Kubernetes protobuf wire schema
(field numbers and wire types) of every served kind, joined with the Kubernetes JSON field names.

Sources (both read from the local cargo registry, nothing is downloaded):
  * k8s-pb        prost-generated Rust bindings of the Kubernetes .proto files:
                  field numbers, proto types, repeated/map cardinality, message references.
  * k8s-openapi   generated from the Kubernetes OpenAPI document: the JSON field names
                  (`"volumeID" => Field::Key_volume_id,`) and which fields are required.
  * kubectl       (optional) a kubectl binary of the same Kubernetes minor version: the Go
                  runtime type descriptors of the k8s.io/api structs give, per field, its
                  `json:",omitempty"` tag and whether it is a pointer, which decides whether a
                  zero value on the wire (Go writes every non-pointer field) is emitted. Without
                  it, strings keep `""` only when OpenAPI-required and numbers/bools always keep 0.
                  Found as $KUBECTL, or `kubectl.1.<minor>` beside / `kubectl` itself on $PATH.
The kinds come from api/apimachinery/src/resources.rs (every `res!(...)` row, the reviews too), plus
meta/v1 DeleteOptions and autoscaling/v1 Scale.

Usage, from the repository root:
    python3 api/apimachinery/gen/protobuf_schema.py
Options: --k8s-pb DIR, --k8s-openapi DIR (crate roots), --openapi-version v1_33,
--kubectl BINARY, --out FILE. The output is formatted with `rustfmt --edition 2024`.
By default k8s-openapi is located with `cargo metadata --format-version 1` (the version this
workspace uses) and k8s-pb with the registry glob ~/.cargo/registry/src/*/k8s-pb-* (newest).
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
APIMACHINERY = os.path.join(REPO_ROOT, "api", "apimachinery")

# Messages with a custom JSON form, keyed by (module path, proto message name).
META = ("apimachinery", "pkg", "apis", "meta", "v1")
SPECIAL = {
    META + ("Time",): "Time",
    META + ("MicroTime",): "MicroTime",
    META + ("Duration",): "Duration",
    META + ("FieldsV1",): "FieldsV1",
    ("apimachinery", "pkg", "api", "resource", "Quantity"): "Quantity",
    ("apimachinery", "pkg", "util", "intstr", "IntOrString"): "IntOrString",
    ("apimachinery", "pkg", "runtime", "RawExtension"): "RawExtension",
    # `type ExtraValue []string`: on the wire a message `{repeated string items = 1}`.
    ("api", "authentication", "v1", "ExtraValue"): "StrList",
    ("api", "authorization", "v1", "ExtraValue"): "StrList",
}

# Extra roots beyond resources.rs: (apiVersion, kind, module path).
EXTRA_ROOTS = [
    ("meta.k8s.io/v1", "DeleteOptions", META),
    ("autoscaling/v1", "Scale", ("api", "autoscaling", "v1")),
]

SCALARS = {
    "string": "Str",
    "int32": "I32",
    "int64": "I64",
    "bool": "Bool",
    "double": "F64",
    'bytes = "vec"': "Bytes",
    "bytes": "Bytes",
}


def die(msg):
    sys.stderr.write("protobuf_schema.py: " + msg + "\n")
    sys.exit(1)


def crate_version(root):
    m = re.search(r"-(\d+\.\d+\.\d+[^/]*)$", root.rstrip("/"))
    return m.group(1) if m else "unknown"


def locate_openapi():
    try:
        out = subprocess.run(
            ["cargo", "metadata", "--format-version", "1"],
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        meta = json.loads(out)
        by_id = {p["id"]: p for p in meta["packages"]}
        mach = next(p for p in meta["packages"] if p["name"] == "kumo-apimachinery")
        node = next(n for n in meta["resolve"]["nodes"] if n["id"] == mach["id"])
        for dep in node["deps"]:
            pkg = by_id[dep["pkg"]]
            if pkg["name"] == "k8s-openapi":
                return os.path.dirname(pkg["manifest_path"])
    except (OSError, subprocess.CalledProcessError, StopIteration, KeyError) as e:
        sys.stderr.write("cargo metadata failed (%s); falling back to the registry glob\n" % e)
    return newest(glob.glob(os.path.expanduser("~/.cargo/registry/src/*/k8s-openapi-0.26.*")))


def newest(paths):
    if not paths:
        return None

    def key(p):
        return [int(x) if x.isdigit() else 0 for x in re.split(r"[.-]", crate_version(p))]

    return sorted(paths, key=key)[-1]


# ---------------------------------------------------------------- k8s-pb (prost) parsing

ATTR_RE = re.compile(r"#\[prost\((.*)\)\]")
STRUCT_RE = re.compile(r"^pub struct (\w+) \{")
FIELD_RE = re.compile(r"^\s*pub (?:r#)?(\w+):\s*(.*)$")


def parse_prost(src):
    """Returns {module path tuple + (name,): [field dicts]} for every prost message."""
    messages = {}
    for dirpath, _, files in os.walk(src):
        for fname in files:
            if not fname.endswith(".rs"):
                continue
            path = os.path.join(dirpath, fname)
            rel = os.path.relpath(path, src)
            parts = rel[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib"):
                parts = parts[:-1]
            modpath = tuple(parts)
            with open(path, encoding="utf-8") as f:
                lines = f.read().split("\n")
            i = 0
            cur = None
            attr = None
            while i < len(lines):
                line = lines[i]
                m = STRUCT_RE.match(line)
                if m:
                    cur = []
                    messages[modpath + (m.group(1),)] = cur
                    i += 1
                    continue
                if cur is not None and line.startswith("}"):
                    cur = None
                    i += 1
                    continue
                if cur is not None:
                    am = ATTR_RE.search(line)
                    if am:
                        attr = am.group(1)
                        i += 1
                        continue
                    fm = FIELD_RE.match(line)
                    if fm and attr is not None:
                        ty = fm.group(2)
                        depth = ty.count("<") - ty.count(">")
                        while not (depth <= 0 and ty.rstrip().endswith(",")):
                            i += 1
                            ty += lines[i].strip()
                            depth = ty.count("<") - ty.count(">")
                        cur.append(parse_field(fm.group(1), attr, ty, modpath))
                        attr = None
                i += 1
    return messages


def parse_field(name, attr, ty, modpath):
    tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
    field = {"snake": name, "tag": tag}
    mm = re.match(r'btree_map = "string, (\w+)"', attr) or re.match(r'map = "string, (\w+)"', attr)
    if mm:
        field["card"] = "Map"
        kind = mm.group(1)
    else:
        if re.match(r"\w+ = \"", attr) and not attr.startswith("bytes"):
            die("unsupported prost attribute %r" % attr)
        field["card"] = "Many" if ", repeated" in attr else "One"
        kind = attr.split(",")[0].strip()
        if ", optional" not in attr and ", repeated" not in attr:
            die("unexpected prost cardinality %r" % attr)
    if kind == "message":
        field["ref"] = resolve(message_path(ty), modpath)
    elif kind in SCALARS:
        field["scalar"] = SCALARS[kind]
    else:
        die("unsupported proto type %r in %r" % (kind, attr))
    return field


WRAPPERS = [
    "::core::option::Option<",
    "::prost::alloc::vec::Vec<",
    "::prost::alloc::boxed::Box<",
    "::prost::alloc::collections::BTreeMap<::prost::alloc::string::String,",
    "::std::collections::HashMap<::prost::alloc::string::String,",
]


def message_path(ty):
    t = re.sub(r"\s+", "", ty).rstrip(",")
    changed = True
    while changed:
        changed = False
        for w in WRAPPERS:
            if t.startswith(w):
                t = t[len(w):].rstrip(">").rstrip(",")
                changed = True
    return t


def resolve(path, modpath):
    segs = path.split("::")
    mod = list(modpath)
    while segs and segs[0] == "super":
        mod.pop()
        segs.pop(0)
    if segs and segs[0] == "crate":
        mod = []
        segs.pop(0)
    return tuple(mod + segs)


# ---------------------------------------------------------------- k8s-openapi parsing

def parse_openapi(root):
    """Returns {(module path, lowercase struct name): type info} for k8s-openapi types."""
    types = {}
    for dirpath, _, files in os.walk(root):
        for fname in files:
            if not fname.endswith(".rs") or fname == "mod.rs":
                continue
            path = os.path.join(dirpath, fname)
            modpath = tuple(os.path.relpath(dirpath, root).split(os.sep))
            with open(path, encoding="utf-8") as f:
                text = f.read()
            sm = re.search(r"^pub struct (\w+) \{\n(.*?)^\}", text, re.S | re.M)
            if not sm:
                continue
            name = sm.group(1)
            required = {}
            for fm in re.finditer(r"^    pub (\w+): (.*),$", sm.group(2), re.M):
                required[fm.group(1)] = not fm.group(2).startswith("Option<")
            json_names = {}
            for km in re.finditer(r'"([^"]+)" => Field::Key_(\w+),', text):
                json_names[km.group(2)] = km.group(1)
            dm = re.search(r"// Generated from definition (\S+)", text)
            types[(modpath, name.lower())] = {
                "name": name,
                "definition": dm.group(1) if dm else name,
                "json": json_names,
                "required": required,
            }
    return types



# ---------------------------------------------------------------- Go struct metadata (kubectl)

GO_KINDS = {1: "bool", 5: "int32", 6: "int64", 14: "float64", 21: "map", 22: "ptr", 23: "slice", 24: "string", 25: "struct"}


def locate_kubectl(want_minor):
    """A kubectl binary of the Kubernetes minor version the table targets, if one is installed."""
    cands = []
    if os.environ.get("KUBECTL"):
        cands.append(os.environ["KUBECTL"])
    for d in os.environ.get("PATH", "").split(os.pathsep):
        k = os.path.join(d, "kubectl")
        if os.path.exists(k):
            real = os.path.realpath(k)
            cands += [real + ".1." + want_minor, real]
    for c in cands:
        if not os.path.isfile(c):
            continue
        try:
            out = subprocess.run([c, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=30).stdout
            version = json.loads(out)["clientVersion"]["gitVersion"]
        except (OSError, ValueError, KeyError, subprocess.SubprocessError):
            continue
        if re.match(r"v1\.%s\.\d+$" % want_minor, version):
            return c, version
    return None, None


def go_struct_info(path):
    """Reads the Go runtime type descriptors of a (non-PIE, x86-64 ELF) Go binary and returns
    {(package path, lowercase type name): {(proto number, json name): (omitempty, Go kind)}} for
    every struct whose fields carry `protobuf:"..."` tags. Go keeps these descriptors (struct
    fields, their types and tags) for reflection, so they exist even in stripped binaries."""
    import array
    import struct

    data = open(path, "rb").read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a little-endian ELF64 binary")
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    loads = []
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if p_type == 1:
            loads.append((p_vaddr, p_offset, p_filesz))
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    sections = []
    for i in range(shnum):
        sh_name, _, _, sh_addr, sh_offset = struct.unpack_from("<IIQQQ", data, shoff + i * shentsize)
        sections.append((sh_name, sh_addr, sh_offset))
    strtab = sections[shstrndx][2]

    def section_name(off):
        return data[strtab + off:data.index(b"\0", strtab + off)].decode()

    rodata = next((addr for n, addr, _ in sections if section_name(n) == ".rodata"), None)
    if rodata is None:
        raise ValueError("no .rodata section")

    def v2o(v):
        for va, off, sz in loads:
            if va <= v < va + sz:
                return off + (v - va)
        return None

    def o2v(o):
        for va, off, sz in loads:
            if off <= o < off + sz:
                return va + (o - off)
        return None

    def uvarint(i):
        x, shift = 0, 0
        while True:
            c = data[i]
            i += 1
            x |= (c & 0x7F) << shift
            shift += 7
            if c < 0x80:
                return x, i

    def name_at(v):
        o = v2o(v)
        if o is None:
            return None
        n, i = uvarint(o + 1)
        return data[i:i + n].decode("latin1")

    # abi.Name records (flags, uvarint len, name, uvarint len, tag) whose tag has protobuf:"...".
    names = {}
    for m in re.finditer(rb'json:"', data):
        p = m.start()
        for vl in (2, 1):
            try:
                tl, after = uvarint(p - vl)
            except IndexError:
                continue
            if after != p:
                continue
            tag = data[p:p + tl]
            if b'protobuf:"' in tag:
                for n in range(1, 100):
                    q = p - vl - n - 1
                    if data[q] == n and data[q - 1] & 2 and re.fullmatch(rb"[A-Za-z_]\w*", data[q + 1:p - vl]):
                        names[o2v(q - 1)] = tag.decode()
                        break
            break
    words = array.array("Q")
    words.frombytes(data[: len(data) // 8 * 8])
    # abi.StructField{Name, Typ, Offset} entries naming those records.
    fields_at = {}
    for i, w in enumerate(words):
        if w in names:
            to = v2o(words[i + 1])
            if to is None:
                continue
            tag = names[w]
            js = re.search(r'json:"([^"]*)"', tag).group(1).split(",")
            num = int(re.search(r'protobuf:"([^"]*)"', tag).group(1).split(",")[1])
            kind = GO_KINDS.get(data[to + 23] & 0x1F, "other")
            fields_at[i] = (num, "" if "inline" in js[1:] else js[0], "omitempty" in js[1:], kind)
    # abi.StructType{Type (48 bytes), PkgPath, Fields []StructField} + UncommonType{PkgPath, ...}.
    starts = set()
    for i in fields_at:
        for k in range(3):
            starts.add(o2v((i - 3 * k) * 8))
    out = {}
    for j, w in enumerate(words):
        if w not in starts or j * 8 < 56:
            continue
        t = j * 8 - 56
        if data[t + 23] & 0x1F != 25 or not data[t + 20] & 1 or words[j + 1] > 1000:
            continue
        tname = name_at(rodata + struct.unpack_from("<i", data, t + 40)[0])
        pkg = name_at(rodata + struct.unpack_from("<i", data, t + 80)[0])
        if not tname or not pkg:
            continue
        first = v2o(w) // 8
        flds = [fields_at[first + 3 * k] for k in range(words[j + 1]) if first + 3 * k in fields_at]
        if flds:
            out[(pkg, tname.split(".")[-1].lower())] = {(n, js): (om, kind) for n, js, om, kind in flds}
    return out


# ---------------------------------------------------------------- roots

RES_RE = re.compile(r'res!\(\s*"([^"]*)",\s*"([^"]+)",\s*"([^"]+)"')


def roots_from_resources():
    path = os.path.join(APIMACHINERY, "src", "resources.rs")
    roots = []
    with open(path, encoding="utf-8") as f:
        for m in RES_RE.finditer(f.read()):
            group, version, kind = m.groups()
            if group == "":
                api_version, mod = version, ("api", "core", version)
            else:
                api_version, mod = group + "/" + version, ("api", group.split(".")[0], version)
            roots.append((api_version, kind, mod))
    if not roots:
        die("no res!(...) rows found in " + path)
    return roots + EXTRA_ROOTS


# ---------------------------------------------------------------- join and emit

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--k8s-pb")
    ap.add_argument("--k8s-openapi")
    ap.add_argument("--openapi-version", default="v1_33")
    ap.add_argument("--kubectl", help="kubectl binary of the same Kubernetes minor (Go struct metadata)")
    ap.add_argument("--out", default=os.path.join(APIMACHINERY, "src", "protobuf_schema.rs"))
    args = ap.parse_args()

    pb_root = args.k8s_pb or newest(glob.glob(os.path.expanduser("~/.cargo/registry/src/*/k8s-pb-*")))
    oa_root = args.k8s_openapi or locate_openapi()
    if not pb_root or not os.path.isdir(pb_root):
        die("k8s-pb not found; pass --k8s-pb (run `cargo fetch` with k8s-pb in a manifest)")
    if not oa_root or not os.path.isdir(oa_root):
        die("k8s-openapi not found; pass --k8s-openapi")

    minor = re.match(r"v1_(\d+)$", args.openapi_version).group(1)
    if args.kubectl:
        kubectl, go_version = args.kubectl, "(given)"
    else:
        kubectl, go_version = locate_kubectl(minor)
    go_structs = {}
    if kubectl:
        go_structs = go_struct_info(kubectl)
        sys.stderr.write("read %d Go structs from %s (%s)\n" % (len(go_structs), kubectl, go_version))
    else:
        sys.stderr.write("no kubectl v1.%s found: presence falls back to OpenAPI required-ness\n" % minor)

    prost = parse_prost(os.path.join(pb_root, "src"))
    openapi = parse_openapi(os.path.join(oa_root, "src", args.openapi_version))

    roots = roots_from_resources()
    ids = {}
    order = []
    queue = []

    def want(path, oa_key=None):
        """Message index of `path`; `oa_key` names the k8s-openapi type giving its JSON names
        (its own by default, the parent's for an inlined Go struct that OpenAPI does not list)."""
        if path in SPECIAL:
            return None
        if path not in prost:
            die("message %s not found in k8s-pb" % "::".join(path))
        key = (path, oa_key or (path[:-1], path[-1].lower()))
        if key not in ids:
            ids[key] = len(order)
            order.append(key)
            queue.append(key)
        return ids[key]

    root_rows = []
    for api_version, kind, mod in roots:
        path = mod + (kind,)
        if path not in prost:
            die("%s/%s: no prost message %s" % (api_version, kind, "::".join(path)))
        root_rows.append((api_version, kind, want(path)))

    def json_index(oa):
        by_lower = {}
        for snake, js in oa["json"].items():
            if js.lower() in by_lower and by_lower[js.lower()][1] != js:
                die("ambiguous JSON names in %s: %s" % (oa["name"], js))
            by_lower[js.lower()] = (snake, js)
        return by_lower

    def match(f, by_lower):
        return by_lower.get(f["snake"].replace("_", "").lower())

    out_msgs = []
    skipped = []
    go_missing = []
    while queue:
        key = queue.pop(0)
        path, oa_key = key
        oa = openapi.get(oa_key)
        if oa is None:
            die("no k8s-openapi type for %s" % "::".join(path))
        by_lower = json_index(oa)
        inline_of = oa["definition"] if oa_key != (path[:-1], path[-1].lower()) else None
        d = inline_of or oa["definition"]
        go_pkg = "k8s.io/" + "/".join(d.split(".")[2:-1])
        go = go_structs.get((go_pkg, path[-1].lower() if inline_of else d.split(".")[-1].lower()))
        if go_structs and go is None:
            go_missing.append(d if not inline_of else "%s (inline in %s)" % (path[-1], d))
        fields = []
        for f in prost[path]:
            hit = match(f, by_lower)
            ref = f.get("ref")
            special = SPECIAL.get(ref) if ref else None
            if hit is None and ref and not special and f["card"] == "One":
                # A Go embedded struct (`json:",inline"`): its fields live in this object.
                # Its JSON names are this type's unless OpenAPI lists the struct itself.
                inner = prost[ref]
                hits = sum(1 for g in inner if match(g, by_lower))
                if inner and hits * 2 >= len(inner):
                    own = (ref[:-1], ref[-1].lower())
                    idx = want(ref, own if own in openapi else oa_key)
                    fields.append((f["tag"], "", "Msg(%d)" % idx, "Inline", False))
                    continue
            if hit is None:
                skipped.append("%s.%s = %d" % (oa["definition"], f["snake"], f["tag"]))
                continue
            snake, js = hit
            if ref:
                ty = special if special else "Msg(%d)" % want(ref)
            else:
                ty = f["scalar"]
            required = oa["required"].get(snake, False)
            if go is not None and (f["tag"], js) in go:
                omitempty, kind = go[(f["tag"], js)]
                keep = kind == "ptr" or not omitempty
            else:
                if go is not None:
                    go_missing.append("%s.%s" % (d, js))
                keep = required or f.get("scalar") != "Str"
            fields.append((f["tag"], js, ty, f["card"], keep))
        fields.sort()
        name = oa["definition"] if oa_key == (path[:-1], path[-1].lower()) else "%s (inline in %s)" % (path[-1], oa["definition"])
        out_msgs.append((name, fields))

    presence = (
        "Go struct tags and field types read from the type descriptors of %s (%s)"
        % (os.path.basename(kubectl), go_version)
        if kubectl
        else "OpenAPI required-ness (no kubectl binary of this minor version was found)"
    )
    if go_missing:
        sys.stderr.write("no Go struct metadata for:\n  " + "\n  ".join(go_missing) + "\n")
    emit(args.out, out_msgs, root_rows, skipped, go_missing, presence, pb_root, oa_root, args.openapi_version)
    print("wrote %s: %d messages, %d roots" % (os.path.relpath(args.out, REPO_ROOT), len(out_msgs), len(root_rows)))


HEADER = """\
//! @generated by `python3 api/apimachinery/gen/protobuf_schema.py` (run from the repository
//! root). Do not edit by hand; regenerate instead.
//!
//! The Kubernetes protobuf wire schema of every kind in `resources.rs` (plus meta/v1
//! DeleteOptions and autoscaling/v1 Scale) and every message they reach. Field numbers and proto
//! types come from k8s-pb {pb} (prost bindings of the Kubernetes .proto files); JSON field names
//! from k8s-openapi {oa} (`{oav}`). Fields are sorted by tag. `keep_empty` (whether a
//! `""`/`0`/`false` on the wire is kept: the Go field is a pointer or lacks `omitempty`) comes
//! from {presence}.

/// How a field's payload maps to JSON. (Not every variant occurs in every table.)
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {{
    Str,
    I32,
    I64,
    Bool,
    F64,
    /// base64 string in JSON.
    Bytes,
    /// An index into [`MESSAGES`].
    Msg(u16),
    /// meta/v1 Time: RFC 3339, whole seconds.
    Time,
    /// meta/v1 MicroTime: RFC 3339 with microseconds.
    MicroTime,
    /// meta/v1 Duration: Go duration string.
    Duration,
    /// resource.Quantity: its string.
    Quantity,
    /// intstr.IntOrString: number or string.
    IntOrString,
    /// runtime.RawExtension: the embedded JSON.
    RawExtension,
    /// meta/v1 FieldsV1: the embedded JSON.
    FieldsV1,
    /// A Go `[]string` type wrapped in a message `{{repeated string items = 1}}`
    /// (authentication and authorization `ExtraValue`): the list in JSON.
    StrList,
}}

/// A field's cardinality: singular, repeated, or `map<string, Ty>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Card {{
    One,
    Many,
    Map,
    /// A Go embedded struct: its fields are merged into the enclosing object.
    Inline,
}}

/// One field of a message.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {{
    pub tag: u32,
    pub json: &'static str,
    pub ty: Ty,
    pub card: Card,
    /// Whether a zero scalar (`""`, `0`, `false`) on the wire is emitted: the Go field is a
    /// pointer or has no `omitempty`. Go's marshaller writes every non-pointer field, so a zero
    /// in an `omitempty` value field means "unset" and is dropped, as encoding/json would.
    pub keep_empty: bool,
}}

/// One message: its OpenAPI definition name and fields sorted by tag.
#[derive(Debug)]
pub(crate) struct Message {{
    pub name: &'static str,
    pub fields: &'static [Field],
}}

const fn f(tag: u32, json: &'static str, ty: Ty, card: Card, keep_empty: bool) -> Field {{
    Field {{ tag, json, ty, card, keep_empty }}
}}

use Card::*;
use Ty::*;
"""


def emit(out, msgs, roots, skipped, go_missing, presence, pb_root, oa_root, oav):
    w = []
    w.append(HEADER.format(pb=crate_version(pb_root), oa=crate_version(oa_root), oav=oav, presence=presence))
    if go_missing:
        w.append("// Fields without Go struct metadata (presence from OpenAPI required-ness instead):")
        for m in go_missing:
            w.append("//   " + m)
        w.append("")
    if skipped:
        w.append("// Proto fields with no JSON name in k8s-openapi %s (newer than that Kubernetes" % oav)
        w.append("// version), left out of the table so the decoder skips them as unknown fields:")
        for s in skipped:
            w.append("//   " + s)
        w.append("")
    w.append("/// Top-level kinds: (apiVersion, kind, index into [`MESSAGES`]).")
    w.append("pub(crate) static ROOTS: &[(&str, &str, u16)] = &[")
    for api_version, kind, idx in roots:
        w.append('    ("%s", "%s", %d),' % (api_version, kind, idx))
    w.append("];")
    w.append("")
    w.append("/// Every reachable message, by index.")
    w.append("pub(crate) static MESSAGES: &[Message] = &[")
    for i, (name, fields) in enumerate(msgs):
        w.append("    // %d" % i)
        w.append("    Message {")
        w.append('        name: "%s",' % name)
        w.append("        fields: &[")
        for tag, js, ty, card, req in fields:
            w.append('            f(%d, "%s", %s, %s, %s),' % (tag, js, ty, card, "true" if req else "false"))
        w.append("        ],")
        w.append("    },")
    w.append("];")
    w.append("")
    with open(out, "w", encoding="utf-8") as fh:
        fh.write("\n".join(w))
    try:
        subprocess.run(["rustfmt", "--edition", "2024", out], check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        sys.stderr.write("rustfmt failed (%s); the table is correct but unformatted\n" % e)


if __name__ == "__main__":
    main()
