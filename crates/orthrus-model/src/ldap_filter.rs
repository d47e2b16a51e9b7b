//! The assertions of an LDAP search filter, as structured data: what detections read instead
//! of parsing the filter's text again.

use serde::{Deserialize, Serialize};

/// Assertions one search keeps at most (the rest of a longer filter is left out).
pub const MAX_ASSERTIONS: usize = 256;

/// How an assertion compares (RFC 4511 4.5.1.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssertionKind {
    Equality,
    Substring,
    Present,
    GreaterOrEqual,
    LessOrEqual,
    Approx,
    Extensible,
}

/// One assertion of a search filter, in the order the filter gives them (negated or not).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LdapAssertion {
    /// The attribute as the client spelled it (an extensible match's attribute; one without
    /// an attribute is not listed).
    pub attribute: String,
    pub kind: AssertionKind,
    /// The value as RFC 4515 writes it: escapes kept (`\2a`), a substring's pieces joined by
    /// `*`, `*` for presence; an extensible match's rule left out.
    pub value: String,
}

impl LdapAssertion {
    /// `(attr=value)` as the filter's text shows it — equality, presence or substring —
    /// rather than `>=`, `<=`, `~=` or an extensible `:rule:=`.
    pub fn is_equality_form(&self) -> bool {
        matches!(self.kind, AssertionKind::Equality | AssertionKind::Substring | AssertionKind::Present)
    }

    /// The value with RFC 4515 `\XX` escapes decoded; bytes that do not form UTF-8 are
    /// replaced.
    pub fn unescaped(&self) -> String {
        let bytes = self.value.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            match (b, hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
                (b'\\', Some(decoded)) => {
                    out.push(decoded);
                    i += 3;
                }
                _ => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The assertions of a filter's RFC 4515 text. Only for searches recorded before the
    /// decoder kept assertions (activities stored by an older sensor or center): the decoder
    /// gives them from the filter itself.
    pub fn from_text(filter: &str) -> Vec<LdapAssertion> {
        filter
            .split('(')
            .filter_map(|item| {
                let end = item.find(['=', '~', '<', '>', ':'])?;
                let attribute = item.get(..end)?.trim();
                let value_start = item.find('=')? + 1;
                let value = item.get(value_start..)?;
                let value = value.split(')').next().unwrap_or(value);
                if attribute.is_empty() || attribute.starts_with(['&', '|', '!']) {
                    return None;
                }
                let kind = match item.get(end..end + 1) {
                    Some("~") => AssertionKind::Approx,
                    Some("<") => AssertionKind::LessOrEqual,
                    Some(">") => AssertionKind::GreaterOrEqual,
                    Some(":") => AssertionKind::Extensible,
                    _ if value == "*" => AssertionKind::Present,
                    _ if value.contains('*') => AssertionKind::Substring,
                    _ => AssertionKind::Equality,
                };
                Some(LdapAssertion { attribute: attribute.to_owned(), kind, value: value.to_owned() })
            })
            .take(MAX_ASSERTIONS)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_of_older_records_reads_as_the_decoder_gives_it() {
        let read = LdapAssertion::from_text(
            "(&(objectClass=user)(!(cn=a*b))(uac:1.2.840.113556.1.4.803:=2)(x>=3)(mail=*)(cn=\\2a))",
        );
        let kinds: Vec<(&str, AssertionKind, &str)> =
            read.iter().map(|a| (a.attribute.as_str(), a.kind, a.value.as_str())).collect();
        assert_eq!(
            kinds,
            [
                ("objectClass", AssertionKind::Equality, "user"),
                ("cn", AssertionKind::Substring, "a*b"),
                ("uac", AssertionKind::Extensible, "2"),
                ("x", AssertionKind::GreaterOrEqual, "3"),
                ("mail", AssertionKind::Present, "*"),
                ("cn", AssertionKind::Equality, "\\2a"),
            ]
        );
        assert_eq!(read.last().map(LdapAssertion::unescaped).as_deref(), Some("*"));
        assert!(read.iter().filter(|a| a.is_equality_form()).count() == 4);
    }
}
