//! Alerts: rules, channels, alerts and the delivery outbox ([`AlertStore`]), the records it takes and
//! returns and the rows it reads. Detection itself is pure (`dbpower_analysis::detect`); the store reads
//! the rollups and histograms it needs ([`AlertStore::alert_data`]) and writes what it decided
//! ([`AlertStore::record_firings`]) with the deliveries in the same transaction.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dbpower_core::{OrgId, Scope};
use dbpower_types::{
    AlertEvidence, AlertKind, AlertStatus, AlertThresholds, AlertView, ChangeKind, ChannelKind,
    ChannelView, EventView, MuteView, RuleView,
};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::{PageRequest, Result, StoreError};

/// Rules, channels, alerts and deliveries (a supertrait of [`crate::Store`]).
#[async_trait]
pub trait AlertStore: Send + Sync {
    // Channels (organization level).
    async fn insert_channel(&self, org: OrgId, new: &NewChannel) -> Result<ChannelRecord>;
    async fn list_channels(
        &self,
        scope: &Scope,
        page: PageRequest,
    ) -> Result<(Vec<ChannelRecord>, i64)>;
    async fn channel_by_id(&self, scope: &Scope, id: i64) -> Result<ChannelRecord>;
    async fn update_channel(
        &self,
        scope: &Scope,
        id: i64,
        patch: &ChannelPatch,
    ) -> Result<ChannelRecord>;
    async fn delete_channel(&self, scope: &Scope, id: i64) -> Result<()>;
    /// Queues a test message to the channel; returns the delivery id.
    async fn queue_test_delivery(
        &self,
        scope: &Scope,
        id: i64,
        message: &serde_json::Value,
    ) -> Result<String>;

    // Rules (organization level).
    async fn insert_rule(&self, org: OrgId, new: &NewRule) -> Result<RuleView>;
    async fn list_rules(&self, scope: &Scope, page: PageRequest) -> Result<(Vec<RuleView>, i64)>;
    async fn rule_by_id(&self, scope: &Scope, id: i64) -> Result<RuleView>;
    async fn update_rule(&self, scope: &Scope, id: i64, patch: &RulePatch) -> Result<RuleView>;
    async fn delete_rule(&self, scope: &Scope, id: i64) -> Result<()>;

    // Evaluation.
    /// Organizations with at least one enabled rule.
    async fn alert_org_ids(&self) -> Result<Vec<OrgId>>;
    /// What the detector needs for one organization: its enabled rules, and per class and sending scope
    /// active in the window (or whose analysis became CRITICAL since the baseline began) both sides'
    /// rollup sums and histograms.
    async fn alert_data(&self, org: OrgId, w: &EvalWindow) -> Result<EvalData>;
    /// Writes one evaluation in one transaction: opens alerts for new conditions (with their
    /// deliveries), updates the evidence of open ones, resolves those clear for their rule's
    /// `resolve_after_secs` (with resolve deliveries).
    async fn record_firings(
        &self,
        org: OrgId,
        now: DateTime<Utc>,
        firings: &[Firing],
    ) -> Result<EvalOutcome>;

    // Alerts.
    async fn list_alerts(
        &self,
        scope: &Scope,
        filter: &AlertFilter,
        page: PageRequest,
    ) -> Result<(Vec<AlertView>, i64)>;
    async fn alert_by_id(&self, scope: &Scope, id: i64) -> Result<AlertView>;
    /// Acknowledges (from open) or resolves (from open or acknowledged) an alert; a resolve queues the
    /// resolve deliveries in the same transaction. `Err(Conflict(Alert))` when the alert is not in a
    /// state that allows it.
    async fn set_alert_status(
        &self,
        scope: &Scope,
        id: i64,
        status: AlertStatus,
        user_id: i64,
    ) -> Result<AlertView>;
    /// Mutes the scope's classes with this query id until `until` (no new alert opens for them).
    async fn mute_class(
        &self,
        scope: &Scope,
        query_id: &str,
        until: DateTime<Utc>,
        user_id: i64,
    ) -> Result<MuteView>;

    /// One comparison window `[from, to)` in the caller's scope: per class the executions, time and
    /// histogram of its rollup hours there, the `MAX_COMPARE_CLASSES` with the most time.
    async fn compare_window(
        &self,
        scope: &Scope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        database_type: Option<&str>,
    ) -> Result<Vec<WindowClass>>;

    /// Alerts of the scope changed (opened, updated, acknowledged, resolved) after `(at, id)`, oldest
    /// change first, at most `limit` (the live stream's cursor).
    async fn alert_changes(
        &self,
        scope: &Scope,
        after: (DateTime<Utc>, i64),
        limit: i64,
    ) -> Result<Vec<AlertView>>;
    /// Slow-query rows the scope ingested in the rollup hour `hour`.
    async fn rows_in_hour(&self, scope: &Scope, hour: DateTime<Utc>) -> Result<i64>;

    // Change markers.
    /// Records a marker of organization `org` sent by `team_id` / `identity_id` (0: none).
    async fn insert_event(&self, org: OrgId, new: &NewEvent) -> Result<EventView>;
    /// The scope's markers, newest first.
    async fn list_events(
        &self,
        scope: &Scope,
        filter: &EventFilter,
        page: PageRequest,
    ) -> Result<(Vec<EventView>, i64)>;
    /// One marker the scope sees.
    async fn event_by_id(&self, scope: &Scope, id: i64) -> Result<EventView>;

    // The outbox.
    /// Leases up to `limit` due deliveries (pending and due, or sending with an expired lease).
    async fn claim_deliveries(
        &self,
        limit: i64,
        lease: std::time::Duration,
    ) -> Result<Vec<ClaimedDelivery>>;
    /// Records a delivery's attempt, fenced by its lease: `Ok(false)` when the lease was lost.
    async fn finish_delivery(&self, d: &ClaimedDelivery, outcome: &DeliveryOutcome)
    -> Result<bool>;
}

/// What a channel may show: a webhook's URL, an e-mail channel's addresses, a custom PagerDuty URL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelPublic {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
}

pub struct NewChannel {
    pub name: String,
    pub kind: ChannelKind,
    pub team_id: Option<i64>,
    pub enabled: bool,
    pub public: ChannelPublic,
    pub secret_ciphertext: Option<String>,
}

/// A change to a channel: what is `None` stays. `config` replaces the public part and, when it holds
/// one, the secret.
#[derive(Default)]
pub struct ChannelPatch {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub config: Option<(ChannelPublic, Option<String>)>,
}

/// A channel with its encrypted secret (never returned by the API).
#[derive(Debug, Clone)]
pub struct ChannelRecord {
    pub view: ChannelView,
    pub public: ChannelPublic,
    pub secret_ciphertext: Option<String>,
}

pub struct NewRule {
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
}

#[derive(Default)]
pub struct RulePatch {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub thresholds: Option<AlertThresholds>,
    pub channel_ids: Option<Option<Vec<i64>>>,
    pub resolve_after_secs: Option<u32>,
}

/// The two sides of one evaluation: the window is `[window_start, now]`, the baseline
/// `[baseline_start, window_start)`, both in whole rollup hours.
#[derive(Debug, Clone, Copy)]
pub struct EvalWindow {
    pub now: DateTime<Utc>,
    pub window_start: DateTime<Utc>,
    pub baseline_start: DateTime<Utc>,
}

/// One side's rollup sums and histogram buckets.
#[derive(Debug, Clone, Default)]
pub struct SideSums {
    pub calls: u64,
    pub total_ms: f64,
    pub busiest_hour: u64,
    /// Rollup hours of the side with executions (0: not counted).
    pub hours: u32,
    pub buckets: Vec<(u16, u64)>,
}

/// One class in one sending scope.
#[derive(Debug, Clone)]
pub struct SeriesRow {
    pub class_id: i64,
    /// 0: no team / identity.
    pub team_id: i64,
    pub identity_id: i64,
    pub query_id: String,
    pub database_type: String,
    pub databases: Vec<String>,
    pub first_seen: DateTime<Utc>,
    pub severity: Option<String>,
    /// When its analysis became CRITICAL (null unless it is).
    pub critical_since: Option<DateTime<Utc>>,
    pub window: SideSums,
    pub baseline: SideSums,
}

/// [`AlertStore::alert_data`].
#[derive(Debug, Clone, Default)]
pub struct EvalData {
    pub rules: Vec<RuleView>,
    pub series: Vec<SeriesRow>,
    /// The organization's execution time in the window.
    pub org_window_ms: f64,
    /// Classes muted now.
    pub muted: HashSet<i64>,
    /// The newest change marker at or before now since the baseline began (alerts cite it).
    pub marker: Option<EventView>,
    /// Classes whose newest plan shape was first seen in the window, after another shape: by class.
    pub plan_switches: std::collections::HashMap<i64, PlanSwitch>,
}

/// A class's plan changed: the shape it ran with before (the one last seen most recently before the new
/// one appeared) and the new one, now current, each with the executions that carried it and their time.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSwitch {
    pub from: PlanSide,
    pub to: PlanSide,
    /// When the new shape was first seen.
    pub at: DateTime<Utc>,
}

/// One plan shape of a [`PlanSwitch`].
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSide {
    pub shape: String,
    pub summary: String,
    pub executions: i64,
    pub total_time_ms: f64,
}

/// A condition that holds now.
#[derive(Debug, Clone)]
pub struct Firing {
    pub rule_id: i64,
    pub kind: AlertKind,
    pub class_id: i64,
    pub team_id: i64,
    pub identity_id: i64,
    pub severity: String,
    pub evidence: AlertEvidence,
    /// False for a muted class: its open alert is kept up to date, no new one opens.
    pub may_open: bool,
}

/// What an evaluation changed.
#[derive(Debug, Clone, Default)]
pub struct EvalOutcome {
    pub opened: Vec<AlertView>,
    pub updated: usize,
    pub resolved: Vec<AlertView>,
}

#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    pub kind: Option<AlertKind>,
    pub query_id: Option<String>,
    /// Only alerts resolved in `[from, to)`.
    pub resolved_between: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// At most this many classes per comparison window (those with the most time).
pub const MAX_COMPARE_CLASSES: i64 = 10_000;

/// A class in one comparison window.
#[derive(Debug, Clone)]
pub struct WindowClass {
    pub class_id: i64,
    pub query_id: String,
    pub database_type: String,
    pub fingerprint: String,
    pub sums: SideSums,
    pub rows: RowSums,
}

/// Rows examined and sent in a window; `known`: executions that reported rows examined. Floating point:
/// sums of saturated counters cannot overflow.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RowSums {
    pub examined: f64,
    pub known: f64,
    pub sent: f64,
}

impl RowSums {
    /// Rows examined per row sent, when any execution reported rows examined and any row was sent.
    pub fn ratio(&self) -> Option<f64> {
        (self.known > 0.0 && self.sent > 0.0)
            .then(|| self.examined / self.sent)
            .filter(|r| r.is_finite())
    }
}

pub struct NewEvent {
    pub team_id: i64,
    pub identity_id: i64,
    pub kind: ChangeKind,
    pub title: String,
    pub at: DateTime<Utc>,
    pub labels: std::collections::BTreeMap<String, String>,
    /// `user` or `api_key`.
    pub source: &'static str,
    pub created_by: Option<i64>,
    pub api_key_id: Option<i64>,
    /// A signed request's id (with `api_key_id`): sent again, the first marker is answered.
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub kind: Option<ChangeKind>,
}

pub(crate) const EVENT_COLS: &str = "id, organization_id, team_id, identity_id, kind, title, at, \
     labels, source, created_at";

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    id: i64,
    organization_id: i64,
    team_id: i64,
    identity_id: i64,
    kind: String,
    title: String,
    at: DateTime<Utc>,
    labels: Json<std::collections::BTreeMap<String, String>>,
    source: String,
    created_at: DateTime<Utc>,
}

impl EventRow {
    pub(crate) fn into_view(self) -> Result<EventView> {
        Ok(EventView {
            id: self.id,
            organization_id: self.organization_id,
            team_id: (self.team_id != 0).then_some(self.team_id),
            identity_id: (self.identity_id != 0).then_some(self.identity_id),
            kind: ChangeKind::parse(&self.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("event kind {:?}", self.kind)))?,
            title: self.title,
            at: self.at,
            labels: self.labels.0,
            source: self.source,
            created_at: self.created_at,
        })
    }
}

/// A leased delivery with its channel.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub delivery_id: String,
    pub organization_id: i64,
    pub alert_id: Option<i64>,
    pub event: String,
    pub message: serde_json::Value,
    /// Attempts so far, this one included.
    pub attempts: i32,
    pub lease_token: String,
    pub channel: ChannelRecord,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum DeliveryOutcome {
    Sent,
    /// Failed; tried again at `retry_at`.
    Retry {
        error: String,
        retry_at: DateTime<Utc>,
    },
    /// Failed for good.
    Failed {
        error: String,
    },
}

pub(crate) const CHANNEL_COLS: &str = "ch.id, ch.organization_id, ch.team_id, ch.name, ch.kind, \
     ch.enabled, ch.config, ch.secret_ciphertext, ch.created_at, \
     (SELECT d.status FROM alert_deliveries d WHERE d.channel_id = ch.id ORDER BY d.id DESC LIMIT 1) \
     AS last_status, \
     (SELECT d.updated_at FROM alert_deliveries d WHERE d.channel_id = ch.id ORDER BY d.id DESC \
     LIMIT 1) AS last_at, \
     (SELECT d.last_error FROM alert_deliveries d WHERE d.channel_id = ch.id ORDER BY d.id DESC \
     LIMIT 1) AS last_error";

#[derive(sqlx::FromRow)]
pub(crate) struct ChannelRow {
    id: i64,
    organization_id: i64,
    team_id: Option<i64>,
    name: String,
    kind: String,
    enabled: bool,
    config: Json<ChannelPublic>,
    secret_ciphertext: Option<String>,
    created_at: DateTime<Utc>,
    last_status: Option<String>,
    last_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

impl ChannelRow {
    pub(crate) fn into_record(self) -> Result<ChannelRecord> {
        let kind = ChannelKind::parse(&self.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("channel kind {:?}", self.kind)))?;
        let public = self.config.0;
        Ok(ChannelRecord {
            view: ChannelView {
                id: self.id,
                organization_id: self.organization_id,
                team_id: self.team_id,
                name: self.name,
                kind,
                enabled: self.enabled,
                url: match kind {
                    // The query string often carries a token: shown as `?…`.
                    ChannelKind::Webhook | ChannelKind::Pagerduty => {
                        public.url.as_ref().map(|u| match u.split_once('?') {
                            Some((base, _)) => format!("{base}?…"),
                            None => u.clone(),
                        })
                    }
                    ChannelKind::Slack | ChannelKind::Email => None,
                },
                to: public.to.clone(),
                created_at: self.created_at,
                last_delivery_status: self.last_status,
                last_delivery_at: self.last_at,
                last_error: self.last_error,
            },
            public,
            secret_ciphertext: self.secret_ciphertext,
        })
    }
}

pub(crate) const RULE_COLS: &str = "id, organization_id, name, kind, enabled, team_id, identity_id, \
     database_name, engine, thresholds, channel_ids, resolve_after_secs, created_at";

#[derive(sqlx::FromRow)]
pub(crate) struct RuleRow {
    id: i64,
    organization_id: i64,
    name: String,
    kind: String,
    enabled: bool,
    team_id: Option<i64>,
    identity_id: Option<i64>,
    database_name: Option<String>,
    engine: Option<String>,
    thresholds: Json<AlertThresholds>,
    channel_ids: Option<Json<Vec<i64>>>,
    resolve_after_secs: i32,
    created_at: DateTime<Utc>,
}

impl RuleRow {
    pub(crate) fn into_view(self) -> Result<RuleView> {
        Ok(RuleView {
            id: self.id,
            organization_id: self.organization_id,
            name: self.name,
            kind: AlertKind::parse(&self.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("rule kind {:?}", self.kind)))?,
            enabled: self.enabled,
            team_id: self.team_id,
            identity_id: self.identity_id,
            database_name: self.database_name,
            engine: self.engine,
            thresholds: self.thresholds.0,
            channel_ids: self.channel_ids.map(|c| c.0),
            resolve_after_secs: u32::try_from(self.resolve_after_secs).unwrap_or(0),
            created_at: self.created_at,
        })
    }
}

/// An alert with its class (`a` joined with `c`).
pub(crate) const ALERT_COLS: &str = "a.id, a.organization_id, a.rule_id, a.kind, a.status, \
     c.query_id, c.database_type, c.fingerprint, a.team_id, a.identity_id, a.severity, a.opened_at, \
     a.updated_at, a.last_true_at, a.resolved_at, a.acknowledged_by, a.evidence";

#[derive(sqlx::FromRow)]
pub(crate) struct AlertRow {
    id: i64,
    organization_id: i64,
    rule_id: i64,
    kind: String,
    status: String,
    query_id: String,
    database_type: String,
    fingerprint: String,
    team_id: i64,
    identity_id: i64,
    severity: String,
    opened_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_true_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    acknowledged_by: Option<i64>,
    evidence: Json<AlertEvidence>,
}

impl AlertRow {
    pub(crate) fn into_view(self) -> Result<AlertView> {
        Ok(AlertView {
            id: self.id,
            organization_id: self.organization_id,
            rule_id: self.rule_id,
            kind: AlertKind::parse(&self.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("alert kind {:?}", self.kind)))?,
            status: AlertStatus::parse(&self.status)
                .ok_or_else(|| StoreError::Corrupt(format!("alert status {:?}", self.status)))?,
            query_id: self.query_id,
            database_type: self.database_type,
            fingerprint: self.fingerprint,
            team_id: (self.team_id != 0).then_some(self.team_id),
            identity_id: (self.identity_id != 0).then_some(self.identity_id),
            severity: self.severity,
            opened_at: self.opened_at,
            updated_at: self.updated_at,
            last_true_at: self.last_true_at,
            resolved_at: self.resolved_at,
            acknowledged_by: self.acknowledged_by,
            evidence: self.evidence.0,
        })
    }
}
