//! The records the protocol keeps, and the collections they live in.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::jwe::{Enc, KeyAlg};
use crate::secret::{Sealed, TokenHash};
use crate::signer::Alg;
use crate::store::Collection;
use crate::world::UnixTime;

pub type JsonObject = Map<String, Value>;

/// How a client authenticates at the token endpoint (RFC 7591 §2).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
    /// A JWT signed with HMAC keyed by the client secret (OpenID Connect Core §9).
    ClientSecretJwt,
    /// A JWT signed with one of the client's registered keys (RFC 7523 §2.2).
    PrivateKeyJwt,
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretJwt => "client_secret_jwt",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }

    /// Whether the client holds a shared secret (the methods that send it, or sign with it).
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost | Self::ClientSecretJwt)
    }
}

/// OpenID Connect Core §8 subject identifier types.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectType {
    #[default]
    Public,
    Pairwise,
}

/// RFC 7591 §2 `application_type` (OpenID Connect Dynamic Registration §2).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationType {
    #[default]
    Web,
    Native,
}

fn default_grant_types() -> Vec<String> {
    vec!["authorization_code".into()]
}

fn default_response_types() -> Vec<String> {
    vec!["code".into()]
}

/// Client metadata in RFC 7591 / OpenID Connect Dynamic Registration shape. Members Gatehouse
/// does not interpret are kept in `extra` and returned as they were given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientMetadata {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub token_endpoint_auth_method: AuthMethod,
    #[serde(default = "default_grant_types")]
    pub grant_types: Vec<String>,
    #[serde(default = "default_response_types")]
    pub response_types: Vec<String>,
    #[serde(default)]
    pub application_type: ApplicationType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    /// The scopes the client may request, space-separated. Absent means any scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<Alg>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_max_age: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,

    // Client keys (OpenID Connect Dynamic Registration §2): at most one of the two.
    /// The client's public keys, inline, as a JWK set (kept as JSON: a set may hold keys for
    /// algorithms the JOSE crates do not model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The JWS algorithm of `client_secret_jwt` / `private_key_jwt` assertions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg: Option<String>,

    // Subjects (OpenID Connect Core §8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_type: Option<SubjectType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector_identifier_uri: Option<String>,

    // Token and UserInfo encryption and signing (Dynamic Registration §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_encrypted_response_alg: Option<KeyAlg>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_encrypted_response_enc: Option<Enc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_signed_response_alg: Option<Alg>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_encrypted_response_alg: Option<KeyAlg>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_encrypted_response_enc: Option<Enc>,

    // Request objects (OpenID Connect Core §6, RFC 9101) and PAR (RFC 9126).
    /// The JWS algorithm of the client's request objects, `none` included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object_signing_alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object_encryption_alg: Option<KeyAlg>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object_encryption_enc: Option<Enc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_signed_request_object: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_pushed_authorization_requests: bool,

    // Authentication requirements (Dynamic Registration §2).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_auth_time: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_acr_values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiate_login_uri: Option<String>,

    // Logout (Front-Channel Logout 1.0 §2, Back-Channel Logout 1.0 §2.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontchannel_logout_uri: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub frontchannel_logout_session_required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backchannel_logout_session_required: bool,

    // Gatehouse's extension: identity claims in JWT access tokens (RFC 9068 §2.2.3.1).
    /// Claims to carry in this client's access tokens besides the standard ones, each only when
    /// the user granted it to the client; their values come like UserInfo's (consent presets,
    /// the front-end's session claims, then the claims-source plugins, asked for the
    /// `access-token` purpose). Introspection returns them too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_token_claims: Vec<String>,

    /// Members Gatehouse does not interpret, kept and returned as given (RFC 7591 §2).
    #[serde(flatten)]
    pub extra: JsonObject,
}

impl Default for ClientMetadata {
    fn default() -> Self {
        serde_json::from_value(Value::Object(Map::new())).expect("empty metadata has defaults")
    }
}

impl ClientMetadata {
    /// The registered scopes, if the client is limited to some.
    pub fn allowed_scopes(&self) -> Option<Vec<&str>> {
        self.scope.as_deref().map(|s| s.split_ascii_whitespace().collect())
    }

    pub fn has_grant_type(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }
}

/// Where a client came from. Clients from the configuration file are read-only through the API.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientSource {
    #[default]
    Api,
    Config,
    /// Registered by the client itself at the registration endpoint (RFC 7591).
    Dynamic,
    /// Described by the document its client ID URL names (`clients/metadata_document.rs`).
    MetadataDocument,
}

/// A registered client.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Client {
    pub client_id: String,
    /// The client secret, sealed under the master key with the client id as context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Sealed>,
    pub metadata: ClientMetadata,
    pub issued_at: UnixTime,
    #[serde(default)]
    pub source: ClientSource,
    /// Random, new each time a client id is registered: grants and consents name the
    /// incarnation they were given to, so those of a deleted client never serve a client
    /// registered later under the same id.
    #[serde(default)]
    pub incarnation: String,
    /// The hash of the RFC 7592 registration access token, for dynamically registered
    /// clients; the token itself is handed out once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_token: Option<TokenHash>,
    /// For a client described by a metadata document: when the document is to be fetched again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_after: Option<UnixTime>,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.metadata.token_endpoint_auth_method == AuthMethod::None
    }
}

impl ClientMetadata {
    /// The subject type, public unless the client registered pairwise.
    pub fn subject_type(&self) -> SubjectType {
        self.subject_type.unwrap_or_default()
    }
}

/// The longest client identifier Gatehouse registers, and so the longest it looks up.
pub const MAX_CLIENT_ID_LEN: usize = 128;

/// Whether `id` can name a client: 1 to [`MAX_CLIENT_ID_LEN`] characters of ASCII letters,
/// digits and `-._~:` (RFC 3986 unreserved characters and the colon of URN-style ids). The one
/// rule for registration and for every lookup, so an identifier no client can have is refused
/// before it costs a read, a cache entry or more than a line of log.
pub fn is_valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CLIENT_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~:".contains(&b))
}

/// A `response_type` (OAuth 2.0 Multiple Response Type Encoding Practices §3): which of a
/// code, an access token and an ID token the authorization endpoint returns. Its words may
/// come in any order; [`ResponseType::as_str`] is the one spelling Gatehouse stores.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ResponseType {
    pub code: bool,
    pub id_token: bool,
    pub token: bool,
}

impl ResponseType {
    /// The response types OpenID Connect defines with a code or an ID token, in the order
    /// discovery lists them.
    pub const SUPPORTED: [&'static str; 6] =
        ["code", "id_token", "id_token token", "code id_token", "code token", "code id_token token"];

    /// Reads a space-separated response type; `None` for anything but one of
    /// [`ResponseType::SUPPORTED`] (a repeated or unknown word, `none`, `token` alone).
    pub fn parse(value: &str) -> Option<Self> {
        let mut t = Self { code: false, id_token: false, token: false };
        for word in value.split(' ') {
            let seen = match word {
                "code" => &mut t.code,
                "id_token" => &mut t.id_token,
                "token" => &mut t.token,
                _ => return None,
            };
            if std::mem::replace(seen, true) {
                return None;
            }
        }
        (t.code || t.id_token).then_some(t)
    }

    pub fn as_str(self) -> &'static str {
        match (self.code, self.id_token, self.token) {
            (true, false, false) => "code",
            (false, true, false) => "id_token",
            (false, true, true) => "id_token token",
            (true, true, false) => "code id_token",
            (true, false, true) => "code token",
            (true, true, true) => "code id_token token",
            (false, false, _) => unreachable!("parse refuses a response type without a code or an ID token"),
        }
    }

    /// Whether anything but a code comes back from the authorization endpoint, which then
    /// answers in the fragment by default and never in the query (Multiple Response Type
    /// Encoding Practices §2.1, §5).
    pub fn returns_tokens(self) -> bool {
        self.id_token || self.token
    }

    /// The grant types a client needs for it: `authorization_code` for a code, `implicit`
    /// for tokens from the authorization endpoint (OpenID Connect Dynamic Registration §2).
    pub fn grant_types(self) -> impl Iterator<Item = &'static str> {
        [self.code.then_some("authorization_code"), self.returns_tokens().then_some("implicit")].into_iter().flatten()
    }
}

/// OpenID Connect Core §3.1.2.1 `response_mode` (and OAuth 2.0 Form Post Response Mode).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    #[default]
    Query,
    Fragment,
    FormPost,
}

/// A `redirect_uri` that the redirect check matched exactly against the client's registered
/// URIs. Only that check constructs one outside of deserialisation of stored sessions, so an
/// unverified URI cannot reach a redirect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VerifiedRedirect(String);

impl VerifiedRedirect {
    pub(crate) fn new(uri: String) -> Self {
        Self(uri)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// OpenID Connect Core §3.1.2.1 `prompt` values.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptValue {
    None,
    Login,
    Consent,
    SelectAccount,
}

/// The OpenID Connect `claims` request parameter (Core §5.5): claim name → request options,
/// per target.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClaimsParameter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<Map<String, Value>>,
}

/// A validated authentication request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: VerifiedRedirect,
    /// Whether the request named `redirect_uri` (then the token request must repeat it).
    #[serde(default)]
    pub redirect_uri_given: bool,
    pub response_type: String,
    pub response_mode: ResponseMode,
    pub scope: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompt: Vec<PromptValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_hint: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acr_values: Vec<String>,
    /// Whether the `claims` parameter asked for `acr` as essential with these `acr_values`
    /// (OpenID Connect Core §5.5.1.1): a login that reaches none of them fails.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub acr_essential: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ui_locales: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims_locales: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// The `sub` of a valid `id_token_hint`, as its client saw it (pairwise for a pairwise
    /// client; compared through `Provider::subject_for`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_hint_sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<ClaimsParameter>,
    /// The protected resources the tokens are for (RFC 8707), each one the client may ask for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
}

impl AuthorizationRequest {
    /// Whether this is an OpenID Connect request (it asks for the `openid` scope).
    pub fn is_openid(&self) -> bool {
        self.scope.iter().any(|s| s == "openid")
    }

    /// The validated response type (stored in its one spelling).
    pub fn response_type(&self) -> ResponseType {
        ResponseType::parse(&self.response_type).unwrap_or(ResponseType { code: true, id_token: false, token: false })
    }

    pub fn has_prompt(&self, p: PromptValue) -> bool {
        self.prompt.contains(&p)
    }
}

/// An authenticated end-user at the provider: the single sign-on session.
///
/// `sid` is public: it goes into tokens (`sid`), logout and plugin queries. What proves the
/// session to the provider is a separate credential that only the front-end holds (its SSO
/// cookie); the provider keeps only its hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubjectSession {
    pub sid: String,
    /// The hash of the front-end's SSO credential; absent in sessions that cannot be resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<TokenHash>,
    pub sub: String,
    pub auth_time: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// Claims the front-end supplied at login, released per consent.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub claims: JsonObject,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// The clients this session answered, oldest first: who is told when it ends
    /// (back- and front-channel logout). At most [`SubjectSession::MAX_CLIENTS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<String>,
}

impl SubjectSession {
    pub const MAX_CLIENTS: usize = 64;

    /// Notes that the session answered `client_id`; whether that changed the record.
    pub fn add_client(&mut self, client_id: &str) -> bool {
        if self.clients.iter().any(|c| c == client_id) {
            return false;
        }
        if self.clients.len() >= Self::MAX_CLIENTS {
            self.clients.remove(0);
        }
        self.clients.push(client_id.to_owned());
        true
    }
}

/// An RP-initiated logout request waiting for the front-end to confirm it with the user
/// (OpenID Connect RP-Initiated Logout 1.0), stored under its id until it is answered or
/// expires.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogoutRequest {
    pub id: String,
    /// The client that asked, from `client_id` or the `id_token_hint`'s audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// A registered `post_logout_redirect_uri` of that client, with `state` already added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
    /// The `sid` of the hint's ID token: the session the client believes it is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ui_locales: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logout_hint: Option<String>,
    pub expires_at: UnixTime,
}

/// Token settings a consent can choose (Connect2id's shape).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// Lifetime in seconds; the server default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<u64>,
}

/// Refresh-token settings a consent can choose.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshSettings {
    #[serde(default)]
    pub issue: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<u64>,
}

/// Claims the consent sets directly, per target.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetClaims {
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub id_token: JsonObject,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub userinfo: JsonObject,
}

/// A remembered consent: long-lived per subject and client, or for one subject session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsentRecord {
    pub sub: String,
    pub client_id: String,
    /// The client's incarnation the consent was given to (see [`Client::incarnation`]).
    #[serde(default)]
    pub client_incarnation: String,
    pub scope: Vec<String>,
    pub claims: Vec<String>,
    #[serde(default)]
    pub preset_claims: PresetClaims,
    #[serde(default)]
    pub access_token: TokenSettings,
    #[serde(default)]
    pub id_token: TokenSettings,
    #[serde(default)]
    pub refresh_token: RefreshSettings,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audience: Vec<String>,
    /// The protected resources (RFC 8707) consented to; a request for another asks again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    pub updated_at: UnixTime,
}

impl ConsentRecord {
    pub fn key(sub: &str, client_id: &str) -> String {
        format!("{sub}\u{1f}{client_id}")
    }
}

/// An authorization a subject gave a client: the root every code, access token and refresh
/// token issued from it points to. Revoking it revokes all of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    /// The client's incarnation the grant was given to (see [`Client::incarnation`]).
    #[serde(default)]
    pub client_incarnation: String,
    pub sub: String,
    pub scope: Vec<String>,
    pub claims: Vec<String>,
    /// Claims the `claims` request parameter asked to have in the ID token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token_claims: Vec<String>,
    /// Claims the `claims` parameter asked to have at UserInfo; `None` in grants made before
    /// this was recorded, which release every granted claim outside the scopes there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_claims: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims_locales: Vec<String>,
    #[serde(default)]
    pub preset_claims: PresetClaims,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub session_claims: JsonObject,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub data: JsonObject,
    pub auth_time: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub audience: Vec<String>,
    /// The protected resources the authorization request named (RFC 8707); each access token
    /// is for one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    pub access_token_lifetime: u64,
    pub id_token_lifetime: u64,
    /// Lifetime of refresh tokens, when the consent allowed them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_lifetime: Option<u64>,
    pub created_at: UnixTime,
    #[serde(default)]
    pub revoked: bool,
}

impl Grant {
    /// Whether tokens from this grant still work for `client`: not revoked, and given to this
    /// incarnation of the client (a deleted client's grants serve no client registered later
    /// under its id).
    pub fn serves(&self, client: &Client) -> bool {
        !self.revoked && self.client_id == client.client_id && self.client_incarnation == client.incarnation
    }
}

/// Whether a single-use credential has been redeemed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UseState {
    Issued,
    Used,
}

/// An authorization code, stored under the hash of the code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CodeRecord {
    pub grant_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    #[serde(default)]
    pub redirect_uri_given: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub state: UseState,
}

/// A refresh token, stored under the hash of the token. Rotation marks it used; a used token
/// presented again revokes its grant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub grant_id: String,
    pub client_id: String,
    pub state: UseState,
}

/// A software signing key, its private part sealed under the master key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredKey {
    pub kid: String,
    pub alg_family: String,
    pub private_pkcs8: Sealed,
    pub created_at: UnixTime,
}

/// A client assertion that was accepted (RFC 7523 §3: the `jti` is single use), stored under
/// the hash of the client id and `jti` until the assertion expires, so a replay on any host
/// sharing the store is refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssertionRecord {
    pub client_id: String,
}

/// A revoked access token (RFC 7009 §2.2), stored under its `jti` until the token expires,
/// so UserInfo and introspection on every host sharing the store refuse it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RevokedToken {
    pub client_id: String,
}

/// A pushed authorization request (RFC 9126), stored under the hash of its `request_uri`
/// until it is used or expires.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PushedRequest {
    pub client_id: String,
    /// The request's parameters as pushed, client authentication left out.
    pub params: Vec<(String, String)>,
}

pub const CLIENTS: Collection<Client> = Collection::new("clients");
pub const SUBJECT_SESSIONS: Collection<SubjectSession> = Collection::new("subject_sessions");
pub const CONSENTS: Collection<ConsentRecord> = Collection::new("consents");
/// Consents that are not long-lived, kept per subject session and client until the subject
/// session expires (keyed by [`ConsentRecord::key`] of the session's `sid`).
pub const SESSION_CONSENTS: Collection<ConsentRecord> = Collection::new("session_consents");
pub const GRANTS: Collection<Grant> = Collection::new("grants");
pub const CODES: Collection<CodeRecord> = Collection::new("codes");
pub const REFRESH_TOKENS: Collection<RefreshRecord> = Collection::new("refresh_tokens");
pub const SIGNING_KEYS: Collection<StoredKey> = Collection::new("signing_keys");
pub const CLIENT_ASSERTIONS: Collection<AssertionRecord> = Collection::new("client_assertions");

/// A secret the provider generates once and every host shares, sealed under the master key
/// with its name as context (the pairwise-subject salt).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProviderSecret {
    pub sealed: Sealed,
}

pub const PROVIDER_SECRETS: Collection<ProviderSecret> = Collection::new("provider_secrets");
pub const REVOKED_ACCESS_TOKENS: Collection<RevokedToken> = Collection::new("revoked_access_tokens");
pub const PUSHED_REQUESTS: Collection<PushedRequest> = Collection::new("pushed_requests");
pub const LOGOUT_REQUESTS: Collection<LogoutRequest> = Collection::new("logout_requests");
