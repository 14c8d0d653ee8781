//! The application in-process: built with [`Application::build_role`] in any role, on a runtime and
//! thread of its own (so it keeps working while a test blocks, and while its checks run on drop), with
//! typed settings overrides.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dbpower_backend::{Application, Role, Settings};
use dbpower_store::Store;

use crate::checks::Checks;
use crate::db::TestDb;
use crate::http::Client;
use crate::settings::{ADMIN_EMAIL, ADMIN_PASSWORD, app_defaults};

type Tweak = Box<dyn FnOnce(&mut Settings) + Send>;

/// What to spawn: the role, the database and the settings overrides.
#[must_use = "spawn() starts the app"]
pub struct AppBuilder {
    role: Role,
    postgres: Option<String>,
    tweaks: Vec<Tweak>,
}

/// A running app on a free port with a fresh database; a [`Client`] of it (through `Deref`). Dropping it
/// checks the database's invariants (letting running jobs finish first), stops it and drops the database.
pub struct TestApp {
    pub base: String,
    /// `"sqlite"` or `"postgres"`.
    pub backend: &'static str,
    pub data_dir: PathBuf,
    client: Client,
    db: TestDb,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    stopped: Option<std::sync::mpsc::Receiver<()>>,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for TestApp {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl TestApp {
    /// The whole platform on SQLite in a temporary data directory.
    pub fn sqlite() -> AppBuilder {
        AppBuilder {
            role: Role::Platform,
            postgres: None,
            tweaks: Vec::new(),
        }
    }

    /// The whole platform on a fresh database on the PostgreSQL `server`.
    pub fn postgres(server: &str) -> AppBuilder {
        AppBuilder {
            postgres: Some(server.to_string()),
            ..TestApp::sqlite()
        }
    }

    /// A platform account's token: the bootstrapped [`ADMIN_EMAIL`].
    pub async fn admin(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// A new organization (`organization` is its create body, with at least a `name`) and the token of
    /// its ORG_ADMIN `email`, logged in with `password`.
    pub async fn org_with_admin(
        &self,
        organization: serde_json::Value,
        email: &str,
        password: &str,
    ) -> (i64, String) {
        let sa = self.admin().await;
        let name = organization["name"].as_str().expect("a name").to_string();
        let org = self
            .create("/api/v1/organizations", &sa, organization)
            .await;
        let admin = serde_json::json!({"email": email, "password": password, "role": "ORG_ADMIN", "organization_id": org});
        self.create("/api/v1/users", &sa, admin).await;
        (org, self.login_in(&name, email, password).await)
    }

    /// The app's database (its URL, statements behind the app's back).
    pub fn db(&self) -> &TestDb {
        &self.db
    }

    /// A store of the app's database, for driving background work (retention) directly.
    pub async fn store(&self) -> Arc<dyn Store> {
        dbpower_store::connect(self.db.url())
            .await
            .expect("open the app's database")
    }

    /// The invariants checked on drop, to switch one off with its reason.
    pub fn checks(&mut self) -> &mut Checks {
        self.db.checks()
    }
}

impl AppBuilder {
    /// Another role than the whole platform.
    pub fn role(mut self, role: Role) -> AppBuilder {
        self.role = role;
        self
    }

    /// Changes the settings the app starts with (after the kit's defaults: a bootstrapped admin, no
    /// demo, fast hashing, limits no suite reaches, any free port).
    pub fn with_settings(mut self, f: impl FnOnce(&mut Settings) + Send + 'static) -> AppBuilder {
        self.tweaks.push(Box::new(f));
        self
    }

    pub async fn spawn(self) -> TestApp {
        crate::install_crypto();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = match &self.postgres {
            Some(server) => TestDb::empty_postgres(server).await,
            None => TestDb::in_data_dir(dir.path()),
        };
        db.drain = Duration::from_secs(10);
        let mut settings = app_defaults(self.role, dir.path(), db.database_url());
        for tweak in self.tweaks {
            tweak(&mut settings);
        }
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel::<Result<SocketAddr, String>>();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (stopped_tx, stopped) = std::sync::mpsc::channel();
        let role = self.role;
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let app = match Application::build_role(settings, role).await {
                    Ok(app) => app,
                    Err(e) => {
                        let _ = addr_tx.send(Err(format!("{e:#}")));
                        return;
                    }
                };
                let _ = addr_tx.send(app.local_addr().map_err(|e| e.to_string()));
                let _ = app
                    .run_until_stopped(async {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
            drop(rt);
            let _ = stopped_tx.send(());
        });
        let addr = addr_rx
            .await
            .expect("the app's thread")
            .unwrap_or_else(|e| panic!("build the app: {e}"));
        let base = format!("http://{addr}");
        TestApp {
            client: Client::new(&base),
            base,
            backend: db.backend(),
            data_dir: dir.path().to_path_buf(),
            db,
            stop: Some(stop),
            stopped: Some(stopped),
            _dir: dir,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Checked while the app runs, so that the jobs its workers hold can finish.
        if self.backend == "postgres" || self.data_dir.join("dbpower.db").exists() {
            self.db.check_now();
        } else {
            *self.db.checks() = Checks::done();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(stopped) = self.stopped.take() {
            let _ = stopped.recv_timeout(Duration::from_secs(5));
        }
    }
}

/// Runs `scenario` on a SQLite app, then on a PostgreSQL app when `DBPOWER_TEST_POSTGRES_URL` is set.
pub async fn on_all_backends(scenario: impl AsyncFn(&TestApp)) {
    on_all_backends_with(|_| {}, scenario).await;
}

/// [`on_all_backends`] with the apps' settings changed by `settings`.
pub async fn on_all_backends_with(
    settings: impl Fn(&mut Settings) + Clone + Send + 'static,
    scenario: impl AsyncFn(&TestApp),
) {
    let sqlite = TestApp::sqlite()
        .with_settings(settings.clone())
        .spawn()
        .await;
    scenario(&sqlite).await;
    drop(sqlite);
    if let Some(server) = crate::postgres_server() {
        let pg = TestApp::postgres(&server)
            .with_settings(settings)
            .spawn()
            .await;
        assert_eq!(pg.backend, "postgres");
        scenario(&pg).await;
    }
}
