//! The real `dbpower` binary in any role: started in a data directory on `--listen`, its settings typed
//! ([`ProcBuilder::with_settings`]) and handed over as its environment, its banner read; killed when
//! dropped, after the checks of the database it was given.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use dbpower_backend::{Role, Settings};

use crate::checks::Checks;
use crate::db::TestDb;
use crate::http::Client;
use crate::settings::{bin_defaults, env_of};

/// The `dbpower` binary under test: the suite passes `env!("CARGO_BIN_EXE_dbpower")`.
#[derive(Debug, Clone)]
pub struct Binary(PathBuf);

impl Binary {
    pub fn new(path: impl Into<PathBuf>) -> Binary {
        Binary(path.into())
    }

    /// A one-shot subcommand (`audit verify`, `agent`, `digest` ...), logging warnings only.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.0);
        cmd.env("DBPOWER_LOG_LEVEL", "warn");
        cmd
    }

    /// `dbpower serve`: the whole platform.
    pub fn serve(&self) -> ProcBuilder {
        self.role(Role::Platform)
    }

    /// `dbpower <role>`, on any free port of loopback, in a temporary directory.
    pub fn role(&self, role: Role) -> ProcBuilder {
        ProcBuilder {
            bin: self.clone(),
            role,
            settings: bin_defaults(),
            dir: None,
            args: Vec::new(),
            listen: "127.0.0.1:0".into(),
            raw_env: Vec::new(),
            db: None,
        }
    }
}

fn subcommand(role: Role) -> &'static str {
    match role {
        Role::Platform => "serve",
        Role::Backend => "backend",
        Role::Analyzer => "analyzer",
        Role::Gateway => "gateway",
    }
}

/// A role of the binary about to start.
#[must_use = "spawn() starts the process"]
pub struct ProcBuilder {
    bin: Binary,
    role: Role,
    settings: Settings,
    dir: Option<PathBuf>,
    args: Vec<String>,
    listen: String,
    raw_env: Vec<(String, String)>,
    db: Option<TestDb>,
}

impl ProcBuilder {
    /// Changes the settings the process starts with (after the kit's: fast hashing, limits no suite
    /// reaches, warnings only). Only the settings that differ from the binary's defaults are passed.
    pub fn with_settings(mut self, f: impl FnOnce(&mut Settings)) -> ProcBuilder {
        f(&mut self.settings);
        self
    }

    /// Runs in `dir` (default: a temporary directory kept as long as the process).
    pub fn in_dir(mut self, dir: &Path) -> ProcBuilder {
        self.dir = Some(dir.to_path_buf());
        self
    }

    /// `--listen` (default `127.0.0.1:0`): where the role listens.
    pub fn listen(mut self, addr: &str) -> ProcBuilder {
        self.listen = addr.into();
        self
    }

    /// More command-line arguments (`--data-dir data` ...).
    pub fn args(mut self, args: &[&str]) -> ProcBuilder {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// A raw environment variable, for tests of the environment itself (typed settings go through
    /// [`ProcBuilder::with_settings`]).
    pub fn env(mut self, name: &str, value: &str) -> ProcBuilder {
        self.raw_env.push((name.into(), value.into()));
        self
    }

    /// Runs on `db` (its URL becomes `database_url`); the process owns it from now on: the database is
    /// checked while the process still runs, then dropped after it.
    pub fn database(mut self, db: TestDb) -> ProcBuilder {
        self.settings.database_url = Some(db.url().to_string());
        self.db = Some(db);
        self
    }

    /// Starts the process and waits for its banner: the address line, and for `serve` the lines up to
    /// the login hint.
    pub fn spawn(self) -> Proc {
        let (dir, tmp) = crate::db::data_dir(self.dir);
        let mut cmd = self.bin.command();
        cmd.arg(subcommand(self.role))
            .args(["--listen", &self.listen])
            .args(&self.args)
            .current_dir(&dir)
            .envs(env_of(&self.settings))
            .envs(self.raw_env)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn dbpower");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut next = || match lines.next() {
            Some(Ok(line)) => line,
            other => panic!(
                "dbpower {} ended its banner early: {other:?}",
                subcommand(self.role)
            ),
        };
        let first = next();
        let addr = first
            .split("http://")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_string();
        let mut banner = vec![first];
        if self.role == Role::Platform {
            loop {
                let line = next();
                let login = line.contains("Log in");
                let generated = line.contains(" with password ");
                banner.push(line);
                if generated {
                    banner.push(next());
                }
                if login {
                    break;
                }
            }
        }
        let output = Arc::new(Mutex::new(banner));
        let rest = output.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                rest.lock().expect("output").push(line);
            }
        });
        Proc {
            child,
            base: format!("http://{addr}"),
            output,
            db: self.db,
            _dir: tmp,
        }
    }
}

/// A running role of the binary, killed when dropped.
pub struct Proc {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    output: Arc<Mutex<Vec<String>>>,
    db: Option<TestDb>,
    _dir: Option<tempfile::TempDir>,
}

impl Proc {
    /// What the process printed so far: its banner, and anything after it.
    pub fn output(&self) -> Vec<String> {
        self.output.lock().expect("output").clone()
    }

    /// The bootstrap password the banner printed (first start on an empty database).
    pub fn generated_password(&self) -> String {
        let out = self.output().join("\n");
        out.lines()
            .find_map(|l| l.split("with password ").nth(1))
            .unwrap_or_else(|| panic!("no generated password in {out}"))
            .trim()
            .to_string()
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }

    /// The invariants of the database given with [`ProcBuilder::database`], to switch one off.
    pub fn checks(&mut self) -> &mut Checks {
        self.db
            .as_mut()
            .expect("checks apply to a database given with ProcBuilder::database")
            .checks()
    }

    /// The database given with [`ProcBuilder::database`].
    pub fn db(&self) -> &TestDb {
        self.db.as_ref().expect("no database given")
    }
}

impl Proc {
    /// Stops the process (after the checks of its database) and hands the database back, for what a
    /// test does with it next (a restart, `dbpower audit verify`).
    pub fn stop(mut self) -> Option<TestDb> {
        self.halt();
        self.db.take()
    }

    fn halt(&mut self) {
        if let Some(db) = self.db.as_mut() {
            db.drain = std::time::Duration::from_secs(10);
            db.check_now();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.halt();
    }
}
