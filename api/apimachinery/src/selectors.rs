//! Label and field selectors, parsed and matched exactly as Kubernetes does
//! (`k8s.io/apimachinery/pkg/labels` and `k8s.io/apimachinery/pkg/fields`), plus the
//! per-kind selectable fields the API server supports for `fieldSelector`.

use std::fmt;

use serde_json::{Map, Value};

use crate::formats::{go_quote, go_string_slice, is_qualified_name, is_valid_label_value};

/// A selector could not be parsed or used; the message is Kubernetes' own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A label selector string or object is malformed (message as `labels.Parse` gives it).
    #[error("{0}")]
    Label(String),
    /// A field selector string is malformed (message as `fields.ParseSelector` gives it).
    #[error("{0}")]
    Field(String),
    /// The field selector names a field the kind does not support; the API server answers
    /// 400 BadRequest with this message.
    #[error("field label not supported: {0}")]
    FieldLabelNotSupported(String),
}

// ---------------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------------

/// A label selector operator (`k8s.io/apimachinery/pkg/selection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `=`
    Equals,
    /// `==`
    DoubleEquals,
    /// `!=`
    NotEquals,
    /// `in (a,b)`
    In,
    /// `notin (a,b)`
    NotIn,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key>1`
    GreaterThan,
    /// `key<1`
    LessThan,
}

/// One requirement of a label selector; `values` are sorted and de-duplicated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

impl Requirement {
    /// Builds a requirement and validates it like `labels.NewRequirement`.
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Self, SelectorError> {
        let mut errs: Vec<String> = Vec::new();
        let key_msgs = is_qualified_name(key);
        if !key_msgs.is_empty() {
            errs.push(format!(
                "key: Invalid value: {}: {}",
                go_quote(key),
                key_msgs.join("; ")
            ));
        }
        match operator {
            Operator::In | Operator::NotIn => {
                if values.is_empty() {
                    errs.push(format!(
                        "values: Invalid value: {}: for 'in', 'notin' operators, values set can't be empty",
                        go_string_slice(&values)
                    ));
                }
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
                if values.len() != 1 {
                    errs.push(format!(
                        "values: Invalid value: {}: exact-match compatibility requires one single value",
                        go_string_slice(&values)
                    ));
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !values.is_empty() {
                    errs.push(format!(
                        "values: Invalid value: {}: values set must be empty for exists and does not exist",
                        go_string_slice(&values)
                    ));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errs.push(format!(
                        "values: Invalid value: {}: for 'Gt', 'Lt' operators, exactly one value is required",
                        go_string_slice(&values)
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(format!(
                            "values[{i}]: Invalid value: {}: for 'Gt', 'Lt' operators, the value must be an integer",
                            go_quote(v)
                        ));
                    }
                }
            }
        }
        for (i, v) in values.iter().enumerate() {
            let msgs = is_valid_label_value(v);
            if !msgs.is_empty() {
                errs.push(format!(
                    "values[{i}][{key}]: Invalid value: {}: {}",
                    go_quote(v),
                    msgs.join("; ")
                ));
            }
        }
        if !errs.is_empty() {
            return Err(SelectorError::Label(aggregate(errs)));
        }
        let mut values = values;
        values.sort();
        values.dedup();
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values,
        })
    }

    /// Whether the labels satisfy this requirement (`Requirement.Matches`).
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        let got = labels.get(&self.key).map(label_str);
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => match got {
                Some(v) => has(&v),
                None => false,
            },
            Operator::NotIn | Operator::NotEquals => match got {
                Some(v) => !has(&v),
                None => true,
            },
            Operator::Exists => got.is_some(),
            Operator::DoesNotExist => got.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(v) = got else { return false };
                let Ok(lv) = v.parse::<i64>() else {
                    return false;
                };
                if self.values.len() != 1 {
                    return false;
                }
                let Ok(rv) = self.values[0].parse::<i64>() else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    lv > rv
                } else {
                    lv < rv
                }
            }
        }
    }
}

fn label_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        let set = matches!(self.operator, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        f.write_str(&self.values.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A parsed label selector: requirements ANDed together, sorted by key.
///
/// The empty selector matches everything; [`LabelSelector::nothing`] (what a missing
/// `metav1.LabelSelector` converts to) matches nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl LabelSelector {
    /// The selector that matches every object.
    pub fn everything() -> Self {
        Self::default()
    }

    /// The selector that matches no object (`labels.Nothing()`).
    pub fn nothing() -> Self {
        LabelSelector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// Builds a selector from requirements (sorted by key, stably).
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> Self {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelector {
            requirements,
            nothing: false,
        }
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// True for the selector that matches everything (`Selector.Empty()`); false for
    /// [`LabelSelector::nothing`].
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// True for [`LabelSelector::nothing`].
    pub fn is_nothing(&self) -> bool {
        self.nothing
    }

    /// Whether a label set satisfies every requirement.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        if self.nothing {
            return false;
        }
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Matches an object's `metadata.labels` (missing labels read as the empty set).
    pub fn matches_object(&self, obj: &Value) -> bool {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        let labels = obj
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new));
        self.matches(labels)
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Error,
    End,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn string_to_token(s: &str) -> Option<Tok> {
    Some(match s {
        ")" => Tok::ClosedPar,
        "," => Tok::Comma,
        "!" => Tok::DoesNotExist,
        "==" => Tok::DoubleEquals,
        "=" => Tok::Equals,
        ">" => Tok::GreaterThan,
        "in" => Tok::In,
        "<" => Tok::LessThan,
        "!=" => Tok::NotEquals,
        "notin" => Tok::NotIn,
        "(" => Tok::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn lex(s: &str) -> Vec<(Tok, String)> {
    let b = s.as_bytes();
    let mut pos = 0usize;
    let mut out = Vec::new();
    loop {
        while pos < b.len() && is_whitespace(b[pos]) {
            pos += 1;
        }
        if pos >= b.len() || b[pos] == 0 {
            out.push((Tok::End, String::new()));
            return out;
        }
        if is_special(b[pos]) {
            let start = pos;
            let mut last: Option<(Tok, usize)> = None;
            while pos < b.len() && is_special(b[pos]) {
                let candidate = &s[start..=pos];
                if let Some(t) = string_to_token(candidate) {
                    last = Some((t, pos + 1));
                    pos += 1;
                } else if last.is_some() {
                    break;
                } else {
                    pos += 1;
                }
            }
            match last {
                Some((t, end)) => {
                    pos = end;
                    out.push((t, s[start..end].to_string()));
                }
                None => out.push((
                    Tok::Error,
                    format!("error expected: keyword found '{}'", &s[start..pos]),
                )),
            }
        } else {
            let start = pos;
            while pos < b.len() && b[pos] != 0 && !is_whitespace(b[pos]) && !is_special(b[pos]) {
                pos += 1;
            }
            let word = &s[start..pos];
            match string_to_token(word) {
                Some(t @ (Tok::In | Tok::NotIn)) => out.push((t, word.to_string())),
                _ => out.push((Tok::Identifier, word.to_string())),
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Tok, String)>,
    pos: usize,
}

impl Parser {
    fn lookahead(&self, ctx: Ctx) -> (Tok, String) {
        let (mut t, lit) = self
            .items
            .get(self.pos)
            .cloned()
            .unwrap_or((Tok::End, String::new()));
        if ctx == Ctx::Values && matches!(t, Tok::In | Tok::NotIn) {
            t = Tok::Identifier;
        }
        (t, lit)
    }

    fn consume(&mut self, ctx: Ctx) -> (Tok, String) {
        let r = self.lookahead(ctx);
        if self.pos < self.items.len() {
            self.pos += 1;
        }
        r
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut reqs = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Ctx::Values);
            match tok {
                Tok::Identifier | Tok::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    reqs.push(r);
                    let (t, l) = self.consume(Ctx::Values);
                    match t {
                        Tok::End => return Ok(reqs),
                        Tok::Comma => {
                            let (t2, l2) = self.lookahead(Ctx::Values);
                            if t2 != Tok::Identifier && t2 != Tok::DoesNotExist {
                                return Err(format!(
                                    "found '{l2}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => return Err(format!("found '{l}', expected: ',' or 'end of string'")),
                    }
                }
                Tok::End => return Ok(reqs),
                _ => {
                    return Err(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, op) = self.parse_key_and_infer_operator()?;
        if let Some(op @ (Operator::Exists | Operator::DoesNotExist)) = op {
            return Requirement::new(&key, op, Vec::new()).map_err(|e| e.to_string());
        }
        let op = self.parse_operator()?;
        let values = match op {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::new(&key, op, values).map_err(|e| e.to_string())
    }

    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Operator>), String> {
        let mut op = None;
        let (mut tok, mut lit) = self.consume(Ctx::Values);
        if tok == Tok::DoesNotExist {
            op = Some(Operator::DoesNotExist);
            (tok, lit) = self.consume(Ctx::Values);
        }
        if tok != Tok::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        let msgs = is_qualified_name(&lit);
        if !msgs.is_empty() {
            return Err(format!(
                "<nil>: Invalid value: {}: {}",
                go_quote(&lit),
                msgs.join("; ")
            ));
        }
        let (t, _) = self.lookahead(Ctx::Values);
        if (t == Tok::End || t == Tok::Comma) && op != Some(Operator::DoesNotExist) {
            op = Some(Operator::Exists);
        }
        Ok((lit, op))
    }

    fn parse_operator(&mut self) -> Result<Operator, String> {
        let (tok, lit) = self.consume(Ctx::KeyAndOperator);
        Ok(match tok {
            Tok::In => Operator::In,
            Tok::Equals => Operator::Equals,
            Tok::DoubleEquals => Operator::DoubleEquals,
            Tok::GreaterThan => Operator::GreaterThan,
            Tok::LessThan => Operator::LessThan,
            Tok::NotIn => Operator::NotIn,
            Tok::NotEquals => Operator::NotEquals,
            _ => {
                return Err(format!(
                    "found '{lit}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            }
        })
    }

    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let (tok, lit) = self.consume(Ctx::Values);
        if tok != Tok::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(Ctx::Values);
        match tok {
            Tok::Identifier | Tok::Comma => {
                let s = self.parse_identifiers_list()?;
                let (t, _) = self.consume(Ctx::Values);
                if t != Tok::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(s)
            }
            Tok::ClosedPar => {
                self.consume(Ctx::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, String> {
        let mut s: Vec<String> = Vec::new();
        let insert = |s: &mut Vec<String>, v: String| {
            if !s.contains(&v) {
                s.push(v);
            }
        };
        loop {
            let (tok, lit) = self.consume(Ctx::Values);
            match tok {
                Tok::Identifier => {
                    insert(&mut s, lit);
                    let (t2, l2) = self.lookahead(Ctx::Values);
                    match t2 {
                        Tok::Comma => continue,
                        Tok::ClosedPar => {
                            s.sort();
                            return Ok(s);
                        }
                        _ => return Err(format!("found '{l2}', expected: ',' or ')'")),
                    }
                }
                Tok::Comma => {
                    if s.is_empty() {
                        insert(&mut s, String::new());
                    }
                    let (t2, _) = self.lookahead(Ctx::Values);
                    if t2 == Tok::ClosedPar {
                        insert(&mut s, String::new());
                        s.sort();
                        return Ok(s);
                    }
                    if t2 == Tok::Comma {
                        self.consume(Ctx::Values);
                        insert(&mut s, String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<Vec<String>, String> {
        let (tok, _) = self.lookahead(Ctx::Values);
        if tok == Tok::End || tok == Tok::Comma {
            return Ok(vec![String::new()]);
        }
        let (tok, lit) = self.consume(Ctx::Values);
        if tok == Tok::Identifier {
            return Ok(vec![lit]);
        }
        Err(format!("found '{lit}', expected: identifier"))
    }
}

/// Parses a label selector string (`labels.Parse`): `a=b,c!=d,e in (f,g),!h,i,j>1`.
pub fn parse_label_selector(s: &str) -> Result<LabelSelector, SelectorError> {
    let mut p = Parser {
        items: lex(s),
        pos: 0,
    };
    let reqs = p.parse().map_err(SelectorError::Label)?;
    Ok(LabelSelector::from_requirements(reqs))
}

/// Converts a `metav1.LabelSelector` JSON object (`matchLabels`, `matchExpressions`) into a
/// [`LabelSelector`] (`metav1.LabelSelectorAsSelector`): `null` matches nothing, `{}`
/// matches everything.
pub fn from_label_selector_object(sel: &Value) -> Result<LabelSelector, SelectorError> {
    let obj = match sel {
        Value::Null => return Ok(LabelSelector::nothing()),
        Value::Object(o) => o,
        other => {
            return Err(SelectorError::Label(format!(
                "invalid label selector: expected an object, got {other}"
            )));
        }
    };
    let match_labels = obj.get("matchLabels").and_then(Value::as_object);
    let match_exprs = obj.get("matchExpressions").and_then(Value::as_array);
    let n = match_labels.map_or(0, Map::len) + match_exprs.map_or(0, Vec::len);
    if n == 0 {
        return Ok(LabelSelector::everything());
    }
    let mut reqs = Vec::with_capacity(n);
    if let Some(ml) = match_labels {
        for (k, v) in ml {
            reqs.push(Requirement::new(k, Operator::Equals, vec![label_str(v)])?);
        }
    }
    if let Some(exprs) = match_exprs {
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let op_str = e.get("operator").and_then(Value::as_str).unwrap_or("");
            let op = match op_str {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Err(SelectorError::Label(format!(
                        "{} is not a valid label selector operator",
                        go_quote(other)
                    )));
                }
            };
            let values: Vec<String> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(label_str).collect())
                .unwrap_or_default();
            reqs.push(Requirement::new(key, op, values)?);
        }
    }
    Ok(LabelSelector::from_requirements(reqs))
}

// ---------------------------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------------------------

/// A field selector operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `=`
    Equals,
    /// `==`
    DoubleEquals,
    /// `!=`
    NotEquals,
}

/// One `field<op>value` term of a field selector; `value` is unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub operator: FieldOperator,
    pub value: String,
}

/// A parsed field selector: terms ANDed together (sorted as Kubernetes sorts them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// True when the selector has no terms (matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether the field accessor satisfies every term; a field the accessor does not
    /// know reads as `""` (as `fields.Set.Get` does).
    pub fn matches(&self, fields: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let got = fields(&r.field).unwrap_or_default();
            match r.operator {
                FieldOperator::Equals | FieldOperator::DoubleEquals => got == r.value,
                FieldOperator::NotEquals => got != r.value,
            }
        })
    }

    /// Matches an object of `kind` using [`field_value`].
    pub fn matches_object(&self, kind: &str, obj: &Value) -> bool {
        self.matches(|f| field_value(kind, obj, f))
    }

    /// Checks every field against the kind's selectable fields and rewrites legacy
    /// aliases (`spec.host` -> `spec.nodeName` for pods), as the API server's field label
    /// conversion does. Errors with `field label not supported: <field>`.
    pub fn for_kind(&self, kind: &str) -> Result<FieldSelector, SelectorError> {
        let mut out = self.clone();
        for r in &mut out.requirements {
            if kind == "Pod" && r.field == "spec.host" {
                r.field = "spec.nodeName".to_string();
            }
            if !supported_field(kind, &r.field) {
                return Err(SelectorError::FieldLabelNotSupported(r.field.clone()));
            }
        }
        Ok(out)
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = match r.operator {
                FieldOperator::Equals => "=",
                FieldOperator::DoubleEquals => "==",
                FieldOperator::NotEquals => "!=",
            };
            write!(f, "{}{op}{}", r.field, escape_field_value(&r.value))?;
        }
        Ok(())
    }
}

/// Escapes `\`, `,` and `=` in a field selector value (`fields.EscapeValue`).
pub fn escape_field_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, o) in [
            ("!=", FieldOperator::NotEquals),
            ("==", FieldOperator::DoubleEquals),
            ("=", FieldOperator::Equals),
        ] {
            if rest.starts_with(op) {
                return Some((&term[..i], o, &term[i + op.len()..]));
            }
        }
    }
    None
}

fn unescape_field_value(s: &str) -> Result<String, SelectorError> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => {
                    return Err(SelectorError::Field(format!(
                        "invalid field selector: invalid escape sequence: \\{c}"
                    )));
                }
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => {
                return Err(SelectorError::Field(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                )));
            }
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err(SelectorError::Field(
            "invalid field selector: invalid escape sequence: \\".to_string(),
        ));
    }
    Ok(out)
}

/// Parses a field selector string (`fields.ParseSelector`): `a=b,c!=d`, values escaped
/// with `\` (`\,`, `\=`, `\\`).
pub fn parse_field_selector(s: &str) -> Result<FieldSelector, SelectorError> {
    let mut parts = split_terms(s);
    parts.sort_unstable();
    let mut reqs = Vec::new();
    for part in parts {
        if part.is_empty() {
            continue;
        }
        let Some((lhs, op, rhs)) = split_term(part) else {
            return Err(SelectorError::Field(format!(
                "invalid selector: '{s}'; can't understand '{part}'"
            )));
        };
        let value = unescape_field_value(rhs)?;
        reqs.push(FieldRequirement {
            field: lhs.to_string(),
            operator: op,
            value,
        });
    }
    Ok(FieldSelector { requirements: reqs })
}

const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

const POD_FIELDS: &[&str] = &[
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
];

fn kind_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => POD_FIELDS,
        "Event" => EVENT_FIELDS,
        "Secret" => &["type"],
        "Namespace" => &["status.phase"],
        "Node" => &["spec.unschedulable"],
        "ReplicaSet" | "ReplicationController" => &["status.replicas"],
        "Job" | "StatefulSet" => &["status.successful"],
        "PersistentVolume" => &["name"],
        "CertificateSigningRequest" => &["spec.signerName"],
        _ => &[],
    }
}

/// Whether `field` may be used in a field selector for `kind` (every kind supports
/// `metadata.name` and `metadata.namespace`).
pub fn supported_field(kind: &str, field: &str) -> bool {
    field == "metadata.name"
        || field == "metadata.namespace"
        || kind_fields(kind).contains(&field)
        || (kind == "Pod" && field == "spec.host")
}

fn str_at(obj: &Value, path: &[&str]) -> String {
    let mut cur = obj;
    for p in path {
        match cur.get(p) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn int_at(obj: &Value, path: &[&str]) -> String {
    let v = str_at(obj, path);
    if v.is_empty() { "0".to_string() } else { v }
}

fn bool_at(obj: &Value, path: &[&str]) -> String {
    let mut cur = obj;
    for p in path {
        match cur.get(p) {
            Some(v) => cur = v,
            None => return "false".to_string(),
        }
    }
    cur.as_bool().unwrap_or(false).to_string()
}

/// The value of a selectable field of an object of `kind`, as the API server computes it
/// for field selectors; a supported field missing from the object reads as `""` (numbers
/// and booleans read as Kubernetes formats them, e.g. `"0"`, `"false"`). `None` when the
/// field is not selectable for the kind.
pub fn field_value(kind: &str, obj: &Value, field: &str) -> Option<String> {
    if !supported_field(kind, field) {
        return None;
    }
    Some(match (kind, field) {
        (_, "metadata.name") => str_at(obj, &["metadata", "name"]),
        (_, "metadata.namespace") => str_at(obj, &["metadata", "namespace"]),
        ("Pod", "spec.nodeName" | "spec.host") => str_at(obj, &["spec", "nodeName"]),
        ("Pod", "spec.hostNetwork") => bool_at(obj, &["spec", "hostNetwork"]),
        ("Pod", "status.podIP") => {
            let first = obj
                .get("status")
                .and_then(|s| s.get("podIPs"))
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(|p| p.get("ip"))
                .and_then(Value::as_str);
            match first {
                Some(ip) => ip.to_string(),
                None => str_at(obj, &["status", "podIP"]),
            }
        }
        ("Pod", "status.podIPs") => String::new(),
        ("Event", "source") => {
            let c = str_at(obj, &["source", "component"]);
            if c.is_empty() {
                str_at(obj, &["reportingComponent"])
            } else {
                c
            }
        }
        ("Event", f) => {
            let parts: Vec<&str> = f.split('.').collect();
            str_at(obj, &parts)
        }
        ("Node", "spec.unschedulable") => bool_at(obj, &["spec", "unschedulable"]),
        ("ReplicaSet" | "ReplicationController", "status.replicas") => {
            int_at(obj, &["status", "replicas"])
        }
        ("Job", "status.successful") => int_at(obj, &["status", "succeeded"]),
        ("StatefulSet", "status.successful") => String::new(),
        ("PersistentVolume", "name") => str_at(obj, &["metadata", "name"]),
        (_, f) => {
            let parts: Vec<&str> = f.split('.').collect();
            str_at(obj, &parts)
        }
    })
}

fn aggregate(mut msgs: Vec<String>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for m in msgs.drain(..) {
        if !seen.contains(&m) {
            seen.push(m);
        }
    }
    if seen.len() == 1 {
        seen.remove(0)
    } else {
        format!("[{}]", seen.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn parse_basic_operators() {
        let s = parse_label_selector(
            "app=web, tier != db ,env in (prod, staging),!canary,track,x>5,y<3,z==q",
        )
        .unwrap();
        assert_eq!(s.requirements().len(), 8);
        assert_eq!(
            s.to_string(),
            "app=web,!canary,env in (prod,staging),tier!=db,track,x>5,y<3,z==q"
        );
        let l = labels(
            json!({"app":"web","tier":"fe","env":"prod","track":"a","x":"6","y":"2","z":"q"}),
        );
        assert!(s.matches(&l));
        let mut l2 = l.clone();
        l2.insert("canary".into(), json!("true"));
        assert!(!s.matches(&l2));
        let mut l3 = l.clone();
        l3.insert("x".into(), json!("5"));
        assert!(!s.matches(&l3));
        let mut l4 = l.clone();
        l4.insert("x".into(), json!("notanint"));
        assert!(!s.matches(&l4));
    }

    #[test]
    fn notin_and_not_equals_match_missing() {
        let s = parse_label_selector("a notin (x,y),b!=c").unwrap();
        assert!(s.matches(&Map::new()));
        assert!(!s.matches(&labels(json!({"a":"x"}))));
        assert!(s.matches(&labels(json!({"a":"z"}))));
    }

    #[test]
    fn empty_selector_matches_everything() {
        let s = parse_label_selector("").unwrap();
        assert!(s.is_empty());
        assert!(s.matches(&Map::new()));
        let s = parse_label_selector("   ").unwrap();
        assert!(s.is_empty());
    }

    #[test]
    fn keywords_as_keys_and_values() {
        let s = parse_label_selector("in=notin").unwrap();
        assert!(s.matches(&labels(json!({"in":"notin"}))));
        let s = parse_label_selector("a in (in)").unwrap();
        assert!(s.matches(&labels(json!({"a":"in"}))));
    }

    #[test]
    fn empty_values() {
        let s = parse_label_selector("a=").unwrap();
        assert!(s.matches(&labels(json!({"a":""}))));
        assert!(!s.matches(&Map::new()));
        let s = parse_label_selector("a in ()").unwrap();
        assert_eq!(s.requirements()[0].values, vec![String::new()]);
        let s = parse_label_selector("a in (,b)").unwrap();
        assert_eq!(
            s.requirements()[0].values,
            vec!["".to_string(), "b".to_string()]
        );
    }

    #[test]
    fn parse_errors_match_kubernetes() {
        assert_eq!(
            parse_label_selector("a=b c").unwrap_err().to_string(),
            "found 'c', expected: ',' or 'end of string'"
        );
        assert_eq!(
            parse_label_selector("a=b,").unwrap_err().to_string(),
            "found '', expected: identifier after ','"
        );
        assert_eq!(
            parse_label_selector("=b").unwrap_err().to_string(),
            "found '=', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            parse_label_selector("a in b").unwrap_err().to_string(),
            "unable to parse requirement: found 'b' expected: '('"
        );
        assert_eq!(
            parse_label_selector("a in (b").unwrap_err().to_string(),
            "unable to parse requirement: found '', expected: ',' or ')'"
        );
        assert_eq!(
            parse_label_selector("a b").unwrap_err().to_string(),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            parse_label_selector("a>b").unwrap_err().to_string(),
            "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
        let e = parse_label_selector("-a=b").unwrap_err().to_string();
        assert!(e.starts_with("unable to parse requirement: <nil>: Invalid value: \"-a\": name part must consist of alphanumeric characters"), "{e}");
        let e = parse_label_selector("a=b$").unwrap_err().to_string();
        assert!(e.starts_with("unable to parse requirement: values[0][a]: Invalid value: \"b$\": a valid label must be an empty string or consist of alphanumeric characters"), "{e}");
        assert_eq!(
            parse_label_selector("!a=b").unwrap_err().to_string(),
            "found '=', expected: ',' or 'end of string'"
        );
    }

    #[test]
    fn label_selector_object() {
        let s = from_label_selector_object(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                {"key": "canary", "operator": "DoesNotExist"}
            ]
        }))
        .unwrap();
        assert!(s.matches(&labels(json!({"app":"web","tier":"be"}))));
        assert!(!s.matches(&labels(json!({"app":"web","tier":"be","canary":"1"}))));
        assert!(from_label_selector_object(&json!({})).unwrap().is_empty());
        let nothing = from_label_selector_object(&Value::Null).unwrap();
        assert!(!nothing.is_empty());
        assert!(!nothing.matches(&Map::new()));
        assert_eq!(
            from_label_selector_object(&json!({"matchExpressions":[{"key":"a","operator":"Foo"}]}))
                .unwrap_err()
                .to_string(),
            "\"Foo\" is not a valid label selector operator"
        );
        assert_eq!(
            from_label_selector_object(&json!({"matchExpressions":[{"key":"a","operator":"In"}]}))
                .unwrap_err()
                .to_string(),
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"
        );
    }

    #[test]
    fn field_selector_parsing() {
        let f = parse_field_selector("status.phase=Running,spec.nodeName!=n1").unwrap();
        assert_eq!(f.requirements().len(), 2);
        // Kubernetes sorts the terms.
        assert_eq!(f.requirements()[0].field, "spec.nodeName");
        assert_eq!(f.requirements()[0].operator, FieldOperator::NotEquals);
        let f = parse_field_selector("a==b").unwrap();
        assert_eq!(f.requirements()[0].value, "b");
        assert_eq!(f.requirements()[0].operator, FieldOperator::DoubleEquals);
        let f = parse_field_selector(r"a=x\,y\=z\\").unwrap();
        assert_eq!(f.requirements()[0].value, r"x,y=z\");
        assert_eq!(f.to_string(), r"a=x\,y\=z\\");
        assert!(parse_field_selector("").unwrap().is_empty());
        assert_eq!(
            parse_field_selector("abc").unwrap_err().to_string(),
            "invalid selector: 'abc'; can't understand 'abc'"
        );
        assert_eq!(
            parse_field_selector(r"a=\x").unwrap_err().to_string(),
            r"invalid field selector: invalid escape sequence: \x"
        );
        assert_eq!(
            parse_field_selector("a=b=c").unwrap_err().to_string(),
            "invalid field selector: unescaped character in value: 61"
        );
    }

    #[test]
    fn pod_field_values() {
        let pod = json!({"metadata":{"name":"p","namespace":"ns"},"spec":{"restartPolicy":"Always"},"status":{"phase":"Running","podIPs":[{"ip":"10.0.0.1"}]}});
        assert_eq!(
            field_value("Pod", &pod, "spec.nodeName").as_deref(),
            Some("")
        );
        assert_eq!(
            field_value("Pod", &pod, "status.podIP").as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(
            field_value("Pod", &pod, "spec.hostNetwork").as_deref(),
            Some("false")
        );
        assert_eq!(
            field_value("Pod", &pod, "metadata.namespace").as_deref(),
            Some("ns")
        );
        assert_eq!(field_value("Pod", &pod, "spec.foo"), None);
        let f = parse_field_selector("spec.nodeName=,status.phase=Running").unwrap();
        assert!(f.matches_object("Pod", &pod));
        let f = parse_field_selector("spec.host=x")
            .unwrap()
            .for_kind("Pod")
            .unwrap();
        assert_eq!(f.requirements()[0].field, "spec.nodeName");
        let err = parse_field_selector("spec.replicas=1")
            .unwrap()
            .for_kind("Deployment")
            .unwrap_err();
        assert_eq!(err.to_string(), "field label not supported: spec.replicas");
    }

    #[test]
    fn other_kinds_field_values() {
        let ev = json!({"involvedObject":{"kind":"Pod","name":"p"},"reason":"Started","type":"Normal","source":{},"reportingComponent":"kubelet"});
        assert_eq!(
            field_value("Event", &ev, "involvedObject.kind").as_deref(),
            Some("Pod")
        );
        assert_eq!(
            field_value("Event", &ev, "involvedObject.uid").as_deref(),
            Some("")
        );
        assert_eq!(
            field_value("Event", &ev, "source").as_deref(),
            Some("kubelet")
        );
        let sec = json!({"type":"kubernetes.io/tls"});
        assert_eq!(
            field_value("Secret", &sec, "type").as_deref(),
            Some("kubernetes.io/tls")
        );
        assert_eq!(
            field_value("Node", &json!({}), "spec.unschedulable").as_deref(),
            Some("false")
        );
        assert_eq!(
            field_value(
                "ReplicaSet",
                &json!({"status":{"replicas":3}}),
                "status.replicas"
            )
            .as_deref(),
            Some("3")
        );
        assert_eq!(
            field_value("Job", &json!({}), "status.successful").as_deref(),
            Some("0")
        );
        assert!(supported_field("Namespace", "status.phase"));
        assert!(!supported_field("ConfigMap", "data"));
    }

    proptest::proptest! {
        #[test]
        fn display_round_trips(
            keys in proptest::collection::vec("[a-z][a-z0-9]{0,5}", 1..4),
            vals in proptest::collection::vec("[a-zA-Z0-9]{1,5}", 1..3),
            op in 0usize..7,
        ) {
            let mut parts = Vec::new();
            for k in &keys {
                parts.push(match op {
                    0 => format!("{k}={}", vals[0]),
                    1 => format!("{k}!={}", vals[0]),
                    2 => format!("{k} in ({})", vals.join(",")),
                    3 => format!("{k} notin ({})", vals.join(",")),
                    4 => k.clone(),
                    5 => format!("!{k}"),
                    _ => format!("{k}>{}", vals.len()),
                });
            }
            let s = parse_label_selector(&parts.join(",")).unwrap();
            let again = parse_label_selector(&s.to_string()).unwrap();
            proptest::prop_assert_eq!(s, again);
        }
    }
}
