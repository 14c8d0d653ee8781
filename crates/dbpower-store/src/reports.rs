//! Weekly reports ([`ReportStore`]): which teams opted in and on which e-mail channel, and the claim
//! that queues one week's report exactly once, whichever backend process gets there first.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dbpower_core::{OrgId, Scope};
use dbpower_types::{ReportChannel, WeeklyReportView};

use crate::Result;

/// Weekly report subscriptions and their delivery (a supertrait of [`crate::Store`]).
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Opts the team `team_id` of `org` in (or moves it to another channel): the channel must be an
    /// enabled e-mail channel of `org`, organization-wide or the team's own
    /// (`InvalidReference(ReportChannel)` otherwise), checked in the writing statement.
    async fn set_weekly_report(
        &self,
        org: OrgId,
        team_id: i64,
        channel_id: i64,
        user_id: i64,
    ) -> Result<WeeklyReportView>;
    /// The enabled e-mail channels of `org` the team may use: organization-wide or its own (at most 100).
    async fn report_channels(&self, org: OrgId, team_id: i64) -> Result<Vec<ReportChannel>>;
    /// The team's subscription, on or turned off, if the scope sees the team and it ever opted in.
    async fn weekly_report(&self, scope: &Scope, team_id: i64) -> Result<WeeklyReportView>;
    /// Turns the team's report off (the week last reported is kept: turning it on again does not
    /// send that week twice).
    async fn delete_weekly_report(&self, scope: &Scope, team_id: i64) -> Result<()>;
    /// Subscriptions whose report for the week starting `week` (`YYYY-MM-DD`) is not queued yet, at
    /// most `limit`.
    async fn due_weekly_reports(&self, week: &str, limit: i64) -> Result<Vec<DueReport>>;
    /// Marks the week reported and queues its delivery in one transaction; `Ok(false)` when another
    /// process did already (or the team opted out or moved channel meanwhile).
    async fn queue_weekly_report(
        &self,
        due: &DueReport,
        week: &str,
        message: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<bool>;
}

/// A team whose weekly report is due.
#[derive(Debug, Clone, PartialEq)]
pub struct DueReport {
    pub organization_id: i64,
    pub team_id: i64,
    pub team_name: String,
    pub channel_id: i64,
}
