//! Alerts on the wire: rules (what to detect, for which scope, with which thresholds), channels (where an
//! alert goes), alerts with their evidence, and deliveries. docs/ALERTS.md explains the detection.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// What a rule detects (docs/ALERTS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A class's latency in the window is clearly worse than its baseline.
    Regression,
    /// A class first observed inside the window that already costs a share of the organization's time.
    NewClass,
    /// A class's executions per hour far above its baseline.
    VolumeSpike,
    /// A class's analysis became CRITICAL.
    SeverityRaised,
    /// A class's recent executions run on a different, slower plan (filled by plan history).
    PlanChanged,
}

impl AlertKind {
    pub const ALL: [AlertKind; 5] = [
        AlertKind::Regression,
        AlertKind::NewClass,
        AlertKind::VolumeSpike,
        AlertKind::SeverityRaised,
        AlertKind::PlanChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Regression => "regression",
            AlertKind::NewClass => "new_class",
            AlertKind::VolumeSpike => "volume_spike",
            AlertKind::SeverityRaised => "severity_raised",
            AlertKind::PlanChanged => "plan_changed",
        }
    }

    pub fn parse(s: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An alert's state: open until someone acknowledges or resolves it, or its condition has been clear for
/// the rule's `resolve_after_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<AlertStatus> {
        [
            AlertStatus::Open,
            AlertStatus::Acknowledged,
            AlertStatus::Resolved,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A rule's thresholds; each left out takes its kind's default (docs/ALERTS.md, "Thresholds").
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertThresholds {
    /// Regression: the least window/baseline ratio of both p95 and mean (default 1.5). Volume spike: the
    /// least ratio of the window's executions per hour to the baseline's (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// Executions the class needs in the window (regression 20, new class 3, volume spike 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_calls: Option<u64>,
    /// Executions the class needs in the baseline (regression 50, volume spike 24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_baseline_calls: Option<u64>,
    /// Regression: the least Mann-Whitney z score of the window's latencies over the baseline's
    /// (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_z: Option<f64>,
    /// New class: the least share of the organization's execution time in the window (default 0.01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_share: Option<f64>,
}

/// One side of a comparison, from the hourly rollups and histograms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SideNumbers {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub calls: u64,
    pub total_time_ms: f64,
    pub mean_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    /// Executions per hour over the side's hours.
    pub calls_per_hour: f64,
    /// The most executions in one hour of the side.
    pub busiest_hour_calls: u64,
}

/// Why an alert is open: both sides' numbers, the statistic that decided and a sentence saying it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertEvidence {
    pub summary: String,
    pub window: SideNumbers,
    pub baseline: SideNumbers,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_ratio: Option<f64>,
    /// Mann-Whitney z of the window's latencies over the baseline's (regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z: Option<f64>,
    /// The class's share of the organization's execution time in the window (new class).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// The class in the API (`/api/v1/query-classes/{query_id}`).
    pub class_url: String,
    /// The newest change marker at or before the alert's evaluation since the baseline began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_marker: Option<EventView>,
}

/// An alert as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AlertView {
    pub id: i64,
    pub organization_id: i64,
    pub rule_id: i64,
    pub kind: AlertKind,
    pub status: AlertStatus,
    pub query_id: String,
    pub database_type: String,
    pub fingerprint: String,
    /// The team and identity whose executions raised it (null: sent by no team or identity).
    pub team_id: Option<i64>,
    pub identity_id: Option<i64>,
    /// LOW, MEDIUM, HIGH or CRITICAL.
    pub severity: String,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Last evaluation that found the condition true.
    pub last_true_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<i64>,
    pub evidence: AlertEvidence,
}

/// `GET /api/v1/alerts` filters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertListQuery {
    pub page: Option<u32>,
    pub per_page: Option<u32>,
    /// open, acknowledged or resolved.
    pub status: Option<String>,
    /// regression, new_class, volume_spike, severity_raised or plan_changed.
    pub kind: Option<String>,
    pub query_id: Option<String>,
}

/// Where alerts go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// An HTTPS endpoint, signed per the Standard Webhooks specification.
    Webhook,
    /// A Slack incoming webhook.
    Slack,
    /// E-mail through the platform's SMTP relay (`alerts.smtp_url`).
    Email,
    /// PagerDuty Events API v2.
    Pagerduty,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Email => "email",
            ChannelKind::Pagerduty => "pagerduty",
        }
    }

    pub fn parse(s: &str) -> Option<ChannelKind> {
        [
            ChannelKind::Webhook,
            ChannelKind::Slack,
            ChannelKind::Email,
            ChannelKind::Pagerduty,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A channel's settings. Per kind: webhook `url`; slack `url` (the incoming-webhook URL, kept as a
/// secret); email `to` (1 to 20 addresses); pagerduty `routing_key` (kept as a secret) and optionally
/// `url` (default PagerDuty's `https://events.pagerduty.com/v2/enqueue`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfigIn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
}

/// `POST /api/v1/alert-channels`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChannelRequest {
    pub name: String,
    pub kind: ChannelKind,
    pub config: ChannelConfigIn,
    /// Only alerts raised by this team's executions reach the channel (null: every alert of its rules).
    #[serde(default)]
    pub team_id: Option<i64>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Required for a super admin.
    #[serde(default)]
    pub organization_id: Option<i64>,
}

/// `PATCH /api/v1/alert-channels/{id}`: what is left out stays. A new `config` replaces the old one
/// (secrets included; a webhook keeps its signing secret).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChannelRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub config: Option<ChannelConfigIn>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A channel as the API returns it: no secret, only what is safe to show (a webhook's URL, an e-mail
/// channel's addresses; Slack and PagerDuty show only that a secret is set).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChannelView {
    pub id: i64,
    pub organization_id: i64,
    pub team_id: Option<i64>,
    pub name: String,
    pub kind: ChannelKind,
    pub enabled: bool,
    pub url: Option<String>,
    pub to: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// The newest delivery's status (pending, sending, sent or failed), when, and its last error.
    pub last_delivery_status: Option<String>,
    pub last_delivery_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// The create answer: the channel and, for a webhook, its `whsec_` signing secret, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChannelCreated {
    pub channel: ChannelView,
    pub secret: Option<String>,
}

/// `POST /api/v1/alert-channels/{id}/test`: the test delivery queued.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChannelTestQueued {
    pub delivery_id: String,
}

/// `POST /api/v1/alert-rules`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRuleRequest {
    pub name: String,
    pub kind: AlertKind,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Only executions sent by this team / identity, from this database / engine (mysql, postgresql).
    #[serde(default)]
    pub team_id: Option<i64>,
    #[serde(default)]
    pub identity_id: Option<i64>,
    #[serde(default)]
    pub database_name: Option<String>,
    #[serde(default)]
    pub engine: Option<String>,
    #[serde(default)]
    pub thresholds: Option<AlertThresholds>,
    /// The channels it notifies (null: every channel of the organization).
    #[serde(default)]
    pub channel_ids: Option<Vec<i64>>,
    /// Seconds the condition must stay clear before the alert resolves itself (default 3600).
    #[serde(default)]
    pub resolve_after_secs: Option<u32>,
    #[serde(default)]
    pub organization_id: Option<i64>,
}

/// `PATCH /api/v1/alert-rules/{id}`: what is left out stays; `channel_ids: null` is "every channel".
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRuleRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub thresholds: Option<AlertThresholds>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<Vec<i64>>)]
    pub channel_ids: Option<Option<Vec<i64>>>,
    #[serde(default)]
    pub resolve_after_secs: Option<u32>,
}

/// A rule as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RuleView {
    pub id: i64,
    pub organization_id: i64,
    pub name: String,
    pub kind: AlertKind,
    pub enabled: bool,
    pub team_id: Option<i64>,
    pub identity_id: Option<i64>,
    pub database_name: Option<String>,
    pub engine: Option<String>,
    pub thresholds: AlertThresholds,
    pub channel_ids: Option<Vec<i64>>,
    pub resolve_after_secs: u32,
    pub created_at: DateTime<Utc>,
}

/// `POST /api/v1/query-classes/{query_id}/mute`: no new alert for the class until then.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MuteRequest {
    pub until: DateTime<Utc>,
    /// Required for a super admin.
    #[serde(default)]
    pub organization_id: Option<i64>,
}

/// The mute as stored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MuteView {
    pub query_id: String,
    pub until: DateTime<Utc>,
}

/// `Option<Option<T>>` for PATCH bodies: absent stays, `null` clears, a value sets.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer, T: Serialize>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// How a class changed from window A to window B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClassChange {
    /// Ran only in B.
    New,
    /// Ran only in A.
    Gone,
    /// B's mean and p95 both at least `ratio` times A's.
    Regressed,
    /// B's mean and p95 both at most A's divided by `ratio`.
    Improved,
    Unchanged,
}

impl ClassChange {
    pub fn as_str(self) -> &'static str {
        match self {
            ClassChange::New => "new",
            ClassChange::Gone => "gone",
            ClassChange::Regressed => "regressed",
            ClassChange::Improved => "improved",
            ClassChange::Unchanged => "unchanged",
        }
    }

    pub fn parse(s: &str) -> Option<ClassChange> {
        [
            ClassChange::New,
            ClassChange::Gone,
            ClassChange::Regressed,
            ClassChange::Improved,
            ClassChange::Unchanged,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// `GET /api/v1/compare`: two windows (whole rollup hours: an hour counts when it starts at or after
/// `from` and before `to`), what to show and in which order.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompareQuery {
    /// Window A (before): required unless `around_event` is given.
    pub a_from: Option<DateTime<Utc>>,
    pub a_to: Option<DateTime<Utc>>,
    /// Window B (after): required unless `around_event` is given.
    pub b_from: Option<DateTime<Utc>>,
    pub b_to: Option<DateTime<Utc>>,
    /// Before and after this change marker instead: A is the `span_secs` before the start of the hour
    /// it falls in, B the `span_secs` from the end of that hour (the hour itself holds both; a marker on
    /// the hour splits there). The four window parameters must then be absent.
    pub around_event: Option<i64>,
    /// With `around_event`: each window's length in whole hours, 3600 s to 92 days (default 3600).
    pub span_secs: Option<u64>,
    /// The ratio of mean and p95 that counts as regressed or improved (1.05 to 100, default 1.5).
    pub ratio: Option<f64>,
    /// Only classes with this change: new, gone, regressed, improved or unchanged.
    pub change: Option<String>,
    /// mysql or postgresql.
    pub database_type: Option<String>,
    /// total_time_delta (default), b_total_time, a_total_time, mean_ratio, calls_delta.
    pub sort: Option<String>,
    /// desc (default) or asc.
    pub order: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
    /// json (default) or csv (every matching row, no paging).
    pub format: Option<String>,
}

/// One window's numbers of a class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CompareSide {
    pub calls: u64,
    pub total_time_ms: f64,
    pub mean_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    /// Rows examined per row sent (null when no execution reported rows examined, as with
    /// PostgreSQL's sources, or none sent).
    pub rows_ratio: Option<f64>,
}

/// One class in both windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CompareRow {
    pub query_id: String,
    pub database_type: String,
    pub fingerprint: String,
    pub change: ClassChange,
    pub a: CompareSide,
    pub b: CompareSide,
    /// B's mean over A's (both ran).
    pub mean_ratio: Option<f64>,
    pub p95_ratio: Option<f64>,
    /// B's total time minus A's.
    pub total_time_delta_ms: f64,
    /// B's calls minus A's.
    pub calls_delta: i64,
}

/// How many classes of each change (before the `change` filter).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CompareSummary {
    pub new: u64,
    pub gone: u64,
    pub regressed: u64,
    pub improved: u64,
    pub unchanged: u64,
}

/// `GET /api/v1/compare`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CompareResponse {
    pub a_from: DateTime<Utc>,
    pub a_to: DateTime<Utc>,
    pub b_from: DateTime<Utc>,
    pub b_to: DateTime<Utc>,
    pub ratio: f64,
    pub summary: CompareSummary,
    pub items: Vec<CompareRow>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}

/// What a change marker records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Deploy,
    Schema,
    Config,
    Note,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Deploy => "deploy",
            ChangeKind::Schema => "schema",
            ChangeKind::Config => "config",
            ChangeKind::Note => "note",
        }
    }

    pub fn parse(s: &str) -> Option<ChangeKind> {
        [
            ChangeKind::Deploy,
            ChangeKind::Schema,
            ChangeKind::Config,
            ChangeKind::Note,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// `POST /api/v1/events`: a change marker (a deploy, a schema or configuration change, a note).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEventRequest {
    pub kind: ChangeKind,
    /// 1 to 200 characters.
    pub title: String,
    /// When it happened (default now): at most 90 days ago and a day ahead.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    /// At most 20 labels; keys 1 to 64 of `[A-Za-z0-9_.-]`, values at most 256 characters.
    #[serde(default)]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
    /// Required for a super admin (ignored when signed by an api key).
    #[serde(default)]
    pub organization_id: Option<i64>,
}

/// A change marker as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    pub id: i64,
    pub organization_id: i64,
    pub team_id: Option<i64>,
    pub identity_id: Option<i64>,
    pub kind: ChangeKind,
    pub title: String,
    pub at: DateTime<Utc>,
    pub labels: std::collections::BTreeMap<String, String>,
    /// `user` (a bearer token) or `api_key` (a signed request: a deploy pipeline or an agent).
    pub source: String,
    pub created_at: DateTime<Utc>,
}

/// `GET /api/v1/events` filters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventListQuery {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// deploy, schema, config or note.
    pub kind: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// `PUT /api/v1/teams/{id}/weekly-report`: the team receives a weekly report on this e-mail channel
/// (one of its organization's, organization-wide or the team's own).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklyReportRequest {
    pub channel_id: i64,
}

/// An e-mail channel a team's weekly report may go to (listed to the team's lead, who cannot list the
/// organization's channels).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportChannel {
    pub id: i64,
    pub name: String,
    /// The team's own channel (otherwise organization-wide).
    pub team_id: Option<i64>,
}

/// A team's weekly report: on (with its channel) or off (a team that never opted in has no channel).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WeeklyReportView {
    pub team_id: i64,
    pub organization_id: i64,
    pub enabled: bool,
    pub channel_id: Option<i64>,
    /// The Monday (UTC, `YYYY-MM-DD`) of the last week reported, if any.
    pub last_week: Option<String>,
    /// When it was last turned on, moved or turned off.
    pub updated_at: Option<DateTime<Utc>>,
}

/// One class in a weekly report: its numbers in the week reported, and its mean over the week
/// before's (both weeks ran).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportClass {
    pub query_id: String,
    pub database_type: String,
    /// At most 300 characters.
    pub fingerprint: String,
    pub calls: u64,
    pub total_time_ms: f64,
    pub mean_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub mean_ratio: Option<f64>,
}

/// A resolved alert in a weekly report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportAlert {
    pub id: i64,
    pub kind: AlertKind,
    pub query_id: String,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A team's weekly report: the week `[from, to)` (Monday to Monday, UTC) in the team's own executions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WeeklyReport {
    pub organization_id: i64,
    pub team_id: i64,
    pub team_name: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Executions and time of the week.
    pub calls: u64,
    pub total_time_ms: f64,
    /// The classes with the most time (at most 10).
    pub top: Vec<ReportClass>,
    /// Classes that ran this week and not the week before (at most 10, most time first), and how many.
    pub new: Vec<ReportClass>,
    pub new_count: u64,
    /// Classes whose mean and p95 grew by 1.5x or more over the week before (at most 10).
    pub regressed: Vec<ReportClass>,
    pub regressed_count: u64,
    /// Alerts of the team resolved this week (at most 10 listed) and how many there were.
    pub resolved: Vec<ReportAlert>,
    pub resolved_count: u64,
}
