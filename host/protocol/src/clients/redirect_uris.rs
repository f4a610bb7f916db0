//! Which redirect URIs a client may register (RFC 9700 §2.1, RFC 8252 §7–8, OpenID Connect
//! Dynamic Client Registration §2). The same rule holds for `post_logout_redirect_uris`.
//!
//! - `https`: absolute, with a host that has no wildcard `*`, and no userinfo; for
//!   `application_type` `web`, not a loopback host ("they MUST NOT use localhost as the
//!   hostname", Dynamic Registration §2) unless the issuer itself is a loopback one;
//! - `http`: only on a loopback host (127.0.0.0/8, `[::1]`, `localhost`; RFC 8252 §7.3), for
//!   `native` clients, and for `web` clients only under a loopback issuer (development);
//! - a private-use scheme, named after a reversed domain (it contains a `.`; RFC 8252 §7.1):
//!   only for `application_type` `native`;
//! - `javascript`, `data`, `file`, `vbscript`, `blob`, `about`: never; other schemes neither.
//!
//! None may carry a fragment (RFC 6749 §3.1.2).

use std::net::Ipv6Addr;

use url::{Host, Url};

use crate::model::ApplicationType;

/// Schemes a browser would run or read locally rather than navigate to a client.
const NEVER: &[&str] = &["javascript", "data", "file", "vbscript", "blob", "about"];

/// Whether the URL's host is a loopback one (127.0.0.0/8, `[::1]`, `localhost`).
pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip == Ipv6Addr::LOCALHOST,
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Checks one URI; the error says why it is refused. `loopback_issuer` relaxes the rule for
/// web clients as a development setup needs (see the module comment).
pub(super) fn check(uri: &str, application_type: ApplicationType, loopback_issuer: bool) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("not an absolute URI: {e}"))?;
    let scheme = url.scheme();
    if NEVER.contains(&scheme) {
        return Err(format!("the {scheme} scheme is never allowed"));
    }
    if url.fragment().is_some() {
        return Err("it must not contain a fragment".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it must not contain user information".into());
    }
    let web = application_type == ApplicationType::Web;
    match scheme {
        "https" => match url.host() {
            Some(Host::Domain(d)) if d.contains('*') => Err("wildcard hosts are not allowed".into()),
            Some(_) if web && !loopback_issuer && is_loopback_host(&url) => {
                Err("a web client's redirect URI must not be on localhost; register it as application_type \"native\""
                    .into())
            }
            Some(_) => Ok(()),
            None => Err("an https URI needs a host".into()),
        },
        // RFC 8252 §8.3: plain http only where the traffic never leaves the device.
        "http" if !is_loopback_host(&url) => {
            Err("plain http is allowed only on a loopback host (127.0.0.1, [::1], localhost)".into())
        }
        "http" if web && !loopback_issuer => {
            Err("a web client must use https; plain http on a loopback host is for application_type \"native\"".into())
        }
        "http" => Ok(()),
        private if private.contains('.') => match application_type {
            ApplicationType::Native => Ok(()),
            ApplicationType::Web => Err(format!("the private-use scheme {private} needs application_type \"native\"")),
        },
        other => Err(format!(
            "the {other} scheme is not allowed; use https, http on loopback, or (native apps) a private-use scheme named after a reversed domain, such as com.example.app"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEB: ApplicationType = ApplicationType::Web;
    const NATIVE: ApplicationType = ApplicationType::Native;

    #[test]
    fn accepted() {
        for (uri, app) in [
            ("https://app.example.com/cb", WEB),
            ("https://app.example.com:8443/cb?x=1", WEB),
            ("https://192.0.2.1/cb", WEB),
            ("https://app.example.com/cb", NATIVE),
            ("http://127.0.0.1:8082/callback", WEB),
            ("http://127.0.0.2/cb", WEB),
            ("http://[::1]:9/cb", NATIVE),
            ("http://localhost:3000/cb", WEB),
            ("http://LOCALHOST/cb", WEB),
            ("com.example.app:/oauth2redirect", NATIVE),
            ("com.example.app://callback", NATIVE),
        ] {
            assert_eq!(check(uri, app, true), Ok(()), "{uri}");
        }
    }

    #[test]
    fn refused() {
        for (uri, app, reason) in [
            ("javascript:alert(1)", NATIVE, "never"),
            ("JavaScript:alert(1)", WEB, "never"),
            ("data:text/html,<script>alert(1)</script>", WEB, "never"),
            ("file:///etc/passwd", WEB, "never"),
            ("vbscript:msgbox", WEB, "never"),
            ("blob:https://app.example.com/uuid", WEB, "never"),
            ("about:blank", WEB, "never"),
            ("https://*.example.com/cb", WEB, "wildcard"),
            ("https://%2A.example.com/cb", WEB, "wildcard"),
            ("https://user:pw@app.example.com/cb", WEB, "user information"),
            ("https://user@app.example.com/cb", WEB, "user information"),
            ("http://127.0.0.1@evil.example/cb", WEB, "user information"),
            ("http://app.example.com/cb", WEB, "loopback"),
            ("http://10.0.0.1/cb", NATIVE, "loopback"),
            ("http://[::ffff:7f00:1]/cb", NATIVE, "loopback"),
            ("http://localhost.evil.example/cb", WEB, "loopback"),
            ("https://app.example.com/cb#x", WEB, "fragment"),
            ("com.example.app:/cb", WEB, "native"),
            ("myapp://cb", NATIVE, "not allowed"),
            ("ftp://files.example.com/cb", WEB, "not allowed"),
            ("/relative/cb", WEB, "absolute"),
            ("not a uri", WEB, "absolute"),
        ] {
            let error = check(uri, app, true).expect_err(uri);
            assert!(error.contains(reason), "{uri}: {error}");
        }
    }

    #[test]
    fn web_clients_leave_loopback_to_native_ones_under_a_public_issuer() {
        for (uri, app, ok) in [
            ("http://127.0.0.1:8082/cb", WEB, false),
            ("https://localhost/cb", WEB, false),
            ("https://127.0.0.1/cb", WEB, false),
            ("http://127.0.0.1:8082/cb", NATIVE, true),
            ("https://app.example.com/cb", WEB, true),
            ("com.example.app:/cb", NATIVE, true),
        ] {
            assert_eq!(check(uri, app, false).is_ok(), ok, "{uri}: {:?}", check(uri, app, false));
        }
    }
}
