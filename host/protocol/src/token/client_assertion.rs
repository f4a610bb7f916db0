//! JWT client authentication: `client_secret_jwt` and `private_key_jwt` (OpenID Connect Core
//! §9, RFC 7523 §2.2 and §3, RFC 7521 §4.2).
//!
//! The assertion's `sub` names the client; its keys verify the signature (an HMAC with the
//! client secret for `client_secret_jwt`, a key of its registered set for `private_key_jwt`);
//! then the claims are checked and the `jti` is stored until the assertion expires, so it is
//! used once on every host sharing the store. Each refusal has a [`Refusal`] reason, which
//! goes to the log; the client always gets the same `invalid_client` answer.

use serde::Deserialize;

use crate::authorize::Params;
use crate::client_keys::ClientKeysError;
use crate::clients::{ClientLookupError, is_client_id_url};
use crate::error::OAuthError;
use crate::jose::{ClientJws, JwsAlg, VerifyError};
use crate::model::{AssertionRecord, AuthMethod, CLIENT_ASSERTIONS, Client, is_valid_client_id};
use crate::provider::Provider;
use crate::secret::TokenHash;
use crate::world::UnixTime;

/// RFC 7523 §2.2: "The value of the "client_assertion_type" is
/// "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"."
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The clock skew allowed on `exp`, `nbf` and `iat`, in seconds (RFC 7519 §4.1.4: "some small
/// leeway, usually no more than a few minutes").
pub const LEEWAY_SECONDS: u64 = 60;

/// How far in the future `exp` may be, in seconds. The `jti` is kept until `exp`, so an
/// assertion valid for days would make the store keep it for days; RP libraries use from 60 s
/// (the OpenID conformance suite) to an hour.
pub const MAX_LIFETIME_SECONDS: u64 = 3600;

/// The longest `jti` accepted.
pub const MAX_JTI_LEN: usize = 256;

/// Why an assertion was refused: logged at INFO, never sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("client_assertion_type is not {JWT_BEARER}")]
    WrongType,
    #[error("client_assertion is missing")]
    Missing,
    #[error("client_assertion or client_assertion_type is repeated")]
    Repeated,
    #[error("malformed assertion: {0}")]
    Malformed(VerifyError),
    #[error("wrong alg: the assertion is unsecured (alg none)")]
    Unsecured,
    #[error("wrong alg: {0} is not accepted")]
    UnsupportedAlg(String),
    #[error("malformed assertion: the claims are not an object of the registered claim types")]
    Claims,
    #[error("wrong sub: the assertion names no client")]
    NoSubject,
    #[error("wrong sub: the client_id parameter differs from the assertion's sub")]
    SubjectMismatch,
    #[error("wrong sub: no client can have this identifier")]
    InvalidClientId,
    #[error("unknown client")]
    UnknownClient,
    #[error("wrong method: used {used}, registered for {registered}")]
    WrongMethod { used: &'static str, registered: &'static str },
    #[error("wrong alg: signed with {used}, registered token_endpoint_auth_signing_alg {registered}")]
    WrongAlg { used: JwsAlg, registered: String },
    #[error("the client has no secret")]
    NoSecret,
    #[error("the client secret is shorter than {0} needs")]
    ShortSecret(JwsAlg),
    #[error("bad signature")]
    BadSignature,
    #[error("unknown key: no key of the client's set can verify it (kid {0})")]
    UnknownKey(String),
    #[error("wrong key: the key the kid names does not fit {0}")]
    KeyMismatch(JwsAlg),
    #[error("the client's keys are unavailable: {0}")]
    Keys(ClientKeysError),
    #[error("wrong iss: the issuer is not the client")]
    WrongIssuer,
    #[error("wrong audience: aud names neither the issuer nor the endpoint")]
    WrongAudience,
    #[error("expired: exp is missing")]
    NoExpiry,
    #[error("expired at {0}")]
    Expired(i64),
    #[error("too long: exp is more than {MAX_LIFETIME_SECONDS} s away")]
    TooLong,
    #[error("not yet valid: nbf {0} is in the future")]
    NotYetValid(i64),
    #[error("not yet valid: iat {0} is in the future")]
    IssuedInFuture(i64),
    #[error("missing jti")]
    NoJti,
    #[error("jti is longer than {MAX_JTI_LEN} characters")]
    LongJti,
    #[error("replayed: the jti was used before")]
    Replayed,
}

/// A refusal for the client the assertion named (or tried to), with the reason.
pub(crate) struct Refused {
    pub client_id: String,
    pub reason: Refusal,
}

/// A failure that is not the client's: the store, or an unreadable sealed secret.
pub(crate) enum AssertionError {
    Refused(Refused),
    Server(OAuthError),
}

impl From<crate::store::StoreError> for AssertionError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Server(e.into())
    }
}

/// The registered claims of RFC 7523 §3 (NumericDates may have fractions: RFC 7519 §2).
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default)]
    nbf: Option<f64>,
    #[serde(default)]
    iat: Option<f64>,
    #[serde(default)]
    jti: Option<String>,
}

/// RFC 7519 §4.1.3: "In the general case, the "aud" value is an array of case-sensitive
/// strings ... In the special case when the JWT has one audience, the "aud" value MAY be a
/// single case-sensitive string."
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn names_any(&self, accepted: &[&str]) -> bool {
        match self {
            Self::One(a) => accepted.contains(&a.as_str()),
            Self::Many(all) => all.iter().any(|a| accepted.contains(&a.as_str())),
        }
    }
}

impl Provider {
    /// Authenticates the client named by the assertion in `form`. `form_id` is the
    /// `client_id` parameter, optional (RFC 7521 §4.2) but required to match when present;
    /// `audiences` are the values `aud` may name.
    pub(crate) async fn authenticate_assertion(
        &self,
        form: &Params,
        form_id: Option<&str>,
        audiences: &[&str],
    ) -> Result<Client, AssertionError> {
        let mut client_id = form_id.unwrap_or_default().to_owned();
        let refused =
            |client_id: &str, reason| AssertionError::Refused(Refused { client_id: client_id.to_owned(), reason });
        if form.is_repeated("client_assertion") || form.is_repeated("client_assertion_type") {
            return Err(refused(&client_id, Refusal::Repeated));
        }
        // RFC 7521 §4.2.1: an assertion of an unsupported type is `invalid_client`.
        if form.get("client_assertion_type") != Some(JWT_BEARER) {
            return Err(refused(&client_id, Refusal::WrongType));
        }
        let Some(token) = form.get("client_assertion") else {
            return Err(refused(&client_id, Refusal::Missing));
        };
        let jws = ClientJws::parse(token).map_err(|e| {
            // The client it was meant for, if it says, for the log line.
            let named = form_id.map(str::to_owned).or_else(|| unverified_sub(token)).unwrap_or_default();
            let reason = match e {
                VerifyError::Unsecured => Refusal::Unsecured,
                VerifyError::Algorithm => Refusal::UnsupportedAlg(header_alg(token)),
                e => Refusal::Malformed(e),
            };
            refused(&named, reason)
        })?;
        let claims: Claims = jws.unverified_payload().map_err(|_| refused(&client_id, Refusal::Claims))?;
        // RFC 7523 §3 item 2: "For client authentication, the subject MUST be the "client_id"
        // of the OAuth client."
        let Some(sub) = claims.sub.as_deref().filter(|s| !s.is_empty()) else {
            return Err(refused(&client_id, Refusal::NoSubject));
        };
        if form_id.is_some_and(|id| id != sub) {
            return Err(refused(&client_id, Refusal::SubjectMismatch));
        }
        client_id = sub.to_owned();
        if !is_valid_client_id(&client_id) && !is_client_id_url(&client_id) {
            return Err(refused(&client_id, Refusal::InvalidClientId));
        }
        let client = match self.client(&client_id).await {
            Ok(client) => client,
            Err(ClientLookupError::Unknown(_)) => return Err(refused(&client_id, Refusal::UnknownClient)),
            Err(ClientLookupError::Store(e)) => return Err(AssertionError::Server(e.into())),
        };
        let used = if jws.alg.is_hmac() { AuthMethod::ClientSecretJwt } else { AuthMethod::PrivateKeyJwt };
        let registered = client.metadata.token_endpoint_auth_method;
        if used != registered {
            return Err(refused(
                &client_id,
                Refusal::WrongMethod { used: used.as_str(), registered: registered.as_str() },
            ));
        }
        // OpenID Connect Dynamic Registration §2 token_endpoint_auth_signing_alg: "All Token
        // Requests using these authentication methods from this Client MUST be rejected, if the
        // JWT is not signed with this algorithm."
        if let Some(alg) = client.metadata.token_endpoint_auth_signing_alg.as_deref().filter(|a| *a != jws.alg.as_str())
        {
            return Err(refused(&client_id, Refusal::WrongAlg { used: jws.alg, registered: alg.to_owned() }));
        }
        self.verify_client_signature(&client, &jws).await.map_err(|reason| match reason {
            Ok(reason) => refused(&client_id, reason),
            Err(server) => AssertionError::Server(server),
        })?;
        check_claims(&claims, &client_id, audiences, self.now()).map_err(|reason| refused(&client_id, reason))?;
        // RFC 7523 §3 item 7: "The authorization server MAY ensure that JWTs are not replayed
        // by maintaining the set of used "jti" values for the length of time for which the JWT
        // would be considered valid based on the applicable "exp" instant."
        let jti = claims.jti.as_deref().unwrap_or_default();
        let key = TokenHash::of(&format!("{client_id}\u{1f}{jti}"));
        let until = UnixTime(claims.exp.unwrap_or_default() as i64).plus(LEEWAY_SECONDS + 1);
        let record = AssertionRecord { client_id: client_id.clone() };
        if !CLIENT_ASSERTIONS.insert(self.store(), key.as_str(), &record, Some(until), self.now()).await? {
            return Err(refused(&client_id, Refusal::Replayed));
        }
        Ok(client)
    }

    /// Checks the signature of a JWS the client made (an assertion, a request object) with the
    /// client's secret or keys. `Err(Ok(reason))` is a refusal, `Err(Err(_))` a failure of the
    /// provider's own.
    pub(crate) async fn verify_client_signature(
        &self,
        client: &Client,
        jws: &ClientJws<'_>,
    ) -> Result<(), Result<Refusal, OAuthError>> {
        let refusal = |e: VerifyError| {
            Ok(match e {
                VerifyError::ShortSecret => Refusal::ShortSecret(jws.alg),
                VerifyError::UnknownKey => Refusal::UnknownKey(jws.kid.clone().unwrap_or_else(|| "none".into())),
                VerifyError::KeyMismatch => Refusal::KeyMismatch(jws.alg),
                _ => Refusal::BadSignature,
            })
        };
        if jws.alg.is_hmac() {
            // OpenID Connect Core §9: "The JWT MUST be ... signed using a MAC computed from the
            // client_secret value as the key", the octets of its UTF-8 form.
            let sealed = client.secret.as_ref().ok_or(Ok(Refusal::NoSecret))?;
            let secret = self
                .sealer()
                .open(&client.client_id, sealed)
                .map_err(|e| Err(OAuthError::server_error(format_args!("client {}: {e}", client.client_id))))?;
            return jws.verify_with_secret(secret.expose()).map_err(refusal);
        }
        let keys_unavailable = |e| Ok(Refusal::Keys(e));
        let (set, keys) = self.client_signing_keys(client, false).await.map_err(keys_unavailable)?;
        match jws.verify_with_keys(&keys) {
            // The cached copy of a jwks_uri set may predate the key: fetch it again (at most
            // once per refetch floor) and try once more.
            Err(VerifyError::UnknownKey) if client.metadata.jwks_uri.is_some() => {
                let (fresh, keys) = self.client_signing_keys(client, true).await.map_err(keys_unavailable)?;
                if std::sync::Arc::ptr_eq(&set, &fresh) {
                    return Err(refusal(VerifyError::UnknownKey));
                }
                jws.verify_with_keys(&keys).map_err(refusal)
            }
            other => other.map_err(refusal),
        }
    }
}

/// The claim checks of RFC 7523 §3 on a verified assertion.
fn check_claims(claims: &Claims, client_id: &str, audiences: &[&str], now: UnixTime) -> Result<(), Refusal> {
    // Item 1: "The JWT MUST contain an "iss" (issuer) claim that contains a unique identifier
    // for the entity that issued the JWT" — for client authentication, the client.
    if claims.iss.as_deref() != Some(client_id) {
        return Err(Refusal::WrongIssuer);
    }
    // Item 3: "The JWT MUST contain an "aud" (audience) claim containing a value that
    // identifies the authorization server as an intended audience. The token endpoint URL of
    // the authorization server MAY be used as a value for an "aud" element".
    if !claims.aud.as_ref().is_some_and(|aud| aud.names_any(audiences)) {
        return Err(Refusal::WrongAudience);
    }
    // Item 4: "The JWT MUST contain an "exp" (expiration time) claim that limits the time
    // window during which the JWT can be used."
    let now_f = now.0 as f64;
    let leeway = LEEWAY_SECONDS as f64;
    let exp = claims.exp.ok_or(Refusal::NoExpiry)?;
    if exp + leeway <= now_f {
        return Err(Refusal::Expired(exp as i64));
    }
    if exp > now_f + (MAX_LIFETIME_SECONDS + LEEWAY_SECONDS) as f64 {
        return Err(Refusal::TooLong);
    }
    // Item 5: "The JWT MAY contain an "nbf" (not before) claim that identifies the time before
    // which the token MUST NOT be accepted for processing."
    if let Some(nbf) = claims.nbf.filter(|nbf| *nbf > now_f + leeway) {
        return Err(Refusal::NotYetValid(nbf as i64));
    }
    if let Some(iat) = claims.iat.filter(|iat| *iat > now_f + leeway) {
        return Err(Refusal::IssuedInFuture(iat as i64));
    }
    // OpenID Connect Core §9: "jti REQUIRED. JWT ID. A unique identifier for the token, which
    // can be used to prevent reuse of the token."
    let jti = claims.jti.as_deref().filter(|j| !j.is_empty()).ok_or(Refusal::NoJti)?;
    if jti.chars().count() > MAX_JTI_LEN {
        return Err(Refusal::LongJti);
    }
    Ok(())
}

/// Member `name` of the JSON object in the `part`th dot-separated segment of `token`, as text.
fn segment_member(token: &str, part: usize, name: &str) -> Option<String> {
    use base64::Engine;
    let segment = token.split('.').nth(part)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(segment).ok()?;
    let object = serde_json::from_slice::<serde_json::Value>(&json).ok()?;
    object.get(name)?.as_str().map(str::to_owned)
}

/// The `alg` a refused header named, for the log.
fn header_alg(token: &str) -> String {
    segment_member(token, 0, "alg").unwrap_or_else(|| "(none given)".into())
}

/// The `sub` of an assertion that could not be parsed as a JWS we accept (`alg: none`, say),
/// for the log line only, and only if some client could have it.
fn unverified_sub(token: &str) -> Option<String> {
    segment_member(token, 1, "sub").filter(|s| is_valid_client_id(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(value: serde_json::Value) -> Claims {
        serde_json::from_value(value).unwrap()
    }

    const NOW: UnixTime = UnixTime(1_000_000);
    const AUD: &[&str] = &["https://op.example", "https://op.example/token"];

    fn valid() -> serde_json::Value {
        serde_json::json!({
            "iss": "c1", "sub": "c1", "aud": "https://op.example/token",
            "exp": 1_000_060, "iat": 1_000_000, "nbf": 1_000_000, "jti": "abc"
        })
    }

    fn check(changes: serde_json::Value) -> Result<(), Refusal> {
        let mut v = valid();
        for (k, val) in changes.as_object().unwrap() {
            if val.is_null() {
                v.as_object_mut().unwrap().remove(k);
            } else {
                v[k] = val.clone();
            }
        }
        check_claims(&claims(v), "c1", AUD, NOW)
    }

    #[test]
    fn assertion_claims_follow_rfc7523_section_3() {
        use serde_json::json;
        assert!(check(json!({})).is_ok());
        assert!(check(json!({"aud": "https://op.example"})).is_ok(), "the issuer as audience");
        assert!(check(json!({"aud": ["x", "https://op.example/token"]})).is_ok(), "an array naming the endpoint");
        assert!(check(json!({"exp": 1_000_000.5, "iat": null, "nbf": null})).is_ok(), "fractional dates");
        assert!(check(json!({"exp": 999_950})).is_ok(), "expired within the leeway");
        assert!(matches!(check(json!({"exp": 999_940})), Err(Refusal::Expired(_))));
        assert!(matches!(check(json!({"exp": null})), Err(Refusal::NoExpiry)));
        assert!(matches!(check(json!({"exp": 1_003_661})), Err(Refusal::TooLong)));
        assert!(check(json!({"exp": 1_003_600})).is_ok(), "an hour is accepted");
        assert!(matches!(check(json!({"nbf": 1_000_061})), Err(Refusal::NotYetValid(_))));
        assert!(check(json!({"nbf": 1_000_059})).is_ok(), "not before within the leeway");
        assert!(matches!(check(json!({"iat": 1_000_061})), Err(Refusal::IssuedInFuture(_))));
        assert!(matches!(check(json!({"jti": null})), Err(Refusal::NoJti)));
        assert!(matches!(check(json!({"jti": ""})), Err(Refusal::NoJti)));
        assert!(matches!(check(json!({"jti": "j".repeat(257)})), Err(Refusal::LongJti)));
        assert!(matches!(check(json!({"iss": "c2"})), Err(Refusal::WrongIssuer)));
        assert!(matches!(check(json!({"iss": null})), Err(Refusal::WrongIssuer)));
        assert!(matches!(check(json!({"aud": "https://op.example/userinfo"})), Err(Refusal::WrongAudience)));
        assert!(matches!(check(json!({"aud": ["https://op.example/"]})), Err(Refusal::WrongAudience)));
        assert!(matches!(check(json!({"aud": null})), Err(Refusal::WrongAudience)));
    }
}
