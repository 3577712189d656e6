//! Parsing of the untrusted parts of a request URL: the query string and percent-encoded
//! path segments. Works on bytes, never slices a `str` at an offset it did not find by
//! searching, so no input can panic it (see the property tests below).

use std::collections::HashMap;

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XY` escapes as Go's `url.PathUnescape` does for valid ones; an invalid escape
/// (`%` not followed by two hex digits) is kept as written. Bytes that do not form UTF-8
/// after decoding become U+FFFD.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The query string as a map (the last value of a repeated key wins; `+` is a space).
pub fn query_map(q: Option<&str>) -> HashMap<String, String> {
    let mut m = HashMap::new();
    if let Some(q) = q {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dec = |s: &str| percent_decode(&s.replace('+', " "));
            m.insert(dec(k), dec(v));
        }
    }
    m
}

/// The path split into decoded segments (empty segments dropped). A segment is decoded
/// after splitting, so an escaped `/` (`%2F`) stays inside its segment.
pub fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_escapes_and_keeps_invalid_ones() {
        assert_eq!(percent_decode("test%3Acolon"), "test:colon");
        assert_eq!(percent_decode("a%2fb"), "a/b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%C3%A9"), "é");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }

    /// The request that panicked the server: `%`, one ASCII byte, then a multibyte
    /// character.
    #[test]
    fn percent_then_multibyte_does_not_panic() {
        assert_eq!(percent_decode("%aé"), "%aé");
        assert_eq!(percent_decode("%é"), "%é");
        let m = query_map(Some("x=%aé&y=%"));
        assert_eq!(m["x"], "%aé");
        assert_eq!(m["y"], "%");
    }

    #[test]
    fn segments_decode_after_splitting() {
        assert_eq!(
            segments("/apis/rbac.authorization.k8s.io/v1/clusterroles/test%3Acolon"),
            vec![
                "apis",
                "rbac.authorization.k8s.io",
                "v1",
                "clusterroles",
                "test:colon"
            ]
        );
        assert_eq!(segments("/api/v1/x%2Fy"), vec!["api", "v1", "x/y"]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]
        #[test]
        fn query_and_path_never_panic(s in "\\PC*", raw in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = query_map(Some(&s));
            let _ = segments(&s);
            let lossy = String::from_utf8_lossy(&raw);
            let _ = query_map(Some(&lossy));
            let _ = percent_decode(&lossy);
        }

        #[test]
        fn escaping_round_trips(s in "\\PC*") {
            let escaped: String = s
                .bytes()
                .map(|b| format!("%{b:02X}"))
                .collect();
            prop_assert_eq!(percent_decode(&escaped), s);
        }
    }
}
