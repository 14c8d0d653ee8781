//! The `dbpower` command: one binary, one subcommand per role.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod analyze;
mod digest;
use anyhow::Context;
use dbpower_backend::LogFormat;
use dbpower_backend::LoginHint;
use dbpower_backend::Role;
use dbpower_backend::{Application, Overrides, Settings};

#[derive(Parser)]
#[command(
    name = "dbpower",
    version,
    about = "Find and fix slow SQL: platform, analyzer and collector in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole platform in one process (SQLite and generated secrets by default).
    Serve(ConfigArgs),
    /// Run the backend alone, behind `dbpower gateway` (listens on backend.listen, default 127.0.0.1:8000;
    /// --listen overrides it; the gateway owns the rate limits).
    Backend(ConfigArgs),
    /// Run the gateway: credentials checked, rate limits, forwarding to the backend and the analyzer
    /// (listens on gateway.listen, default 127.0.0.1:8080; --listen overrides it).
    Gateway(ConfigArgs),
    /// Run the analyzer service alone: analysis workers on the shared queue and POST /analyzer/analyze
    /// (listens on analyzer.listen, default 127.0.0.1:8001; --listen overrides it).
    Analyzer(ConfigArgs),
    /// The collector agent: collect slow queries from MySQL/MariaDB and PostgreSQL, scrub, spool, ship.
    Agent(AgentArgs),
    /// Apply database migrations and exit.
    Migrate(ConfigArgs),
    /// Offline report of a slow log (MySQL/MariaDB slow log or PostgreSQL duration log), like pt-query-digest.
    Digest(digest::DigestArgs),
    /// Analyze one statement: rules, EXPLAIN insights and index advice (exit 3 at --fail-on).
    Analyze(analyze::AnalyzeArgs),
    /// Print the HTTP API's OpenAPI document (JSON), as served at /api/openapi.json.
    Openapi,
    /// Audit-log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Args)]
struct AgentArgs {
    /// The agent configuration (TOML; see docs/AGENT.md).
    #[arg(long, short = 'c')]
    config: PathBuf,
    /// Collect and ship one round, then exit (1 if anything is left in the spool or a source failed).
    #[arg(long)]
    once: bool,
    /// Print exactly what would be sent (after scrubbing); send and save nothing.
    #[arg(long, conflicts_with = "check")]
    dry_run: bool,
    /// Check connectivity, privileges and settings of every source and print what to fix.
    #[arg(long)]
    check: bool,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Re-compute the audit hash chains; exits 1 if any chain is broken.
    Verify {
        #[command(flatten)]
        config: ConfigArgs,
        /// Verify only this organization's chain (default: the platform chain and every organization's).
        #[arg(long)]
        organization_id: Option<i64>,
    },
}

#[derive(Args, Clone)]
struct ConfigArgs {
    /// TOML configuration file (keys as in docs/CONFIG.md).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Address to listen on: this role's `<role>.listen` (e.g. DBPOWER_SERVE__LISTEN) [default: 127.0.0.1:8080 for serve and gateway, :8000 backend, :8001 analyzer].
    #[arg(long)]
    listen: Option<String>,
    /// Directory for the SQLite database and generated secrets [env: DBPOWER_DATA_DIR] [default: ./dbpower-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// sqlite:PATH or postgres://USER@HOST/DB [env: DBPOWER_DATABASE_URL].
    #[arg(long)]
    database_url: Option<String>,
}

impl ConfigArgs {
    fn load(&self) -> anyhow::Result<Settings> {
        let overrides = Overrides {
            listen: self.listen.clone(),
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
        };
        let (settings, warnings) = Settings::load(self.config.as_deref(), &overrides)?;
        init_logging(&settings);
        for w in warnings {
            tracing::warn!("{w}");
        }
        Ok(settings)
    }
}

fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DBPOWER_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{},sqlx=warn", settings.log_level))
    });
    let json = match settings.log_format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    // Colours only for a terminal: a redirected log holds no escape codes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

async fn serve(args: ConfigArgs) -> anyhow::Result<()> {
    let settings = args.load()?;
    let database = dbpower_store::redact_url(&settings.database_url());
    let app = Application::build(settings).await?;
    let addr = app.local_addr()?;
    println!("dbpower is listening on http://{addr}  (database: {database})");
    if dbpower_backend::panel_built() {
        println!("  Admin panel: http://{addr}/   API docs: http://{addr}/docs");
    } else {
        println!(
            "  API docs: http://{addr}/docs   (admin panel not built: npm was missing at build time)"
        );
    }
    match &app.login_hint {
        LoginHint::Generated {
            email,
            password,
            file,
        } => {
            println!("  Log in as {email} with password {password}");
            println!("  (shown once; also saved to {file}, readable only by you)");
        }
        LoginHint::Configured { email } => {
            println!("  Log in as {email} (the DBPOWER_BOOTSTRAP_PASSWORD you set)")
        }
        LoginHint::Existing {
            credentials_file: Some(f),
        } => println!("  Log in with the credentials in {f}"),
        LoginHint::Existing {
            credentials_file: None,
        } => println!("  Log in with an existing account"),
    }
    if let Some(org) = app.demo_org {
        println!("  Demo organization created (id {org})");
    }
    app.run_until_stopped(shutdown_signal()).await
}

/// Runs one role of a split deployment; `--listen` sets that role's own address.
async fn role(mut args: ConfigArgs, role: Role) -> anyhow::Result<()> {
    let listen = args.listen.take();
    let mut settings = args.load()?;
    if let Some(l) = listen {
        let addr = l.parse().with_context(|| {
            format!("--listen {l:?} must be an address and port, e.g. 127.0.0.1:8080")
        })?;
        settings.set_listen(role, addr);
    }
    let database = dbpower_store::redact_url(&settings.database_url());
    let name = role.service();
    let app = Application::build_role(settings, role).await?;
    println!(
        "dbpower {name} is listening on http://{}  (database: {database})",
        app.local_addr()?
    );
    app.run_until_stopped(shutdown_signal()).await
}

async fn agent(args: AgentArgs) -> anyhow::Result<bool> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DBPOWER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
    if args.check {
        let cfg = dbpower_agent::AgentConfig::load(&args.config)?;
        return Ok(dbpower_agent::check(&cfg).await);
    }
    dbpower_agent::run(&args.config, args.once, args.dry_run, shutdown_signal()).await
}

async fn migrate(args: ConfigArgs) -> anyhow::Result<()> {
    let settings = args.load()?;
    dbpower_backend::open_store(&settings).await?;
    println!(
        "migrations applied to {}",
        dbpower_store::redact_url(&settings.database_url())
    );
    Ok(())
}

async fn audit_verify(args: ConfigArgs, organization_id: Option<i64>) -> anyhow::Result<bool> {
    let settings = args.load()?;
    let store = dbpower_backend::open_store(&settings).await?;
    let chains: Vec<Option<i64>> = match organization_id {
        Some(id) => vec![Some(id)],
        None => std::iter::once(None)
            .chain(store.organization_ids().await?.into_iter().map(Some))
            .collect(),
    };
    let mut all_valid = true;
    for chain in chains {
        let v = store.verify_audit_chain(chain).await?;
        let name = chain.map_or_else(|| "platform".to_string(), |id| format!("organization {id}"));
        match v.first_invalid_id {
            None if v.valid => println!("ok      {name}: {} entries", v.entries),
            other => {
                all_valid = false;
                println!(
                    "BROKEN  {name}: first invalid entry {:?} after {} good entries",
                    other, v.entries
                );
            }
        }
    }
    Ok(all_valid)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A check that finds what it looks for exits 1 (audit verify) or 3 (analyze --fail-on); errors exit 2.
    let found_code = if matches!(cli.command, Command::Analyze(_)) {
        3
    } else {
        1
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await.map(|()| true),
            Command::Migrate(args) => migrate(args).await.map(|()| true),
            Command::Analyzer(args) => role(args, Role::Analyzer).await.map(|()| true),
            Command::Backend(args) => role(args, Role::Backend).await.map(|()| true),
            Command::Gateway(args) => role(args, Role::Gateway).await.map(|()| true),
            Command::Agent(args) => agent(args).await,
            Command::Digest(args) => digest::run(args).map(|()| true),
            Command::Analyze(args) => analyze::run(args),
            Command::Openapi => openapi_json().map(|()| true),
            Command::Audit {
                command:
                    AuditCommand::Verify {
                        config,
                        organization_id,
                    },
            } => audit_verify(config, organization_id).await,
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(found_code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `dbpower openapi`: the API's OpenAPI document, pretty-printed, on stdout.
fn openapi_json() -> anyhow::Result<()> {
    use std::io::Write;
    let doc = dbpower_backend::openapi_document().to_pretty_json()?;
    match writeln!(std::io::stdout().lock(), "{doc}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}
