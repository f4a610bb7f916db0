//! The demo as `scripts/run.sh` runs it, in-process: the provider, the example login front-end
//! (`examples/login-frontend`) and the demo relying party (`examples/demo-rp`), each on a
//! loopback port of its own; optionally with the example plugins (`plugins/*/example.toml`)
//! and the demo directory they talk to (`examples/demo-directory`). The front-end and the RP
//! are served by their own listener (`examples/listener`), as their programs serve them.

use gatehouse_demo_directory::Directory;
use gatehouse_demo_rp::Config as RpConfig;
use gatehouse_example_listener::Limits;
use gatehouse_login_frontend::{Config as FrontendConfig, Users};
use tokio::net::TcpListener;
use url::Url;

use super::plugins::{example_manifest, plugin_dir, plugins_config};
use super::{ADMIN_TOKEN, AUTHZ_TOKEN, TestServer};

const USERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/login-frontend/users.toml");
const DIRECTORY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/demo-directory/users.json");

/// The example plugins `scripts/run.sh` loads, by crate name; each is loaded under its crate
/// name with its `example.toml`.
pub const EXAMPLE_PLUGINS: &[&str] = &["user-directory", "first-party-consent", "idp-router"];

/// The provider, the example front-end and the demo RP.
pub struct Stack {
    pub server: TestServer,
    pub frontend: Url,
    pub rp: Url,
    /// The demo directory, when the example plugins are loaded.
    pub directory: Option<Url>,
    _plugins: Option<tempfile::TempDir>,
}

/// A listener on a free loopback port and its URL.
pub async fn listener() -> (TcpListener, Url) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    (listener, url)
}

/// The stack without plugins.
pub async fn stack() -> Stack {
    start(false, "", |_, _, _| {}).await
}

/// The stack without plugins, the provider configured with `extra` TOML as well.
pub async fn stack_configured(extra: &str) -> Stack {
    start(false, extra, |_, _, _| {}).await
}

/// The stack without plugins, with the front-end's and the RP's configuration and their
/// listeners' limits changed by `tune` before they start.
pub async fn stack_with(tune: impl FnOnce(&mut FrontendConfig, &mut RpConfig, &mut Limits)) -> Stack {
    start(false, "", tune).await
}

/// The stack as `scripts/run.sh` runs it: the example plugins in a watched plugin folder, and
/// the demo directory they talk to.
pub async fn stack_with_example_plugins() -> Stack {
    start(true, "", |_, _, _| {}).await
}

async fn start(
    with_plugins: bool,
    config: &str,
    tune: impl FnOnce(&mut FrontendConfig, &mut RpConfig, &mut Limits),
) -> Stack {
    let (frontend_listener, frontend) = listener().await;
    let (rp_listener, rp) = listener().await;
    let (mut directory, mut plugins, mut extra) = (None, None, config.to_owned());
    if with_plugins {
        let (directory_listener, origin) = listener().await;
        let app = gatehouse_demo_directory::app(Directory::load(DIRECTORY.as_ref()).unwrap());
        tokio::spawn(async move { axum::serve(directory_listener, app).await });
        let origin_str = origin.as_str().trim_end_matches('/');
        let manifests: Vec<_> =
            EXAMPLE_PLUGINS.iter().map(|name| (*name, *name, example_manifest(name, origin_str))).collect();
        let dir = plugin_dir(&manifests);
        extra.push('\n');
        extra.push_str(&plugins_config(dir.path()));
        (directory, plugins) = (Some(origin), Some(dir));
    }
    let server = TestServer::start_with_login_url(frontend.join("/login").unwrap().as_str(), &extra).await;
    let provider = Url::parse(&server.base).unwrap();

    let users = Users::load(USERS.as_ref()).unwrap();
    let mut frontend_config = FrontendConfig::new(&provider, AUTHZ_TOKEN.into(), users).unwrap();
    let mut rp_config = rp_config(&server, &rp);
    let mut limits = Limits::default();
    tune(&mut frontend_config, &mut rp_config, &mut limits);

    let frontend_app = gatehouse_login_frontend::app(frontend_config);
    let serve = gatehouse_example_listener::serve(frontend_listener, frontend_app, limits.clone(), pending());
    tokio::spawn(serve);
    let rp_app = gatehouse_demo_rp::app(rp_config).await.unwrap();
    tokio::spawn(gatehouse_example_listener::serve(rp_listener, rp_app, limits, pending()));
    Stack { server, frontend, rp, directory, _plugins: plugins }
}

fn pending() -> std::future::Pending<()> {
    std::future::pending()
}

/// The demo RP's configuration for `server`, reached at `base_url`.
fn rp_config(server: &TestServer, base_url: &Url) -> RpConfig {
    RpConfig {
        issuer: Url::parse(&server.base).unwrap(),
        admin_token: ADMIN_TOKEN.into(),
        base_url: base_url.clone(),
        max_pending: gatehouse_demo_rp::DEFAULT_MAX_PENDING,
    }
}

/// The demo RP's routes, registered with `server` and reached at `base_url`.
pub async fn demo_rp(server: &TestServer, base_url: &Url) -> axum::Router {
    gatehouse_demo_rp::app(rp_config(server, base_url)).await.unwrap()
}
