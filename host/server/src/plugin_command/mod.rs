//! `gatehouse plugin`: the plugin author's commands. `new` scaffolds a project from the kit's
//! templates, `build` runs the language's toolchain, `check` and `test` load the component
//! with the plugin host's own load path (no server), and `install`, `list` and `rollback`
//! talk to a running server's admin API.

mod admin;
mod kit;
mod scaffold;
mod trial;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{Subcommand, ValueEnum};
use gatehouse_plugin_host::Manifest;

/// The languages the kit has templates and a build for.
#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

impl Lang {
    fn as_str(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }
}

/// The plugin kinds, by the short names the templates use.
#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum Kind {
    /// A claims source (world claims-source).
    Claims,
    /// A consent policy (world consent-policy).
    Consent,
    /// Login hooks (world login-hooks).
    Login,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Claims => "claims",
            Kind::Consent => "consent",
            Kind::Login => "login",
        }
    }
}

/// Where a running server is and how to prove the right to change its plugins.
#[derive(clap::Args)]
pub struct ServerArgs {
    /// The server's base URL.
    #[arg(long, env = "GATEHOUSE_URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// A file holding the admin (master) API token; the zero-setup server writes
    /// data/admin-api.token. GATEHOUSE_ADMIN_TOKEN, when set, is used instead.
    #[arg(long, env = "GATEHOUSE_ADMIN_TOKEN_FILE", default_value = "data/admin-api.token")]
    token_file: PathBuf,
}

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Creates a plugin project that builds, checks and passes its tests as it is.
    New {
        #[arg(long, value_enum)]
        lang: Lang,
        #[arg(long, value_enum)]
        kind: Kind,
        /// The plugin's name (lower-case letters, digits and '-').
        name: String,
        /// Where to create it; ./NAME when absent.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Builds a project into dist/NAME.wasm with dist/NAME.toml beside it, ready to install
    /// or to drop into a plugin folder. Installs the Python or JavaScript toolchain into the
    /// cache on first use.
    Build {
        #[arg(default_value = ".")]
        project: PathBuf,
    },
    /// Checks a component as a server would load it: its world, its imports against the
    /// manifest's grants, and the trial call. Needs no server.
    Check {
        /// The component (e.g. dist/NAME.wasm).
        component: PathBuf,
        /// Its manifest; the .toml beside the component with the same name when absent.
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Prints the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Runs a built project's component on the calls in a file and shows its answers; a call
    /// with an `expect` that is not met fails the command.
    Test {
        #[arg(default_value = ".")]
        project: PathBuf,
        /// The calls (TOML or JSON); PROJECT/calls.toml when absent.
        #[arg(long)]
        calls: Option<PathBuf>,
    },
    /// Uploads a built project (or a component and manifest) to a running server and makes
    /// it serve, unless --no-activate.
    Install {
        #[arg(default_value = ".")]
        project: PathBuf,
        #[arg(long)]
        no_activate: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Lists the plugins installed in a running server.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Makes a plugin's previous version serve again.
    Rollback {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Makes an installed version of a plugin serve.
    Activate {
        name: String,
        version: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Stops a plugin serving; its versions stay installed (activate or rollback bring it back).
    Deactivate {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn run(command: PluginCommand) -> ExitCode {
    // What plugins write with `log` goes to standard error, so `plugin check` and `plugin test`
    // show it beside the answers; RUST_LOG overrides what is shown.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "warn,gatehouse_plugin_host::bindings=debug".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).without_time().init();
    let result = match command {
        PluginCommand::New { lang, kind, name, dir } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            scaffold::new(lang, kind, &name, &dir).map(|()| {
                let shown = dir.display();
                println!("created {} {} plugin {name:?} in {shown}", lang.as_str(), kind.as_str());
                println!("next: gatehouse plugin build {shown} && gatehouse plugin test {shown}");
            })
        }
        PluginCommand::Build { project } => build(&project).map(|wasm| println!("{}", wasm.display())),
        PluginCommand::Check { component, manifest, json } => {
            let manifest = manifest.unwrap_or_else(|| component.with_extension("toml"));
            trial::check(&component, &manifest, json)
        }
        PluginCommand::Test { project, calls } => {
            let calls = calls.unwrap_or_else(|| project.join("calls.toml"));
            built(&project).and_then(|(manifest, wasm)| trial::test(&wasm, &manifest, &calls))
        }
        PluginCommand::Install { project, no_activate, server } => {
            built(&project).and_then(|(manifest, wasm)| admin::install(&server, &manifest, &wasm, !no_activate))
        }
        PluginCommand::List { json, server } => admin::list(&server, json),
        PluginCommand::Rollback { name, server } => admin::rollback(&server, &name),
        PluginCommand::Activate { name, version, server } => admin::activate(&server, &name, &version),
        PluginCommand::Deactivate { name, server } => admin::deactivate(&server, &name),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

/// A project's manifest, read and checked.
fn manifest_of(project: &Path) -> Result<Manifest, String> {
    let path = project.join("manifest.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!("{}: {e}; a plugin project has its manifest there (see gatehouse plugin new)", path.display())
    })?;
    Manifest::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The built component of a project and its manifest in dist/.
fn built(project: &Path) -> Result<(PathBuf, PathBuf), String> {
    let name = manifest_of(project)?.name;
    let dist = project.join("dist");
    let wasm = dist.join(format!("{name}.wasm"));
    if !wasm.is_file() {
        return Err(format!("{} is missing: run gatehouse plugin build {} first", wasm.display(), project.display()));
    }
    Ok((dist.join(format!("{name}.toml")), wasm))
}

/// Runs the kit's build script on a project; returns the component's path.
fn build(project: &Path) -> Result<PathBuf, String> {
    let manifest = manifest_of(project)?;
    if manifest.component.is_some() {
        return Err("a project's manifest.toml must not set `component`: the build names it NAME.wasm".into());
    }
    let kit = kit::unpacked()?;
    let dist = project.join("dist");
    std::fs::create_dir_all(&dist).map_err(|e| format!("cannot create {}: {e}", dist.display()))?;
    let wasm = dist.join(format!("{}.wasm", manifest.name));
    let status = Command::new("bash")
        .arg(kit.join("sdk/build-plugin.sh"))
        .arg(project)
        .arg(&wasm)
        .env("GATEHOUSE_CACHE_DIR", kit::cache_dir())
        .status()
        .map_err(|e| format!("cannot run bash for the build: {e}"))?;
    if !status.success() {
        return Err(format!("the build of {} failed; its messages are above", project.display()));
    }
    let target = dist.join(format!("{}.toml", manifest.name));
    std::fs::copy(project.join("manifest.toml"), &target)
        .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    Ok(wasm)
}
