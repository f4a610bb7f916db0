//! HTTP Basic client credentials, decoded exactly (RFC 6749 §2.3.1, RFC 7617 §2).
//!
//! The header is `Basic` 1*SP base64(form-urlencode(client_id) ":" form-urlencode(secret)).
//! Anything else is refused as a whole; nothing is guessed or dropped.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::ClientAuth;
use crate::secret::Secret;

/// Why an `Authorization` header is not valid Basic client credentials. The variants carry no
/// part of the header, so they can be logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BasicError {
    #[error("the authorization scheme is not Basic")]
    Scheme,
    #[error("the credentials are not one padded base64 token")]
    Base64,
    #[error("the decoded credentials have no ':' between client id and secret")]
    NoColon,
    #[error("the client id is empty")]
    EmptyId,
    #[error("the {0} holds a malformed percent escape")]
    PercentEscape(CredentialPart),
    #[error("the {0} holds a raw '&' or '=', which form encoding escapes")]
    Delimiter(CredentialPart),
    #[error("the {0} is not UTF-8 once decoded")]
    Utf8(CredentialPart),
}

/// Which half of the credentials an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialPart {
    ClientId,
    Secret,
}

impl std::fmt::Display for CredentialPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CredentialPart::ClientId => "client id",
            CredentialPart::Secret => "client secret",
        })
    }
}

/// Decodes the value of an `Authorization` header as Basic client credentials: the client id
/// and the secret, each form-decoded.
///
/// RFC 7235 §2.1: `credentials = auth-scheme [ 1*SP token68 ]`, the scheme case-insensitive;
/// RFC 9110 §5.5: the field value carries no leading or trailing whitespace.
pub fn basic_credentials(header_value: &str) -> Result<(String, Secret<String>), BasicError> {
    let value = header_value.trim_matches([' ', '\t']);
    let (scheme, token) = value.split_once(' ').ok_or(BasicError::Scheme)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(BasicError::Scheme);
    }
    // RFC 7617 §2: the token is the base64 (RFC 4648 §4) of user-pass, padded, nothing after.
    let decoded = STANDARD.decode(token.trim_start_matches(' ')).map_err(|_| BasicError::Base64)?;
    // RFC 7617 §2: the user-id cannot contain ':', so the first one ends it.
    let colon = decoded.iter().position(|&b| b == b':').ok_or(BasicError::NoColon)?;
    let id = form_decode(&decoded[..colon], CredentialPart::ClientId)?;
    if id.is_empty() {
        return Err(BasicError::EmptyId);
    }
    let secret = form_decode(&decoded[colon + 1..], CredentialPart::Secret)?;
    Ok((id, Secret::new(secret)))
}

/// Decodes one `application/x-www-form-urlencoded` value (RFC 6749 Appendix B): `+` is a space,
/// `%HH` an octet, and the octets are UTF-8.
///
/// Appendix B encodes with the HTML 4.01 §17.13.4 rules, which escape every `&` and `=`: they
/// are the delimiters of the form syntax, so a raw one means the text is not one encoded value
/// (`conf&x=y` is two pairs, not a client id) and it is refused rather than decoded as itself.
/// Other unescaped characters (`:` in the secret, `~`, `!`, ...) decode as themselves, as the
/// form parsers of browsers and libraries do; a `%` not followed by two hex digits is refused.
fn form_decode(encoded: &[u8], part: CredentialPart) -> Result<String, BasicError> {
    let mut out = Vec::with_capacity(encoded.len());
    let mut bytes = encoded.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16));
                match (hex(bytes.next()), hex(bytes.next())) {
                    (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                    _ => return Err(BasicError::PercentEscape(part)),
                }
            }
            b'&' | b'=' => return Err(BasicError::Delimiter(part)),
            _ => out.push(b),
        }
    }
    String::from_utf8(out).map_err(|_| BasicError::Utf8(part))
}

impl ClientAuth {
    /// The client credentials of a token request's `Authorization` header, if it has one. A
    /// header that is not valid Basic credentials is kept as `malformed_header`; why is logged.
    pub fn from_authorization(header_value: Option<&str>) -> Self {
        match header_value.map(basic_credentials) {
            None => Self::default(),
            Some(Ok(basic)) => Self { basic: Some(basic), malformed_header: false },
            Some(Err(reason)) => {
                tracing::info!(%reason, "the Authorization header is not valid Basic client credentials");
                Self { basic: None, malformed_header: true }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user_pass: &str) -> String {
        format!("Basic {}", STANDARD.encode(user_pass))
    }

    fn ok(value: &str) -> (String, String) {
        let (id, secret) = basic_credentials(value).unwrap_or_else(|e| panic!("{value:?}: {e}"));
        (id, secret.expose().clone())
    }

    fn err(value: &str) -> BasicError {
        basic_credentials(value).map(|(id, _)| id).expect_err(value)
    }

    #[test]
    fn plain_credentials_decode() {
        assert_eq!(ok(&header("client:secret")), ("client".into(), "secret".into()));
        // RFC 7617 §2 example.
        assert_eq!(ok("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="), ("Aladdin".into(), "open sesame".into()));
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_may_be_followed_by_several_spaces() {
        let token = STANDARD.encode("a:b");
        for value in [format!("basic {token}"), format!("BASIC {token}"), format!("Basic   {token}")] {
            assert_eq!(ok(&value), ("a".into(), "b".into()), "{value}");
        }
        assert_eq!(ok(&format!(" Basic {token}\t")), ("a".into(), "b".into()), "surrounding whitespace");
    }

    #[test]
    fn form_encoding_is_decoded() {
        // RFC 6749 Appendix B's example value, as a secret.
        assert_eq!(ok(&header("id:+%25%26%2B%C2%A3%E2%82%AC")).1, " %&+£€");
        assert_eq!(ok(&header("my+client:p%3Ass")), ("my client".into(), "p:ss".into()));
        assert_eq!(ok(&header("a%3Ab%26c%3Dd:x")).0, "a:b&c=d", "escaped ':', '&' and '=' in the id");
        assert_eq!(ok(&header("%c3%a9:x")).0, "é", "lower-case hex");
    }

    #[test]
    fn the_first_colon_splits_and_later_ones_belong_to_the_secret() {
        assert_eq!(ok(&header("id:a:b:c")), ("id".into(), "a:b:c".into()));
        assert_eq!(ok(&header("id:")), ("id".into(), String::new()));
    }

    #[test]
    fn trailing_parameters_are_refused() {
        assert_eq!(err(&header("conf&x=y:secret")), BasicError::Delimiter(CredentialPart::ClientId));
        assert_eq!(err(&header("conf:secret&x=y")), BasicError::Delimiter(CredentialPart::Secret));
        assert_eq!(err(&header("conf=:secret")), BasicError::Delimiter(CredentialPart::ClientId));
    }

    #[test]
    fn malformed_escapes_and_bad_utf8_are_refused() {
        assert_eq!(err(&header("a%2:x")), BasicError::PercentEscape(CredentialPart::ClientId));
        assert_eq!(err(&header("a%:x")), BasicError::PercentEscape(CredentialPart::ClientId));
        assert_eq!(err(&header("a:%zz")), BasicError::PercentEscape(CredentialPart::Secret));
        assert_eq!(err(&header("a:%4")), BasicError::PercentEscape(CredentialPart::Secret));
        assert_eq!(err(&header("%ff:x")), BasicError::Utf8(CredentialPart::ClientId));
        assert_eq!(err(&header("a:%c3")), BasicError::Utf8(CredentialPart::Secret));
        let raw = format!("Basic {}", STANDARD.encode(b"a:\xff"));
        assert_eq!(err(&raw), BasicError::Utf8(CredentialPart::Secret), "raw octets that are not UTF-8");
    }

    #[test]
    fn the_header_shape_is_exact() {
        let token = STANDARD.encode("a:b");
        assert_eq!(err(&format!("Bearer {token}")), BasicError::Scheme);
        assert_eq!(err("Basic"), BasicError::Scheme);
        assert_eq!(err(&format!("Basic{token}")), BasicError::Scheme);
        assert_eq!(err(&format!("Basic Basic {token}")), BasicError::Base64, "one scheme token only");
        assert_eq!(err(&format!("Basic {token} {token}")), BasicError::Base64, "one credentials token only");
        assert_eq!(err(&format!("Basic {token},x")), BasicError::Base64, "no trailing data");
        assert_eq!(ok("Basic YTpi"), ("a".into(), "b".into()), "no padding needed");
        assert_eq!(err("Basic YTpiYw"), BasicError::Base64, "padding is required");
        assert_eq!(err("Basic YTpiYw="), BasicError::Base64, "padding must be complete");
        assert_eq!(err("Basic YTpiYx=="), BasicError::Base64, "non-canonical trailing bits");
        assert_eq!(err("Basic YTpi_w=="), BasicError::Base64, "the base64url alphabet is not base64");
        assert_eq!(err("Basic "), BasicError::Scheme, "no credentials");
        assert_eq!(err(&header("nocolon")), BasicError::NoColon);
        assert_eq!(err(&header(":secret")), BasicError::EmptyId);
    }

    #[test]
    fn a_malformed_header_is_flagged_and_a_missing_one_is_not() {
        assert!(ClientAuth::from_authorization(Some(&header("conf&x=y:secret"))).malformed_header);
        assert!(!ClientAuth::from_authorization(None).malformed_header);
        let auth = ClientAuth::from_authorization(Some(&header("id:s")));
        assert_eq!(auth.basic.map(|(id, s)| (id, s.expose().clone())), Some(("id".into(), "s".into())));
    }
}
