//! `dbpower-loadgen`: closed-loop HTTP load against a running DBPower server, printing throughput and
//! latency percentiles. Used by docs/BENCHMARKS.md; bounded in requests and time, loopback only by default.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use dbpower_core::signing::Signed;
use serde_json::json;

#[derive(Parser)]
#[command(about = "Load generator for DBPower benchmarks")]
struct Cli {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Allow a non-loopback target.
    #[arg(long)]
    allow_remote: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// GET a path repeatedly with a bearer token from a login (or none with --anonymous).
    Get {
        #[arg(long, default_value = "/api/v1/auth/me")]
        path: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        password: Option<String>,
        /// The account's organization (by name); none for a platform account.
        #[arg(long)]
        organization: Option<String>,
        /// Concurrent clients, each with its own keep-alive connection.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Seconds of measurement (after a 1 s warm-up).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Signed ingestion: logs in as a super admin, creates an organization and an api key, then sends
    /// batches of generated slow queries (many classes, varying literals and PII) from each client.
    Ingest {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        /// Queries per request (1..=1000).
        #[arg(long, default_value_t = 100)]
        batch: usize,
        #[arg(long, default_value_t = 8)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Stop after this many requests in total (0: only the time limit).
        #[arg(long, default_value_t = 0)]
        max_requests: usize,
        /// The benchmark organization's name (default: `bench-` and a random id).
        #[arg(long)]
        organization_name: Option<String>,
        /// Afterwards, create an ORG_ADMIN of the benchmark organization with this email...
        #[arg(long)]
        org_admin_email: Option<String>,
        /// ...and this password.
        #[arg(long)]
        org_admin_password: Option<String>,
    },
    /// POST /api/v1/auth/login repeatedly with the right password.
    Login {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        /// The account's organization (by name); none for a platform account.
        #[arg(long)]
        organization: Option<String>,
        #[arg(long, default_value_t = 1)]
        clients: usize,
        #[arg(long, default_value_t = 40)]
        requests: usize,
    },
}

struct Report {
    label: String,
    latencies_us: Vec<u64>,
    errors: usize,
    elapsed: Duration,
}

/// What one client task measured: latencies of its successful requests (microseconds) and its errors.
type TaskResult = (Vec<u64>, usize);

impl Report {
    /// Waits for every client task and adds up what they measured.
    async fn gather(
        label: String,
        tasks: Vec<tokio::task::JoinHandle<TaskResult>>,
    ) -> anyhow::Result<Self> {
        let mut report = Report {
            label,
            latencies_us: Vec::new(),
            errors: 0,
            elapsed: Duration::ZERO,
        };
        for t in tasks {
            let (lat, errors) = t.await?;
            report.latencies_us.extend(lat);
            report.errors += errors;
        }
        Ok(report)
    }

    fn print(mut self) {
        self.latencies_us.sort_unstable();
        let n = self.latencies_us.len();
        let pct = |p: f64| -> f64 {
            if n == 0 {
                return 0.0;
            }
            let i = ((p / 100.0) * (n as f64 - 1.0)).round() as usize;
            self.latencies_us[i.min(n - 1)] as f64 / 1000.0
        };
        let rps = n as f64 / self.elapsed.as_secs_f64();
        println!(
            "{}: {n} ok, {} errors in {:.1} s = {rps:.0} req/s; latency ms p50 {:.3} p95 {:.3} p99 {:.3} max {:.3}",
            self.label,
            self.errors,
            self.elapsed.as_secs_f64(),
            pct(50.0),
            pct(95.0),
            pct(99.0),
            pct(100.0)
        );
        let out = json!({"label": self.label, "ok": n, "errors": self.errors, "seconds": self.elapsed.as_secs_f64(),
            "rps": rps, "p50_ms": pct(50.0), "p95_ms": pct(95.0), "p99_ms": pct(99.0), "max_ms": pct(100.0)});
        if std::env::var_os("LOADGEN_JSON").is_some() {
            println!("{out}");
        }
    }
}

async fn login(
    client: &reqwest::Client,
    url: &str,
    email: &str,
    password: &str,
    organization: Option<&str>,
) -> anyhow::Result<String> {
    let mut body = json!({"email": email, "password": password});
    if let Some(org) = organization {
        body["organization"] = org.into();
    }
    let resp = client
        .post(format!("{url}/api/v1/auth/login"))
        .json(&body)
        .send()
        .await?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await?;
    if !status.is_success() {
        bail!("login failed: {status} {body}");
    }
    Ok(body["access_token"]
        .as_str()
        .context("no access_token")?
        .to_string())
}

async fn run_get(
    url: &str,
    path: &str,
    token: Option<String>,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<Report> {
    let token = Arc::new(token);
    let warmup = Duration::from_secs(1);
    let measure = Duration::from_secs(seconds.clamp(1, 600));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients.clamp(1, 1024) {
        let client = one_connection_client()?;
        let target = format!("{url}{path}");
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            loop {
                let t0 = Instant::now();
                if t0.duration_since(start) >= warmup + measure {
                    break;
                }
                let mut req = client.get(&target);
                if let Some(t) = token.as_ref() {
                    req = req.bearer_auth(t);
                }
                let ok = answered(req.send().await, |s| s.is_success()).await;
                if t0.duration_since(start) >= warmup {
                    if ok {
                        lat.push(t0.elapsed().as_micros() as u64);
                    } else {
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut report = Report::gather(format!("GET {path} x{clients} clients"), tasks).await?;
    report.elapsed = measure;
    Ok(report)
}

/// A generated statement: one of 50 shapes, with literals (and personal data) that vary.
fn statement(i: u64) -> (String, &'static str) {
    let shape = i % 50;
    let n = i.wrapping_mul(2654435761) % 100_000;
    if shape.is_multiple_of(2) {
        (
            format!(
                "SELECT o.id, o.total, c.email FROM orders_{shape} o JOIN customers c ON c.id = o.customer_id \
                 WHERE c.email = 'user{n}@example.com' AND o.created_at > '2024-01-{:02}' AND o.status IN ({}) \
                 AND o.client_ip = '10.{}.{}.{}' ORDER BY o.created_at DESC LIMIT 50",
                n % 28 + 1,
                (0..(n % 7 + 1))
                    .map(|k| (k * 3 + n).to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                n % 250,
                (n / 7) % 250,
                (n / 13) % 250
            ),
            "mysql",
        )
    } else {
        (
            format!(
                "UPDATE accounts_{shape} SET balance = balance - {}.{:02}, note = 'card 4532-0151-1283-0366 phone +1 415 555 {:04}' \
                 WHERE id = {n} AND tenant_id = {} RETURNING balance",
                n % 500,
                n % 100,
                n % 10_000,
                n % 37
            ),
            "postgresql",
        )
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_ingest(
    url: &str,
    email: &str,
    password: &str,
    batch: usize,
    clients: usize,
    seconds: u64,
    max_requests: usize,
    organization_name: Option<String>,
    org_admin: Option<(String, String)>,
) -> anyhow::Result<Report> {
    let admin = reqwest::Client::new();
    let token = login(&admin, url, email, password, None).await?;
    let name = organization_name.unwrap_or_else(|| format!("bench-{}", uuid::Uuid::new_v4()));
    let org: serde_json::Value = admin
        .post(format!("{url}/api/v1/organizations"))
        .bearer_auth(&token)
        .json(&json!({"name": name}))
        .send()
        .await?
        .json()
        .await?;
    let org_id = org["id"]
        .as_i64()
        .context("creating the benchmark organization")?;
    let key: serde_json::Value = admin
        .post(format!("{url}/api/v1/api-keys"))
        .bearer_auth(&token)
        .json(&json!({"name": "loadgen", "organization_id": org_id}))
        .send()
        .await?
        .json()
        .await?;
    let key_id = key["key_id"].as_str().context("api key")?.to_string();
    let secret = key["secret"]
        .as_str()
        .context("api key secret")?
        .to_string();
    let batch = batch.clamp(1, 1000);
    let deadline = Duration::from_secs(seconds.clamp(1, 3600));
    let budget = Arc::new(std::sync::atomic::AtomicUsize::new(if max_requests == 0 {
        usize::MAX
    } else {
        max_requests
    }));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients.clamp(1, 256) {
        let client = one_connection_client()?;
        let (url, key_id, secret, budget) = (
            url.to_string(),
            key_id.clone(),
            secret.clone(),
            budget.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            let mut seq = (c as u64) << 40;
            while start.elapsed() < deadline
                && budget
                    .fetch_update(std::sync::atomic::Ordering::Relaxed, std::sync::atomic::Ordering::Relaxed, |b| b.checked_sub(1))
                    .is_ok()
            {
                let queries: Vec<serde_json::Value> = (0..batch)
                    .map(|_| {
                        seq += 1;
                        let (sql, db) = statement(seq);
                        json!({"sql_text": sql, "execution_time_ms": (seq % 5000) as f64 / 3.0, "database_type": db,
                               "database_name": "bench", "rows_examined": seq % 100_000, "rows_sent": seq % 50})
                    })
                    .collect();
                let body = serde_json::to_vec(&json!({"queries": queries})).unwrap_or_default();
                let request_id = uuid::Uuid::new_v4().to_string();
                let ts = chrono_now();
                let signed = Signed { timestamp: ts, request_id: &request_id, method: "POST", path_and_query: "/api/v1/slow-queries", body: &body };
                let mut req = client
                    .post(format!("{url}/api/v1/slow-queries"))
                    .header("content-type", "application/json");
                for (name, value) in signed.headers(&key_id, &secret) {
                    req = req.header(name, value);
                }
                let t0 = Instant::now();
                let sent = req.body(body).send().await;
                let ok = answered(sent, |s| s.as_u16() == 202).await;
                if ok {
                    lat.push(t0.elapsed().as_micros() as u64);
                } else {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let label = format!("POST /api/v1/slow-queries batch={batch} x{clients} clients");
    let mut report = Report::gather(label, tasks).await?;
    report.elapsed = start.elapsed();
    println!(
        "queries/s: {:.0} (organization {org_id})",
        report.latencies_us.len() as f64 * batch as f64 / report.elapsed.as_secs_f64()
    );
    if let Some((email, password)) = org_admin {
        let r = admin
            .post(format!("{url}/api/v1/users"))
            .bearer_auth(&token)
            .json(&json!({"email": email, "password": password, "role": "ORG_ADMIN", "organization_id": org_id}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("creating the organization admin: {}", r.status());
        }
    }
    Ok(report)
}

/// A client that keeps one connection to the server, as one agent or user would.
fn one_connection_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder().pool_max_idle_per_host(1).build()
}

/// Whether a request was answered with the expected status; reads the whole body either way, so the
/// connection can be reused.
async fn answered(
    sent: reqwest::Result<reqwest::Response>,
    expected: impl Fn(reqwest::StatusCode) -> bool,
) -> bool {
    match sent {
        Ok(r) => {
            let ok = expected(r.status());
            let _ = r.bytes().await;
            ok
        }
        Err(_) => false,
    }
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

async fn run_login(
    url: &str,
    email: &str,
    password: &str,
    organization: Option<String>,
    clients: usize,
    requests: usize,
) -> anyhow::Result<Report> {
    let start = Instant::now();
    let per = requests.clamp(1, 100_000).div_ceil(clients.max(1));
    let mut tasks = Vec::new();
    for _ in 0..clients.clamp(1, 64) {
        let client = reqwest::Client::new();
        let (url, email, password) = (url.to_string(), email.to_string(), password.to_string());
        let organization = organization.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            for _ in 0..per {
                let t0 = Instant::now();
                match login(&client, &url, &email, &password, organization.as_deref()).await {
                    Ok(_) => lat.push(t0.elapsed().as_micros() as u64),
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let label = format!("POST /api/v1/auth/login x{clients} clients");
    let mut report = Report::gather(label, tasks).await?;
    report.elapsed = start.elapsed();
    Ok(report)
}

fn is_loopback(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    host == "localhost" || host.starts_with("127.") || url.contains("://[::1]")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    if !cli.allow_remote && !is_loopback(&cli.url) {
        bail!("refusing a non-loopback target without --allow-remote");
    }
    let url = cli.url.trim_end_matches('/').to_string();
    let report = match cli.command {
        Cmd::Get {
            path,
            email,
            password,
            organization,
            clients,
            seconds,
        } => {
            let token = match (email, password) {
                (Some(e), Some(p)) => Some(
                    login(
                        &reqwest::Client::new(),
                        &url,
                        &e,
                        &p,
                        organization.as_deref(),
                    )
                    .await?,
                ),
                _ => None,
            };
            run_get(&url, &path, token, clients, seconds).await?
        }
        Cmd::Ingest {
            email,
            password,
            batch,
            clients,
            seconds,
            max_requests,
            organization_name,
            org_admin_email,
            org_admin_password,
        } => {
            let org_admin = org_admin_email.zip(org_admin_password);
            run_ingest(
                &url,
                &email,
                &password,
                batch,
                clients,
                seconds,
                max_requests,
                organization_name,
                org_admin,
            )
            .await?
        }
        Cmd::Login {
            email,
            password,
            organization,
            clients,
            requests,
        } => run_login(&url, &email, &password, organization, clients, requests).await?,
    };
    report.print();
    Ok(())
}
