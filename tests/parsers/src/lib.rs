//! One check per parser a stranger can reach: authorization request parameters, Basic client
//! credentials, compact JWS, client assertions, client metadata JSON. Each check takes arbitrary bytes, runs the
//! parser and what the provider does next with its result, and panics only on a bug: a panic
//! in the code under test, or a broken invariant asserted here.
//!
//! The proptests in `tests/` run them a few thousand times in `cargo test`; the fuzz targets in
//! the top-level `fuzz/` folder run them for millions of executions (docs/fuzzing.md).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use gatehouse_protocol::authorize::{self, Params, Rejection};
use gatehouse_protocol::clients::ClientRegistration;
use gatehouse_protocol::jose;
use gatehouse_protocol::model::ApplicationType;
use gatehouse_protocol::plugins::Policies;
use gatehouse_protocol::secret::{Sealer, Secret};
use gatehouse_protocol::signer::{Alg, Signer};
use gatehouse_protocol::store::Store;
use gatehouse_protocol::token::{self, BasicError};
use gatehouse_protocol::world::{Clock, SystemRandom, UnixTime};
use gatehouse_protocol::{ErrorCode, Ports, Provider, Settings};
use gatehouse_signer::SoftwareSigner;
use gatehouse_store::MemoryStore;
use jose_jwk::Jwk;
use serde_json::{Value, json};
use url::{Host, Url};

pub const ISSUER: &str = "https://issuer.example";
/// The web client's redirect URIs; the first is the one the request prefixes name.
pub const WEB_REDIRECTS: [&str; 2] = ["https://app.example.com/cb", "https://app.example.com/cb?x=1"];
pub const NATIVE_REDIRECTS: [&str; 2] = ["com.example.app:/cb", "http://127.0.0.1:8080/cb"];

/// Prefixes that take a request past the client and redirect URI checks, so that the checks
/// after them see the input too.
const PREFIXES: [&str; 3] = [
    "",
    "client_id=app&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&",
    "client_id=native&redirect_uri=com.example.app%3A%2Fcb&response_type=code&scope=openid&",
];

/// A clock that stands still, so that a failing input fails again.
struct Fixed(UnixTime);

impl Clock for Fixed {
    fn now(&self) -> UnixTime {
        self.0
    }
}

/// The clients that authenticate with JWT assertions.
pub const JWT_CLIENTS: [&str; 2] = ["keys", "hmac"];

/// A provider over the in-memory store with fresh software keys and four registered clients:
/// `app` (web, confidential), `native` (public), `keys` (`private_key_jwt` with the provider's
/// own public keys, whose private halves no input has) and `hmac` (`client_secret_jwt`).
pub struct World {
    runtime: tokio::runtime::Runtime,
    provider: Provider,
    signer: Arc<SoftwareSigner>,
    /// The public key of each algorithm, whatever `kid` a token names.
    keys: Vec<(Alg, Jwk)>,
    now: UnixTime,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    pub fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime");
        let now = UnixTime(1_800_000_000);
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let sealer = Arc::new(Sealer::new(&Secret::new([7; 32])));
        let signer = Arc::new(
            runtime
                .block_on(SoftwareSigner::load_or_generate(store.as_ref(), &sealer, &SystemRandom, now))
                .expect("software signing keys"),
        );
        let keys: Vec<(Alg, Jwk)> = Alg::ALL
            .into_iter()
            .map(|alg| {
                let kid = signer.active_key(alg, now).expect("a software key for every algorithm");
                (alg, signer.verification_key(&kid, now).expect("the active key is published"))
            })
            .collect();
        let ports = Ports {
            store,
            signer: signer.clone(),
            sealer,
            clock: Arc::new(Fixed(now)),
            random: Arc::new(SystemRandom),
            policies: Policies::default(),
            fetcher: Arc::new(gatehouse_protocol::fetch::NoFetcher),
            logout_delivery: Arc::new(gatehouse_protocol::logout::NoDelivery),
        };
        let provider = Provider::new(Settings::new(ISSUER), ports);
        let jwks = json!({"keys": keys.iter().map(|(_, k)| k).collect::<Vec<_>>()});
        let world = World { runtime, provider, signer, keys, now };
        for metadata in [
            json!({"client_id": "keys", "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks,
                   "grant_types": ["client_credentials"], "response_types": []}),
            json!({"client_id": "hmac", "token_endpoint_auth_method": "client_secret_jwt",
                   "grant_types": ["client_credentials"], "response_types": []}),
            json!({"client_id": "app", "redirect_uris": WEB_REDIRECTS, "grant_types": ["authorization_code", "refresh_token"]}),
            json!({"client_id": "native", "redirect_uris": NATIVE_REDIRECTS, "application_type": "native",
                   "token_endpoint_auth_method": "none", "scope": "openid profile email"}),
        ] {
            let registration = serde_json::from_value(metadata).expect("registration JSON");
            world.runtime.block_on(world.provider.create_client(registration)).expect("the test clients register");
        }
        world
    }

    /// An authentication request's query (`Params::from_query`) through `authorize::validate`,
    /// as given and behind each prefix. An error is only ever redirected to a registered URI.
    pub fn authorization_request(&self, data: &[u8]) {
        let input = String::from_utf8_lossy(data);
        for prefix in PREFIXES {
            let params = Params::from_query(&format!("{prefix}{input}"));
            match self.runtime.block_on(authorize::validate(&self.provider, &params)) {
                Ok((request, client)) => {
                    assert_eq!(request.client_id, client.client_id);
                    assert!(client.metadata.redirect_uris.iter().any(|r| r == request.redirect_uri.as_str()));
                }
                Err(Rejection::Redirect { to, .. }) => {
                    let uri = to.uri.as_str();
                    assert!(WEB_REDIRECTS.contains(&uri) || NATIVE_REDIRECTS.contains(&uri), "redirected to {uri:?}");
                }
                Err(Rejection::Show(_)) => {}
            }
        }
    }

    /// A compact JWS verified against the provider's keys (the key of the header's `alg`,
    /// whatever its `kid`): the input as it is, and its lines (header JSON, payload,
    /// signature) base64url-encoded and joined with dots, so that a fuzzer mutating JSON
    /// reaches the signature check. Without the private keys nothing verifies.
    pub fn jws(&self, data: &[u8]) {
        let joined = data.split(|&b| b == b'\n').map(|part| URL_SAFE_NO_PAD.encode(part)).collect::<Vec<_>>().join(".");
        for token in [String::from_utf8_lossy(data).into_owned(), joined] {
            let result = jose::verify::<Value>(&token, |_, alg| self.key(alg));
            assert!(result.is_err(), "a JWS made without the provider's private keys verified: {token:?}");
        }
    }

    /// Signs `claims` with the provider's key for `alg`, then verifies the token: the same
    /// claims come back.
    pub fn jws_round_trip(&self, alg: Alg, typ: Option<&str>, claims: &Value) {
        let token = self.runtime.block_on(jose::sign(self.signer.as_ref(), alg, typ, claims, self.now)).expect("signs");
        let verified = jose::verify::<Value>(&token, |_, alg| self.key(alg)).expect("its own token verifies");
        assert_eq!((verified.alg, verified.typ.as_deref(), &verified.claims), (alg, typ, claims));
    }

    /// A client assertion at the token endpoint, as given and with its lines base64url-encoded
    /// and joined with dots (as in [`Self::jws`]). Without the private keys or the `hmac`
    /// client's secret, nothing authenticates: every request is refused as `invalid_client`.
    pub fn client_assertion(&self, data: &[u8]) {
        let joined = data.split(|&b| b == b'\n').map(|part| URL_SAFE_NO_PAD.encode(part)).collect::<Vec<_>>().join(".");
        for assertion in [String::from_utf8_lossy(data).into_owned(), joined] {
            let form = Params(vec![
                ("grant_type".into(), "client_credentials".into()),
                ("client_assertion_type".into(), token::JWT_BEARER.into()),
                ("client_assertion".into(), assertion.clone()),
            ]);
            match self.runtime.block_on(self.provider.token(&form, token::ClientAuth::default())) {
                Ok(_) => panic!("a forged client assertion authenticated: {assertion:?}"),
                Err(e) => assert_eq!(e.error.code, ErrorCode::InvalidClient, "{assertion:?}: {:?}", e.error),
            }
        }
    }

    /// Now, for claims that should pass the time checks.
    pub fn now(&self) -> UnixTime {
        self.now
    }

    fn key(&self, alg: Alg) -> Option<Jwk> {
        self.keys.iter().find(|(a, _)| *a == alg).map(|(_, k)| k.clone())
    }

    /// Client metadata JSON deserialised as a `ClientRegistration` and registered. What
    /// registers has only redirect URIs a browser can safely be sent to; it is then deleted,
    /// so the store does not grow.
    pub fn client_registration(&self, data: &[u8]) {
        let Ok(registration) = serde_json::from_slice::<ClientRegistration>(data) else {
            return;
        };
        let Ok(info) = self.runtime.block_on(self.provider.create_client(registration)) else {
            return;
        };
        let m = &info.metadata;
        for uri in m.redirect_uris.iter().chain(&m.post_logout_redirect_uris) {
            assert!(safe_redirect(uri, m.application_type), "registered {uri:?} for a {:?} client", m.application_type);
        }
        self.runtime.block_on(self.provider.delete_client(&info.client_id)).expect("a client just made can be deleted");
    }
}

/// An independent statement of the registration rule for redirect URIs: no fragment or
/// userinfo; https without a wildcard host, http on loopback, or a native app's private-use
/// scheme (one with a dot).
fn safe_redirect(uri: &str, application_type: ApplicationType) -> bool {
    let Ok(url) = Url::parse(uri) else {
        return false;
    };
    let clean = url.fragment().is_none() && url.username().is_empty() && url.password().is_none();
    let allowed = match (url.scheme(), url.host()) {
        ("https", Some(Host::Domain(d))) => !d.contains('*'),
        ("https", Some(_)) => true,
        ("http", Some(Host::Ipv4(ip))) => ip.octets()[0] == 127,
        ("http", Some(Host::Ipv6(ip))) => ip.is_loopback(),
        ("http", Some(Host::Domain(d))) => d == "localhost",
        (scheme, _) => scheme.contains('.') && application_type == ApplicationType::Native,
    };
    clean && allowed
}

/// An `Authorization` header value through `basic_credentials`. What decodes, encoded again
/// the RFC 6749 §2.3.1 way, decodes to the same credentials.
pub fn basic_credentials(data: &[u8]) {
    let header = String::from_utf8_lossy(data);
    if let Ok((id, secret)) = token::basic_credentials(&header) {
        assert!(!id.is_empty());
        basic_round_trip(&id, secret.expose());
    }
}

/// Client credentials encoded as RFC 6749 §2.3.1 says decode to themselves (an empty client
/// id is refused).
pub fn basic_round_trip(id: &str, secret: &str) {
    let form = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let header = format!("Basic {}", STANDARD.encode(format!("{}:{}", form(id), form(secret))));
    match token::basic_credentials(&header) {
        Ok((i, s)) => assert_eq!((i.as_str(), s.expose().as_str()), (id, secret), "{header}"),
        Err(e) => assert!(id.is_empty() && e == BasicError::EmptyId, "{header}: {e}"),
    }
}
