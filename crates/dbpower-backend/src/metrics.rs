//! `GET /metrics` in the Prometheus text format, on every service: requests by route and status with a
//! latency histogram, rate-limit decisions, ingested queries, analysis jobs and their latency, LLM calls,
//! and (read at scrape time) the analysis queue depth, the pool's connections and whether the limiter is
//! degraded. A small registry of its own: label sets are bounded (the `route` label is the matched route
//! template, else `unmatched`, `panel` or `forwarded`).

use std::collections::BTreeMap;
use std::sync::Mutex;

const BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
pub(crate) struct Metrics {
    counters: Mutex<BTreeMap<(Metric, String), f64>>,
    histograms: Mutex<BTreeMap<(Metric, String), Histogram>>,
}

/// Every series this registry exports: its name, type and help text in one place, so no call site
/// spells a metric name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Metric {
    HttpRequests,
    HttpRequestDuration,
    RateLimitDecisions,
    IngestedQueries,
    AnalysisJobs,
    AnalysisJobDuration,
    LlmCalls,
    AnalysisQueueDepth,
    DbPoolOpen,
    DbPoolIdle,
    RateLimiterDegraded,
    DbReplicaLag,
    DbReplicaInUse,
}

impl Metric {
    const ALL: [Metric; 13] = [
        Metric::HttpRequests,
        Metric::HttpRequestDuration,
        Metric::RateLimitDecisions,
        Metric::IngestedQueries,
        Metric::AnalysisJobs,
        Metric::AnalysisJobDuration,
        Metric::LlmCalls,
        Metric::AnalysisQueueDepth,
        Metric::DbPoolOpen,
        Metric::DbPoolIdle,
        Metric::RateLimiterDegraded,
        Metric::DbReplicaLag,
        Metric::DbReplicaInUse,
    ];

    /// (name, Prometheus type, help).
    fn describe(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Metric::HttpRequests => (
                "dbpower_http_requests_total",
                "counter",
                "HTTP requests by service, method, route and status",
            ),
            Metric::HttpRequestDuration => (
                "dbpower_http_request_duration_seconds",
                "histogram",
                "HTTP request latency by service and route",
            ),
            Metric::RateLimitDecisions => (
                "dbpower_rate_limit_decisions_total",
                "counter",
                "Rate-limit decisions (allowed, refused)",
            ),
            Metric::IngestedQueries => (
                "dbpower_ingested_queries_total",
                "counter",
                "Slow queries stored through the signed ingestion API",
            ),
            Metric::AnalysisJobs => (
                "dbpower_analysis_jobs_total",
                "counter",
                "Analysis jobs finished, by outcome",
            ),
            Metric::AnalysisJobDuration => (
                "dbpower_analysis_job_duration_seconds",
                "histogram",
                "Time to analyze one job (rules and LLM)",
            ),
            Metric::LlmCalls => (
                "dbpower_llm_calls_total",
                "counter",
                "Calls to LLM providers by provider and outcome",
            ),
            Metric::AnalysisQueueDepth => (
                "dbpower_analysis_queue_depth",
                "gauge",
                "Analysis jobs queued or running",
            ),
            Metric::DbPoolOpen => (
                "dbpower_db_pool_open_connections",
                "gauge",
                "Database connections the pool holds open",
            ),
            Metric::DbPoolIdle => (
                "dbpower_db_pool_idle_connections",
                "gauge",
                "Open database connections that are idle",
            ),
            Metric::RateLimiterDegraded => (
                "dbpower_rate_limiter_degraded",
                "gauge",
                "1 while Redis is configured but failing (limits are per process meanwhile)",
            ),
            Metric::DbReplicaLag => (
                "dbpower_db_replica_lag_seconds",
                "gauge",
                "Replay lag of the read replica at its last measurement (-1 while it does not answer)",
            ),
            Metric::DbReplicaInUse => (
                "dbpower_db_replica_in_use",
                "gauge",
                "1 while list and dashboard reads go to the read replica, 0 while they use the primary",
            ),
        }
    }
}

fn labels(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect::<Vec<_>>()
        .join(",")
}

impl Metrics {
    pub(crate) fn inc(&self, name: Metric, pairs: &[(&str, &str)], by: f64) {
        *self
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((name, labels(pairs)))
            .or_insert(0.0) += by;
    }

    pub(crate) fn observe(&self, name: Metric, pairs: &[(&str, &str)], seconds: f64) {
        let mut h = self.histograms.lock().unwrap_or_else(|p| p.into_inner());
        let e = h.entry((name, labels(pairs))).or_insert_with(|| Histogram {
            counts: vec![0; BUCKETS.len()],
            ..Histogram::default()
        });
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                e.counts[i] += 1;
            }
        }
        e.sum += seconds;
        e.count += 1;
    }

    pub(crate) fn render(&self, gauges: &[(Metric, f64)]) -> String {
        let counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let histograms = self.histograms.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for metric in Metric::ALL {
            let (n, kind, help) = metric.describe();
            out.push_str(&format!("# HELP {n} {help}\n# TYPE {n} {kind}\n"));
            for ((_, l), v) in counters.iter().filter(|((m, _), _)| *m == metric) {
                out.push_str(&format!("{n}{{{l}}} {v}\n"));
            }
            for ((_, l), h) in histograms.iter().filter(|((m, _), _)| *m == metric) {
                let sep = if l.is_empty() { "" } else { "," };
                for (b, c) in BUCKETS.iter().zip(&h.counts) {
                    out.push_str(&format!("{n}_bucket{{{l}{sep}le=\"{b}\"}} {c}\n"));
                }
                out.push_str(&format!("{n}_bucket{{{l}{sep}le=\"+Inf\"}} {}\n{n}_sum{{{l}}} {}\n{n}_count{{{l}}} {}\n", h.count, h.sum, h.count));
            }
            for (_, v) in gauges.iter().filter(|(g, _)| *g == metric) {
                out.push_str(&format!("{n} {v}\n"));
            }
        }
        out
    }
}

/// The `route` label: the route template axum matched (`/api/v1/slow-queries/{id}/analyze`), never
/// the path a client sent, so no request can add a series. Requests no route matched are `unmatched`,
/// except the admin panel's pages (`panel`) and, in the gateway, requests forwarded upstream
/// (`forwarded`), each one label whatever their path.
pub(crate) fn route_label(matched: Option<&str>, path: &str, status: u16) -> String {
    if let Some(m) = matched {
        return m.to_string();
    }
    if status == 404 || status == 405 || status >= 500 && status != 502 && status != 504 {
        return "unmatched".into();
    }
    if path.starts_with("/api/") || path.starts_with("/analyzer/") {
        "forwarded".into()
    } else if status < 400 {
        "panel".into()
    } else {
        "unmatched".into()
    }
}

/// Who may read `/metrics` (and the gateway's upstream details): holders of `metrics_token` when it is
/// set; anyone in development when it is not; nobody in production when it is not.
#[derive(Clone)]
pub(crate) struct MetricsAccess {
    token: Option<String>,
    production: bool,
}

/// What a request may see.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Granted,
    /// A token is configured and the request did not carry it.
    Unauthorized,
    /// Production without a token: the endpoint is off.
    Disabled,
}

impl MetricsAccess {
    pub(crate) fn new(token: Option<String>, production: bool) -> MetricsAccess {
        MetricsAccess {
            token: token.filter(|t| !t.is_empty()),
            production,
        }
    }

    pub(crate) fn check(&self, headers: &axum::http::HeaderMap) -> Access {
        match &self.token {
            Some(t) => {
                let given = crate::http::jwt::bearer_of(headers).unwrap_or("");
                if subtle::ConstantTimeEq::ct_eq(given.as_bytes(), t.as_bytes()).into() {
                    Access::Granted
                } else {
                    Access::Unauthorized
                }
            }
            None if self.production => Access::Disabled,
            None => Access::Granted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_normalized_and_text_is_prometheus() {
        assert_eq!(
            route_label(
                Some("/api/v1/slow-queries/{id}/analyze"),
                "/api/v1/slow-queries/42/analyze",
                202
            ),
            "/api/v1/slow-queries/{id}/analyze"
        );
        assert_eq!(route_label(None, "/wp-login.php", 404), "unmatched");
        assert_eq!(route_label(None, "/queries/abc", 200), "panel");
        assert_eq!(route_label(None, "/api/v1/whatever", 200), "forwarded");
        assert_eq!(route_label(None, "/api/v1/whatever", 404), "unmatched");
        let m = Metrics::default();
        m.inc(
            Metric::HttpRequests,
            &[("route", "/x"), ("status", "200")],
            1.0,
        );
        m.inc(
            Metric::HttpRequests,
            &[("route", "/x"), ("status", "200")],
            1.0,
        );
        m.observe(Metric::HttpRequestDuration, &[("route", "/x")], 0.02);
        let text = m.render(&[(Metric::AnalysisQueueDepth, 3.0)]);
        assert!(
            text.contains("dbpower_http_requests_total{route=\"/x\",status=\"200\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "dbpower_http_request_duration_seconds_bucket{route=\"/x\",le=\"0.025\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "dbpower_http_request_duration_seconds_bucket{route=\"/x\",le=\"0.01\"} 0\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("dbpower_http_request_duration_seconds_count{route=\"/x\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "# TYPE dbpower_analysis_queue_depth gauge\ndbpower_analysis_queue_depth 3\n"
            ),
            "{text}"
        );
    }
}
