//! [`ReportStore`] in SQL: subscriptions checked in the statement that writes them, and the weekly
//! claim (`last_week`) written in the transaction that queues the delivery.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dbpower_core::{OrgId, Scope};
use dbpower_types::{ReportChannel, WeeklyReportView};
use sqlx::AssertSqlSafe;

use super::DbStore;
use super::alerts::insert_delivery;
use crate::reports::{DueReport, ReportStore};
use crate::scope_sql::{self, Table};
use crate::{Reference, Result, StoreError, now, one};

const REPORT_COLS: &str =
    "r.team_id, r.organization_id, r.enabled, r.channel_id, r.last_week, r.updated_at";

#[derive(sqlx::FromRow)]
struct ReportRow {
    team_id: i64,
    organization_id: i64,
    enabled: bool,
    channel_id: i64,
    last_week: Option<String>,
    updated_at: DateTime<Utc>,
}

impl From<ReportRow> for WeeklyReportView {
    fn from(r: ReportRow) -> Self {
        WeeklyReportView {
            team_id: r.team_id,
            organization_id: r.organization_id,
            enabled: r.enabled,
            channel_id: Some(r.channel_id),
            last_week: r.last_week,
            updated_at: Some(r.updated_at),
        }
    }
}

#[async_trait]
impl ReportStore for DbStore {
    async fn set_weekly_report(
        &self,
        org: OrgId,
        team_id: i64,
        channel_id: i64,
        user_id: i64,
    ) -> Result<WeeklyReportView> {
        let _guard = self.write_guard().await;
        // The team and the channel are the organization's, the channel an enabled e-mail channel the
        // team may use: all checked by the inserting statement itself.
        let row: Option<ReportRow> = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO team_reports (team_id, organization_id, channel_id, created_by, \
             created_at, updated_at) SELECT $1, $2, $3, $4, $5, $5 WHERE EXISTS (SELECT 1 FROM teams \
             WHERE id = $1 AND organization_id = $2) AND EXISTS (SELECT 1 FROM alert_channels WHERE \
             id = $3 AND organization_id = $2 AND kind = 'email' AND enabled AND (team_id IS NULL \
             OR team_id = $1)) ON CONFLICT (team_id) DO UPDATE SET channel_id = excluded.channel_id, \
             enabled = TRUE, updated_at = excluded.updated_at RETURNING {}",
            REPORT_COLS.replace("r.", "")
        )))
        .bind(team_id)
        .bind(org.get())
        .bind(channel_id)
        .bind(user_id)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        row.map(Into::into)
            .ok_or(StoreError::InvalidReference(Reference::ReportChannel))
    }

    async fn report_channels(&self, org: OrgId, team_id: i64) -> Result<Vec<ReportChannel>> {
        let rows: Vec<(i64, String, Option<i64>)> = sqlx::query_as(
            "SELECT id, name, team_id FROM alert_channels WHERE organization_id = $1 AND \
             kind = 'email' AND enabled AND (team_id IS NULL OR team_id = $2) ORDER BY name, id \
             LIMIT 100",
        )
        .bind(org.get())
        .bind(team_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, team_id)| ReportChannel { id, name, team_id })
            .collect())
    }

    async fn weekly_report(&self, scope: &Scope, team_id: i64) -> Result<WeeklyReportView> {
        let row: Option<ReportRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {REPORT_COLS} FROM team_reports r JOIN teams t ON t.id = r.team_id WHERE \
             r.team_id = $1 AND {}",
            scope_sql::predicate_on(scope, Table::Teams, "t.")
        )))
        .bind(team_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(one(row)?.into())
    }

    async fn delete_weekly_report(&self, scope: &Scope, team_id: i64) -> Result<()> {
        let _guard = self.write_guard().await;
        // Turned off, not forgotten: the week last reported stays, so opting in again does not send
        // that week a second time.
        let done = sqlx::query(AssertSqlSafe(format!(
            "UPDATE team_reports SET enabled = FALSE, updated_at = $2 WHERE team_id = $1 AND enabled \
             AND team_id IN (SELECT t.id FROM teams t WHERE {})",
            scope_sql::predicate_on(scope, Table::Teams, "t.")
        )))
        .bind(team_id)
        .bind(now())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn due_weekly_reports(&self, week: &str, limit: i64) -> Result<Vec<DueReport>> {
        let rows: Vec<(i64, i64, String, i64)> = sqlx::query_as(
            "SELECT r.organization_id, r.team_id, t.name, r.channel_id FROM team_reports r \
             JOIN teams t ON t.id = r.team_id JOIN alert_channels ch ON ch.id = r.channel_id \
             WHERE r.enabled AND ch.enabled AND (r.last_week IS NULL OR r.last_week < $1) \
             ORDER BY r.team_id LIMIT $2",
        )
        .bind(week)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(organization_id, team_id, team_name, channel_id)| DueReport {
                    organization_id,
                    team_id,
                    team_name,
                    channel_id,
                },
            )
            .collect())
    }

    async fn queue_weekly_report(
        &self,
        due: &DueReport,
        week: &str,
        message: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let claimed = sqlx::query(
            "UPDATE team_reports SET last_week = $1 WHERE team_id = $2 AND channel_id = $3 AND \
             enabled AND (last_week IS NULL OR last_week < $1)",
        )
        .bind(week)
        .bind(due.team_id)
        .bind(due.channel_id)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            return Ok(false);
        }
        insert_delivery(
            &mut tx,
            due.organization_id,
            due.channel_id,
            None,
            "report",
            message,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
