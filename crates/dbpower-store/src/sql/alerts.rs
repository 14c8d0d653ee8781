//! Rules, channels, alerts and the delivery outbox ([`AlertStore`]). An alert and its deliveries are
//! written in one transaction; deliverers lease outbox rows (SKIP LOCKED on PostgreSQL) and record each
//! attempt fenced by the lease token.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dbpower_core::{OrgId, Scope};
use dbpower_types::{AlertKind, AlertStatus, AlertView, EventView, MuteView, RuleView};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, QueryBuilder};

use super::{Conn, DIALECT, Db, DbStore};
use crate::alerts::{
    ALERT_COLS, AlertFilter, AlertRow, CHANNEL_COLS, ChannelPatch, ChannelRecord, ChannelRow,
    ClaimedDelivery, DeliveryOutcome, EVENT_COLS, EvalData, EvalOutcome, EvalWindow, EventFilter,
    EventRow, Firing, MAX_COMPARE_CLASSES, NewChannel, NewEvent, NewRule, PlanSide, PlanSwitch,
    RULE_COLS, RowSums, RulePatch, RuleRow, SeriesRow, SideSums, WindowClass,
};
use crate::error::write_error;
use crate::queue::rand_u64;
use crate::scope_sql::{self, Table};
use crate::{AlertStore, Entity, PageRequest, Reference, Result, StoreError, now, one};

/// A fresh delivery id: stable across the delivery's attempts (a receiver drops duplicates by it).
fn delivery_id() -> String {
    format!("msg_{:016x}{:016x}", rand_u64(), rand_u64())
}

/// Rows of classes active in the window (`$2`) of organization `$1`, or whose analysis became
/// CRITICAL since the baseline began (`$3`).
const ACTIVE_CLASSES: &str = "(SELECT class_id FROM query_rollups WHERE organization_id = $1 AND \
     hour >= $2 UNION SELECT class_id FROM analysis_results WHERE organization_id = $1 AND \
     critical_since >= $3)";

#[derive(sqlx::FromRow)]
struct SumRow {
    class_id: i64,
    team_id: i64,
    identity_id: i64,
    w_calls: i64,
    w_total: f64,
    w_busiest: i64,
    b_calls: i64,
    b_total: f64,
    b_busiest: i64,
    b_hours: i64,
}

#[derive(sqlx::FromRow)]
struct ClassInfo {
    id: i64,
    query_id: String,
    database_type: String,
    first_seen: DateTime<Utc>,
    severity: Option<String>,
    critical_since: Option<DateTime<Utc>>,
}

/// The newest alert of a key: id, status, who resolved it, when its condition last held, and its
/// rule's `resolve_after_secs`.
type NewestAlert = (i64, String, Option<i64>, DateTime<Utc>, i32);

/// Class, team, identity, and whether the side is the window.
type SideKey = (i64, i64, i64, bool);

fn u(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl DbStore {
    /// Per class and sending scope: both sides' sums.
    async fn series_sums(&self, org: OrgId, w: &EvalWindow) -> Result<Vec<SumRow>> {
        let sql = format!(
            "SELECT class_id, team_id, identity_id, \
             CAST(COALESCE(SUM(CASE WHEN hour >= $2 THEN count ELSE 0 END), 0) AS BIGINT) AS w_calls, \
             CAST(COALESCE(SUM(CASE WHEN hour >= $2 THEN total_time_ms ELSE 0 END), 0) AS DOUBLE PRECISION) AS w_total, \
             CAST(COALESCE(MAX(CASE WHEN hour >= $2 THEN count ELSE 0 END), 0) AS BIGINT) AS w_busiest, \
             CAST(COALESCE(SUM(CASE WHEN hour < $2 THEN count ELSE 0 END), 0) AS BIGINT) AS b_calls, \
             CAST(COALESCE(SUM(CASE WHEN hour < $2 THEN total_time_ms ELSE 0 END), 0) AS DOUBLE PRECISION) AS b_total, \
             CAST(COALESCE(MAX(CASE WHEN hour < $2 THEN count ELSE 0 END), 0) AS BIGINT) AS b_busiest, \
             CAST(COUNT(DISTINCT CASE WHEN hour < $2 THEN hour END) AS BIGINT) AS b_hours \
             FROM query_rollups WHERE organization_id = $1 AND hour >= $3 AND class_id IN \
             {ACTIVE_CLASSES} GROUP BY class_id, team_id, identity_id \
             ORDER BY class_id, team_id, identity_id"
        );
        Ok(sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.get())
            .bind(w.window_start)
            .bind(w.baseline_start)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Per class, sending scope and side: the histogram buckets.
    async fn series_buckets(
        &self,
        org: OrgId,
        w: &EvalWindow,
    ) -> Result<Vec<(i64, i64, i64, i32, i32, i64)>> {
        let sql = format!(
            "SELECT class_id, team_id, identity_id, CASE WHEN hour >= $2 THEN 1 ELSE 0 END, \
             bucket, CAST(SUM(count) AS BIGINT) FROM rollup_buckets WHERE organization_id = $1 \
             AND hour >= $3 AND class_id IN {ACTIVE_CLASSES} GROUP BY 1, 2, 3, 4, 5"
        );
        Ok(sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.get())
            .bind(w.window_start)
            .bind(w.baseline_start)
            .fetch_all(&self.pool)
            .await?)
    }

    /// The classes of the series and the databases each was seen in.
    async fn series_classes(
        &self,
        org: OrgId,
        w: &EvalWindow,
    ) -> Result<(Vec<ClassInfo>, HashMap<i64, Vec<String>>)> {
        let sql = format!(
            "SELECT c.id, c.query_id, c.database_type, c.first_seen, c.severity, a.critical_since \
             FROM query_classes c LEFT JOIN analysis_results a ON a.class_id = c.id \
             WHERE c.organization_id = $1 AND c.id IN {ACTIVE_CLASSES}"
        );
        let classes: Vec<ClassInfo> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.get())
            .bind(w.window_start)
            .bind(w.baseline_start)
            .fetch_all(&self.pool)
            .await?;
        let sql = format!(
            "SELECT class_id, name FROM class_databases WHERE class_id IN {ACTIVE_CLASSES}"
        );
        let rows: Vec<(i64, String)> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.get())
            .bind(w.window_start)
            .bind(w.baseline_start)
            .fetch_all(&self.pool)
            .await?;
        let mut dbs: HashMap<i64, Vec<String>> = HashMap::new();
        for (c, n) in rows {
            dbs.entry(c).or_default().push(n);
        }
        Ok((classes, dbs))
    }

    /// The channels an alert of `rule` raised by `team_id` goes to.
    async fn targets(
        &self,
        conn: &mut Conn,
        org: i64,
        rule_id: i64,
        team_id: i64,
    ) -> Result<Vec<i64>> {
        let listed: Option<Option<Json<Vec<i64>>>> =
            sqlx::query_scalar("SELECT channel_ids FROM alert_rules WHERE id = $1")
                .bind(rule_id)
                .fetch_optional(&mut *conn)
                .await?;
        let listed = listed.flatten().map(|j| j.0);
        let channels: Vec<(i64, Option<i64>)> = sqlx::query_as(
            "SELECT id, team_id FROM alert_channels WHERE organization_id = $1 AND enabled \
             ORDER BY id",
        )
        .bind(org)
        .fetch_all(&mut *conn)
        .await?;
        Ok(channels
            .into_iter()
            .filter(|(id, team)| {
                listed.as_ref().is_none_or(|l| l.contains(id)) && team.is_none_or(|t| t == team_id)
            })
            .map(|(id, _)| id)
            .collect())
    }

    /// Queues one delivery of `alert` (`event`: trigger or resolve) per target channel.
    async fn queue_deliveries(
        &self,
        conn: &mut Conn,
        alert: &AlertView,
        team_id: i64,
        event: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let targets = if event == "resolve" {
            // A resolve goes where the trigger went, whatever the rule says now.
            sqlx::query_scalar(
                "SELECT DISTINCT d.channel_id FROM alert_deliveries d JOIN alert_channels ch ON \
                 ch.id = d.channel_id WHERE d.alert_id = $1 AND d.event = 'trigger' AND ch.enabled \
                 ORDER BY 1",
            )
            .bind(alert.id)
            .fetch_all(&mut *conn)
            .await?
        } else {
            self.targets(conn, alert.organization_id, alert.rule_id, team_id)
                .await?
        };
        let message = serde_json::json!({"event": event, "alert": alert});
        for channel in targets {
            insert_delivery(
                conn,
                alert.organization_id,
                channel,
                Some(alert.id),
                event,
                &message,
                now,
            )
            .await?;
        }
        Ok(())
    }

    async fn alert_in(&self, conn: &mut Conn, id: i64) -> Result<AlertView> {
        let sql = format!(
            "SELECT {ALERT_COLS} FROM alerts a JOIN query_classes c ON c.id = a.class_id \
             WHERE a.id = $1"
        );
        let row: AlertRow = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
        row.into_view()
    }

    /// One firing: updates the unresolved alert of its key, or continues a user-resolved episode
    /// silently, or opens an alert with its deliveries. Returns the alert opened.
    async fn fire(
        &self,
        conn: &mut Conn,
        org: OrgId,
        f: &Firing,
        now: DateTime<Utc>,
    ) -> Result<Option<AlertView>> {
        let newest: Option<NewestAlert> = sqlx::query_as(
            "SELECT a.id, a.status, a.resolved_by, a.last_true_at, r.resolve_after_secs FROM \
             alerts a JOIN alert_rules r ON r.id = a.rule_id WHERE a.rule_id = $1 AND \
             a.class_id = $2 AND a.team_id = $3 AND a.identity_id = $4 ORDER BY a.id DESC LIMIT 1",
        )
        .bind(f.rule_id)
        .bind(f.class_id)
        .bind(f.team_id)
        .bind(f.identity_id)
        .fetch_optional(&mut *conn)
        .await?;
        let evidence = Json(&f.evidence);
        if let Some((id, status, resolved_by, last_true, resolve_after)) = newest {
            let user_quieted = status == "resolved"
                && resolved_by.is_some()
                && last_true + chrono::Duration::seconds(i64::from(resolve_after)) >= now;
            if status != "resolved" || user_quieted {
                sqlx::query(
                    "UPDATE alerts SET evidence = CASE WHEN status = 'resolved' THEN evidence \
                     ELSE $2 END, \
                     updated_at = CASE WHEN status <> 'resolved' AND severity <> $3 THEN $4 \
                     ELSE updated_at END, \
                     severity = CASE WHEN status = 'resolved' THEN severity ELSE $3 END, \
                     last_true_at = $4 WHERE id = $1",
                )
                .bind(id)
                .bind(evidence)
                .bind(&f.severity)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                return Ok(None);
            }
        }
        if !f.may_open {
            return Ok(None);
        }
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO alerts (organization_id, rule_id, class_id, team_id, identity_id, kind, \
             status, severity, opened_at, updated_at, last_true_at, evidence) \
             SELECT $1, $2, $3, $4, $5, $6, 'open', $7, $8, $8, $8, $9 \
             WHERE EXISTS (SELECT 1 FROM query_classes WHERE id = $3 AND organization_id = $1) \
             ON CONFLICT (rule_id, class_id, team_id, identity_id) \
             WHERE status IN ('open', 'acknowledged') DO NOTHING RETURNING id",
        )
        .bind(org.get())
        .bind(f.rule_id)
        .bind(f.class_id)
        .bind(f.team_id)
        .bind(f.identity_id)
        .bind(f.kind.as_str())
        .bind(&f.severity)
        .bind(now)
        .bind(evidence)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(id) = id else { return Ok(None) };
        let alert = self.alert_in(conn, id).await?;
        self.queue_deliveries(conn, &alert, f.team_id, "trigger", now)
            .await?;
        Ok(Some(alert))
    }

    /// Resolves the organization's unresolved alerts whose condition has been clear for their rule's
    /// `resolve_after_secs`, with their resolve deliveries.
    async fn auto_resolve(
        &self,
        conn: &mut Conn,
        org: OrgId,
        now: DateTime<Utc>,
    ) -> Result<Vec<AlertView>> {
        let open: Vec<(i64, i64, DateTime<Utc>, i32)> = sqlx::query_as(
            "SELECT a.id, a.team_id, a.last_true_at, r.resolve_after_secs FROM alerts a JOIN \
             alert_rules r ON r.id = a.rule_id WHERE a.organization_id = $1 AND \
             a.status IN ('open', 'acknowledged') ORDER BY a.id",
        )
        .bind(org.get())
        .fetch_all(&mut *conn)
        .await?;
        let mut resolved = Vec::new();
        for (id, team, last_true, after) in open {
            if last_true + chrono::Duration::seconds(i64::from(after)) >= now {
                continue;
            }
            let done = sqlx::query(
                "UPDATE alerts SET status = 'resolved', resolved_at = $2, updated_at = $2 \
                 WHERE id = $1 AND status IN ('open', 'acknowledged') AND last_true_at = $3",
            )
            .bind(id)
            .bind(now)
            .bind(last_true)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if done == 1 {
                let alert = self.alert_in(conn, id).await?;
                self.queue_deliveries(conn, &alert, team, "resolve", now)
                    .await?;
                resolved.push(alert);
            }
        }
        Ok(resolved)
    }
}

impl DbStore {
    /// Classes of `org` whose current plan shape (the most recently seen) first appeared in the window,
    /// after another shape: one row per class, with the shape seen most recently before it.
    async fn plan_switches(&self, org: OrgId, w: &EvalWindow) -> Result<HashMap<i64, PlanSwitch>> {
        type Row = (
            i64,
            String,
            String,
            i64,
            f64,
            DateTime<Utc>,
            String,
            String,
            i64,
            f64,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT class_id, to_shape, to_summary, to_executions, to_total, at, from_shape, \
             from_summary, from_executions, from_total FROM (SELECT n.class_id, n.shape AS to_shape, \
             n.summary AS to_summary, n.executions AS to_executions, n.total_time_ms AS to_total, \
             n.first_seen AS at, o.shape AS from_shape, o.summary AS from_summary, \
             o.executions AS from_executions, o.total_time_ms AS from_total, ROW_NUMBER() OVER \
             (PARTITION BY n.class_id ORDER BY n.last_seen DESC, o.last_seen DESC, n.shape, o.shape) \
             AS rn FROM class_plans n JOIN class_plans o ON o.class_id = n.class_id AND \
             o.shape <> n.shape WHERE n.organization_id = $1 AND n.last_seen >= $2 AND \
             n.first_seen >= $2 AND o.first_seen < n.first_seen AND o.last_seen <= n.last_seen) \
             pairs WHERE rn = 1",
        )
        .bind(org.get())
        .bind(w.window_start)
        .fetch_all(&self.pool)
        .await?;
        let side = |shape, summary, executions, total_time_ms| PlanSide {
            shape,
            summary,
            executions,
            total_time_ms,
        };
        Ok(rows
            .into_iter()
            .map(|(class, ts, tsum, te, tt, at, fs, fsum, fe, ft)| {
                let to = side(ts, tsum, te, tt);
                (
                    class,
                    PlanSwitch {
                        from: side(fs, fsum, fe, ft),
                        to,
                        at,
                    },
                )
            })
            .collect())
    }
}

pub(super) async fn insert_delivery(
    conn: &mut Conn,
    org: i64,
    channel: i64,
    alert: Option<i64>,
    event: &str,
    message: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<String> {
    let id = delivery_id();
    sqlx::query(
        "INSERT INTO alert_deliveries (organization_id, channel_id, alert_id, delivery_id, event, \
         message, status, attempts, next_attempt_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $7)",
    )
    .bind(org)
    .bind(channel)
    .bind(alert)
    .bind(&id)
    .bind(event)
    .bind(Json(message))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// The rows of `sums` and `buckets` as series, with their classes.
fn assemble(
    sums: Vec<SumRow>,
    buckets: Vec<(i64, i64, i64, i32, i32, i64)>,
    classes: Vec<ClassInfo>,
    dbs: HashMap<i64, Vec<String>>,
) -> Vec<SeriesRow> {
    let classes: HashMap<i64, ClassInfo> = classes.into_iter().map(|c| (c.id, c)).collect();
    let mut hist: BTreeMap<SideKey, Vec<(u16, u64)>> = BTreeMap::new();
    for (c, t, i, in_window, b, n) in buckets {
        hist.entry((c, t, i, in_window == 1))
            .or_default()
            .push((u16::try_from(b).unwrap_or(0), u(n)));
    }
    sums.into_iter()
        .filter_map(|s| {
            let class = classes.get(&s.class_id)?;
            let key = (s.class_id, s.team_id, s.identity_id);
            Some(SeriesRow {
                class_id: s.class_id,
                team_id: s.team_id,
                identity_id: s.identity_id,
                query_id: class.query_id.clone(),
                database_type: class.database_type.clone(),
                databases: dbs.get(&s.class_id).cloned().unwrap_or_default(),
                first_seen: class.first_seen,
                severity: class.severity.clone(),
                critical_since: class.critical_since,
                window: SideSums {
                    calls: u(s.w_calls),
                    total_ms: s.w_total,
                    busiest_hour: u(s.w_busiest),
                    hours: 0,
                    buckets: hist
                        .remove(&(key.0, key.1, key.2, true))
                        .unwrap_or_default(),
                },
                baseline: SideSums {
                    calls: u(s.b_calls),
                    total_ms: s.b_total,
                    busiest_hour: u(s.b_busiest),
                    hours: u32::try_from(s.b_hours).unwrap_or(u32::MAX),
                    buckets: hist
                        .remove(&(key.0, key.1, key.2, false))
                        .unwrap_or_default(),
                },
            })
        })
        .collect()
}

#[async_trait]
impl AlertStore for DbStore {
    async fn insert_channel(&self, org: OrgId, new: &NewChannel) -> Result<ChannelRecord> {
        let _guard = self.write_guard().await;
        let now = now();
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO alert_channels (organization_id, team_id, name, kind, enabled, config, \
             secret_ciphertext, created_at, updated_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $8 \
             WHERE $2 IS NULL OR EXISTS (SELECT 1 FROM teams WHERE id = $2 AND organization_id = $1) \
             RETURNING id",
        )
        .bind(org.get())
        .bind(new.team_id)
        .bind(&new.name)
        .bind(new.kind.as_str())
        .bind(new.enabled)
        .bind(Json(&new.public))
        .bind(&new.secret_ciphertext)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| write_error(e, Entity::Channel))?;
        let id = id.ok_or(StoreError::InvalidReference(Reference::TeamId))?;
        self.channel_by_id(&Scope::org(org), id).await
    }

    async fn list_channels(
        &self,
        scope: &Scope,
        page: PageRequest,
    ) -> Result<(Vec<ChannelRecord>, i64)> {
        let pred = scope_sql::predicate_on(scope, Table::AlertSettings, "ch.");
        let total: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM alert_channels ch WHERE {pred}"
        )))
        .fetch_one(&self.pool)
        .await?;
        let rows: Vec<ChannelRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CHANNEL_COLS} FROM alert_channels ch WHERE {pred} ORDER BY ch.id \
             LIMIT $1 OFFSET $2"
        )))
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .into_iter()
            .map(ChannelRow::into_record)
            .collect::<Result<_>>()?;
        Ok((items, total))
    }

    async fn channel_by_id(&self, scope: &Scope, id: i64) -> Result<ChannelRecord> {
        let pred = scope_sql::predicate_on(scope, Table::AlertSettings, "ch.");
        let row: Option<ChannelRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CHANNEL_COLS} FROM alert_channels ch WHERE ch.id = $1 AND {pred}"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        one(row)?.into_record()
    }

    async fn update_channel(
        &self,
        scope: &Scope,
        id: i64,
        patch: &ChannelPatch,
    ) -> Result<ChannelRecord> {
        let _guard = self.write_guard().await;
        let pred = scope_sql::predicate(scope, Table::AlertSettings);
        let (public, secret) = match &patch.config {
            Some((p, s)) => (Some(Json(p)), s.clone()),
            None => (None, None),
        };
        let done = sqlx::query(AssertSqlSafe(format!(
            "UPDATE alert_channels SET name = COALESCE($2, name), enabled = COALESCE($3, enabled), \
             config = COALESCE($4, config), secret_ciphertext = COALESCE($5, secret_ciphertext), \
             updated_at = $6 WHERE id = $1 AND {pred}"
        )))
        .bind(id)
        .bind(&patch.name)
        .bind(patch.enabled)
        .bind(public)
        .bind(secret)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(|e| write_error(e, Entity::Channel))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        drop(_guard);
        self.channel_by_id(scope, id).await
    }

    async fn delete_channel(&self, scope: &Scope, id: i64) -> Result<()> {
        let _guard = self.write_guard().await;
        let pred = scope_sql::predicate(scope, Table::AlertSettings);
        let done = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM alert_channels WHERE id = $1 AND {pred}"
        )))
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn queue_test_delivery(
        &self,
        scope: &Scope,
        id: i64,
        message: &serde_json::Value,
    ) -> Result<String> {
        let channel = self.channel_by_id(scope, id).await?;
        let _guard = self.write_guard().await;
        let mut conn = self.pool.acquire().await?;
        let pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM alert_deliveries WHERE channel_id = $1 AND event = 'test' AND \
             status IN ('pending', 'sending')",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
        if pending > 0 {
            return Err(StoreError::Conflict(Entity::TestPending));
        }
        insert_delivery(
            &mut conn,
            channel.view.organization_id,
            id,
            None,
            "test",
            message,
            now(),
        )
        .await
        .map_err(|e| match e {
            StoreError::Database(_) => StoreError::NotFound,
            other => other,
        })
    }

    async fn insert_rule(&self, org: OrgId, new: &NewRule) -> Result<RuleView> {
        let _guard = self.write_guard().await;
        let now = now();
        let sql = format!(
            "INSERT INTO alert_rules (organization_id, name, kind, enabled, team_id, identity_id, \
             database_name, engine, thresholds, channel_ids, resolve_after_secs, created_at, \
             updated_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12 WHERE \
             ($5 IS NULL OR EXISTS (SELECT 1 FROM teams WHERE id = $5 AND organization_id = $1)) \
             AND ($6 IS NULL OR EXISTS (SELECT 1 FROM identities WHERE id = $6 AND \
             organization_id = $1)) AND {} RETURNING {RULE_COLS}",
            channels_of_org("$10", "$1")
        );
        let row: Option<RuleRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.get())
            .bind(&new.name)
            .bind(new.kind.as_str())
            .bind(new.enabled)
            .bind(new.team_id)
            .bind(new.identity_id)
            .bind(&new.database_name)
            .bind(&new.engine)
            .bind(Json(&new.thresholds))
            .bind(new.channel_ids.as_ref().map(Json))
            .bind(i32::try_from(new.resolve_after_secs).unwrap_or(i32::MAX))
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| write_error(e, Entity::Rule))?;
        row.ok_or(StoreError::InvalidReference(Reference::RuleTarget))?
            .into_view()
    }

    async fn list_rules(&self, scope: &Scope, page: PageRequest) -> Result<(Vec<RuleView>, i64)> {
        let pred = scope_sql::predicate(scope, Table::AlertSettings);
        let total: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM alert_rules WHERE {pred}"
        )))
        .fetch_one(&self.pool)
        .await?;
        let rows: Vec<RuleRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {RULE_COLS} FROM alert_rules WHERE {pred} ORDER BY id LIMIT $1 OFFSET $2"
        )))
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .into_iter()
            .map(RuleRow::into_view)
            .collect::<Result<_>>()?;
        Ok((items, total))
    }

    async fn rule_by_id(&self, scope: &Scope, id: i64) -> Result<RuleView> {
        let pred = scope_sql::predicate(scope, Table::AlertSettings);
        let row: Option<RuleRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {RULE_COLS} FROM alert_rules WHERE id = $1 AND {pred}"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        one(row)?.into_view()
    }

    async fn update_rule(&self, scope: &Scope, id: i64, patch: &RulePatch) -> Result<RuleView> {
        let _guard = self.write_guard().await;
        let pred = scope_sql::predicate(scope, Table::AlertSettings);
        let (set_channels, channels) = match &patch.channel_ids {
            Some(c) => (true, c.as_ref().map(Json)),
            None => (false, None),
        };
        let sql = format!(
            "UPDATE alert_rules SET name = COALESCE($2, name), enabled = COALESCE($3, enabled), \
             thresholds = COALESCE($4, thresholds), channel_ids = CASE WHEN $5 THEN $6 ELSE \
             channel_ids END, resolve_after_secs = COALESCE($7, resolve_after_secs), \
             updated_at = $8 WHERE id = $1 AND {pred} AND {} RETURNING {RULE_COLS}",
            channels_of_org("$6", "alert_rules.organization_id")
        );
        let row: Option<RuleRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id)
            .bind(&patch.name)
            .bind(patch.enabled)
            .bind(patch.thresholds.as_ref().map(Json))
            .bind(set_channels)
            .bind(channels)
            .bind(
                patch
                    .resolve_after_secs
                    .map(|s| i32::try_from(s).unwrap_or(i32::MAX)),
            )
            .bind(now())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| write_error(e, Entity::Rule))?;
        match row {
            Some(r) => r.into_view(),
            None => {
                drop(_guard);
                // Either not the caller's rule, or a channel of another organization.
                self.rule_by_id(scope, id).await?;
                Err(StoreError::InvalidReference(Reference::RuleTarget))
            }
        }
    }

    async fn delete_rule(&self, scope: &Scope, id: i64) -> Result<()> {
        let _guard = self.write_guard().await;
        let pred = scope_sql::predicate(scope, Table::AlertSettings);
        let done = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM alert_rules WHERE id = $1 AND {pred} AND NOT EXISTS (SELECT 1 FROM alerts \
             WHERE rule_id = $1 AND status IN ('open', 'acknowledged'))"
        )))
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            drop(_guard);
            self.rule_by_id(scope, id).await?;
            // Its unresolved alerts would vanish without their resolve messages.
            return Err(StoreError::Conflict(Entity::RuleWithOpenAlerts));
        }
        Ok(())
    }

    async fn alert_org_ids(&self) -> Result<Vec<OrgId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT organization_id FROM alert_rules WHERE enabled UNION SELECT organization_id \
             FROM alerts WHERE status IN ('open', 'acknowledged') ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(OrgId::from_credential).collect())
    }

    async fn alert_data(&self, org: OrgId, w: &EvalWindow) -> Result<EvalData> {
        let rules: Vec<RuleRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {RULE_COLS} FROM alert_rules WHERE organization_id = $1 AND enabled ORDER BY id"
        )))
        .bind(org.get())
        .fetch_all(&self.pool)
        .await?;
        let rules: Vec<RuleView> = rules
            .into_iter()
            .map(RuleRow::into_view)
            .collect::<Result<_>>()?;
        let sums = self.series_sums(org, w).await?;
        let buckets = self.series_buckets(org, w).await?;
        let (classes, dbs) = self.series_classes(org, w).await?;
        let org_window_ms: f64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(total_time_ms), 0) AS DOUBLE PRECISION) FROM query_rollups \
             WHERE organization_id = $1 AND hour >= $2",
        )
        .bind(org.get())
        .bind(w.window_start)
        .fetch_one(&self.pool)
        .await?;
        let muted: Vec<i64> = sqlx::query_scalar(
            "SELECT class_id FROM class_mutes WHERE organization_id = $1 AND until > $2",
        )
        .bind(org.get())
        .bind(w.now)
        .fetch_all(&self.pool)
        .await?;
        let marker: Option<EventRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {EVENT_COLS} FROM change_events WHERE organization_id = $1 AND at <= $2 AND \
             at >= $3 ORDER BY at DESC, id DESC LIMIT 1"
        )))
        .bind(org.get())
        .bind(w.now)
        .bind(w.baseline_start)
        .fetch_optional(&self.pool)
        .await?;
        // Plans are read only for an organization with a plan-change rule on.
        let plan_switches = if rules.iter().any(|r| r.kind == AlertKind::PlanChanged) {
            self.plan_switches(org, w).await?
        } else {
            HashMap::new()
        };
        Ok(EvalData {
            rules,
            series: assemble(sums, buckets, classes, dbs),
            org_window_ms,
            muted: muted.into_iter().collect(),
            marker: marker.map(EventRow::into_view).transpose()?,
            plan_switches,
        })
    }

    async fn record_firings(
        &self,
        org: OrgId,
        now: DateTime<Utc>,
        firings: &[Firing],
    ) -> Result<EvalOutcome> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let mut out = EvalOutcome::default();
        for f in firings {
            match self.fire(&mut tx, org, f, now).await? {
                Some(a) => out.opened.push(a),
                None => out.updated += 1,
            }
        }
        out.resolved = self.auto_resolve(&mut tx, org, now).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn list_alerts(
        &self,
        scope: &Scope,
        filter: &AlertFilter,
        page: PageRequest,
    ) -> Result<(Vec<AlertView>, i64)> {
        let from = |select: &str| {
            let mut qb = QueryBuilder::<Db>::new(format!(
                "SELECT {select} FROM alerts a JOIN query_classes c ON c.id = a.class_id WHERE {}",
                scope_sql::predicate_on(scope, Table::Owned, "a.")
            ));
            if let Some(s) = filter.status {
                qb.push(" AND a.status = ").push_bind(s.as_str());
            }
            if let Some(k) = filter.kind {
                qb.push(" AND a.kind = ").push_bind(k.as_str());
            }
            if let Some(q) = &filter.query_id {
                qb.push(" AND c.query_id = ").push_bind(q.clone());
            }
            if let Some((from, to)) = filter.resolved_between {
                qb.push(" AND a.resolved_at >= ").push_bind(from);
                qb.push(" AND a.resolved_at < ").push_bind(to);
            }
            qb
        };
        let total: i64 = from("COUNT(*)")
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await?;
        let mut qb = from(ALERT_COLS);
        qb.push(" ORDER BY a.id DESC LIMIT ")
            .push_bind(page.limit())
            .push(" OFFSET ")
            .push_bind(page.offset());
        let rows: Vec<AlertRow> = qb.build_query_as().fetch_all(&self.pool).await?;
        let items = rows
            .into_iter()
            .map(AlertRow::into_view)
            .collect::<Result<_>>()?;
        Ok((items, total))
    }

    async fn alert_by_id(&self, scope: &Scope, id: i64) -> Result<AlertView> {
        let sql = format!(
            "SELECT {ALERT_COLS} FROM alerts a JOIN query_classes c ON c.id = a.class_id \
             WHERE a.id = $1 AND {}",
            scope_sql::predicate_on(scope, Table::Owned, "a.")
        );
        let row: Option<AlertRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        one(row)?.into_view()
    }

    async fn set_alert_status(
        &self,
        scope: &Scope,
        id: i64,
        status: AlertStatus,
        user_id: i64,
    ) -> Result<AlertView> {
        let _guard = self.write_guard().await;
        let now = now();
        let mut tx = self.pool.begin().await?;
        let pred = scope_sql::predicate(scope, Table::Owned);
        let (set, from) = match status {
            AlertStatus::Acknowledged => ("acknowledged_by = $2", "('open')"),
            AlertStatus::Resolved => (
                "resolved_by = $2, resolved_at = $3",
                "('open', 'acknowledged')",
            ),
            AlertStatus::Open => return Err(StoreError::Conflict(Entity::AlertState)),
        };
        let team: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "UPDATE alerts SET status = $4, {set}, updated_at = $3 WHERE id = $1 AND {pred} AND \
             status IN {from} RETURNING team_id"
        )))
        .bind(id)
        .bind(user_id)
        .bind(now)
        .bind(status.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(team) = team else {
            drop(tx);
            drop(_guard);
            // Not the caller's alert (404), or not in a state that allows it (409).
            self.alert_by_id(scope, id).await?;
            return Err(StoreError::Conflict(Entity::AlertState));
        };
        let alert = self.alert_in(&mut tx, id).await?;
        if status == AlertStatus::Resolved {
            self.queue_deliveries(&mut tx, &alert, team, "resolve", now)
                .await?;
        }
        tx.commit().await?;
        Ok(alert)
    }

    async fn mute_class(
        &self,
        scope: &Scope,
        query_id: &str,
        until: DateTime<Utc>,
        user_id: i64,
    ) -> Result<MuteView> {
        let _guard = self.write_guard().await;
        let org = scope_sql::predicate_on(scope, Table::Classes, "c.");
        let own = scope_sql::class_is_own(scope, "c.id");
        let done = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO class_mutes (class_id, organization_id, until, created_by, created_at) \
             SELECT c.id, c.organization_id, $2, $3, $4 FROM query_classes c WHERE c.query_id = $1 \
             AND {org} AND {own} ON CONFLICT (class_id) DO UPDATE SET until = excluded.until, \
             created_by = excluded.created_by, created_at = excluded.created_at"
        )))
        .bind(query_id)
        .bind(until)
        .bind(user_id)
        .bind(now())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(MuteView {
            query_id: query_id.to_string(),
            until,
        })
    }

    async fn compare_window(
        &self,
        scope: &Scope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        database_type: Option<&str>,
    ) -> Result<Vec<WindowClass>> {
        let pred = scope_sql::predicate_on(scope, Table::Owned, "r.");
        #[derive(sqlx::FromRow)]
        struct Row {
            class_id: i64,
            query_id: String,
            database_type: String,
            fingerprint: String,
            calls: i64,
            total: f64,
            // Summed as floating point: rollup rows saturate at the integer ceiling, their sum could
            // not.
            rows_examined: f64,
            rows_known: f64,
            rows_sent: f64,
        }
        let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT c.id AS class_id, c.query_id, c.database_type, c.fingerprint, \
             CAST(SUM(r.count) AS BIGINT) AS calls, \
             CAST(SUM(r.total_time_ms) AS DOUBLE PRECISION) AS total, \
             SUM(CAST(r.rows_examined AS DOUBLE PRECISION)) AS rows_examined, \
             SUM(CAST(r.rows_known AS DOUBLE PRECISION)) AS rows_known, \
             SUM(CAST(r.rows_sent AS DOUBLE PRECISION)) AS rows_sent FROM query_rollups r \
             JOIN query_classes c ON c.id = r.class_id WHERE {pred} AND r.hour >= $1 AND \
             r.hour < $2 AND ($3 IS NULL OR c.database_type = $3) GROUP BY c.id, c.query_id, \
             c.database_type, c.fingerprint ORDER BY total DESC, c.id LIMIT $4"
        )))
        .bind(from)
        .bind(to)
        .bind(database_type)
        .bind(MAX_COMPARE_CLASSES)
        .fetch_all(self.read_pool())
        .await?;
        let bpred = scope_sql::predicate_on(scope, Table::Owned, "b.");
        let buckets: Vec<(i64, i32, i64)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT b.class_id, b.bucket, CAST(SUM(b.count) AS BIGINT) FROM rollup_buckets b \
             WHERE {bpred} AND b.hour >= $1 AND b.hour < $2 GROUP BY b.class_id, b.bucket"
        )))
        .bind(from)
        .bind(to)
        .fetch_all(self.read_pool())
        .await?;
        let mut hist: HashMap<i64, Vec<(u16, u64)>> = HashMap::new();
        for (c, b, n) in buckets {
            hist.entry(c)
                .or_default()
                .push((u16::try_from(b).unwrap_or(0), u(n)));
        }
        Ok(rows
            .into_iter()
            .map(|r| WindowClass {
                sums: SideSums {
                    calls: u(r.calls),
                    total_ms: r.total,
                    busiest_hour: 0,
                    hours: 0,
                    buckets: hist.remove(&r.class_id).unwrap_or_default(),
                },
                rows: RowSums {
                    examined: r.rows_examined,
                    known: r.rows_known,
                    sent: r.rows_sent,
                },
                class_id: r.class_id,
                query_id: r.query_id,
                database_type: r.database_type,
                fingerprint: r.fingerprint,
            })
            .collect())
    }

    async fn alert_changes(
        &self,
        scope: &Scope,
        after: (DateTime<Utc>, i64),
        limit: i64,
    ) -> Result<Vec<AlertView>> {
        let sql = format!(
            "SELECT {ALERT_COLS} FROM alerts a JOIN query_classes c ON c.id = a.class_id \
             WHERE {} AND (a.updated_at > $1 OR (a.updated_at = $1 AND a.id > $2)) \
             ORDER BY a.updated_at, a.id LIMIT $3",
            scope_sql::predicate_on(scope, Table::Owned, "a.")
        );
        let rows: Vec<AlertRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(after.0)
            .bind(after.1)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(AlertRow::into_view).collect()
    }

    async fn rows_in_hour(&self, scope: &Scope, hour: DateTime<Utc>) -> Result<i64> {
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(row_count), 0) AS BIGINT) FROM query_rollups WHERE {} \
             AND hour = $1",
            scope_sql::predicate(scope, Table::Owned)
        );
        Ok(sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(hour)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn insert_event(&self, org: OrgId, new: &NewEvent) -> Result<EventView> {
        let _guard = self.write_guard().await;
        // A super admin may name an organization that does not exist: not found, in this statement.
        let row: Option<EventRow> = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO change_events (organization_id, team_id, identity_id, kind, title, at, \
             labels, source, created_by, api_key_id, request_id, created_at) SELECT $1, $2, $3, \
             $4, $5, $6, $7, $8, $9, $10, $12, $11 WHERE EXISTS (SELECT 1 FROM organizations \
             WHERE id = $1) ON CONFLICT (api_key_id, request_id) DO UPDATE \
             SET title = change_events.title RETURNING {EVENT_COLS}"
        )))
        .bind(org.get())
        .bind(new.team_id)
        .bind(new.identity_id)
        .bind(new.kind.as_str())
        .bind(&new.title)
        .bind(new.at)
        .bind(Json(&new.labels))
        .bind(new.source)
        .bind(new.created_by)
        .bind(new.api_key_id)
        .bind(now())
        .bind(&new.request_id)
        .fetch_optional(&self.pool)
        .await?;
        one(row)?.into_view()
    }

    async fn event_by_id(&self, scope: &Scope, id: i64) -> Result<EventView> {
        let sql = format!(
            "SELECT {EVENT_COLS} FROM change_events WHERE id = $1 AND {}",
            scope_sql::predicate(scope, Table::Owned)
        );
        let row: Option<EventRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        one(row)?.into_view()
    }

    async fn list_events(
        &self,
        scope: &Scope,
        filter: &EventFilter,
        page: PageRequest,
    ) -> Result<(Vec<EventView>, i64)> {
        let from = |select: &str| {
            let mut qb = QueryBuilder::<Db>::new(format!(
                "SELECT {select} FROM change_events WHERE {}",
                scope_sql::predicate(scope, Table::Owned)
            ));
            if let Some(f) = filter.from {
                qb.push(" AND at >= ").push_bind(f);
            }
            if let Some(t) = filter.to {
                qb.push(" AND at < ").push_bind(t);
            }
            if let Some(k) = filter.kind {
                qb.push(" AND kind = ").push_bind(k.as_str());
            }
            qb
        };
        let total: i64 = from("COUNT(*)")
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await?;
        let mut qb = from(EVENT_COLS);
        qb.push(" ORDER BY at DESC, id DESC LIMIT ")
            .push_bind(page.limit())
            .push(" OFFSET ")
            .push_bind(page.offset());
        let rows: Vec<EventRow> = qb.build_query_as().fetch_all(&self.pool).await?;
        let items = rows
            .into_iter()
            .map(EventRow::into_view)
            .collect::<Result<_>>()?;
        Ok((items, total))
    }

    async fn claim_deliveries(
        &self,
        limit: i64,
        lease: std::time::Duration,
    ) -> Result<Vec<ClaimedDelivery>> {
        let now = now();
        let until =
            now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
        let token = format!("{:x}{:x}", now.timestamp_micros(), rand_u64());
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "UPDATE alert_deliveries SET status = 'sending', attempts = attempts + 1, \
             lease_token = $1, lease_until = $2, updated_at = $3 WHERE id IN (SELECT id FROM \
             alert_deliveries WHERE (status = 'pending' AND next_attempt_at <= $3) OR \
             (status = 'sending' AND lease_until < $3) ORDER BY id LIMIT $4{}) RETURNING id",
            DIALECT.skip_locked
        );
        let ids: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(&token)
            .bind(until)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match claimed(&mut tx, id).await {
                Ok(d) => out.push(d),
                // A row that cannot be read fails alone; the others are sent.
                Err(e) => {
                    sqlx::query(
                        "UPDATE alert_deliveries SET status = 'failed', last_error = $2, \
                         lease_token = NULL WHERE id = $1",
                    )
                    .bind(id)
                    .bind(format!("unreadable: {e}"))
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn finish_delivery(
        &self,
        d: &ClaimedDelivery,
        outcome: &DeliveryOutcome,
    ) -> Result<bool> {
        let _guard = self.write_guard().await;
        let now = now();
        let (status, error, next) = match outcome {
            DeliveryOutcome::Sent => ("sent", None, now),
            DeliveryOutcome::Retry { error, retry_at } => ("pending", Some(error), *retry_at),
            DeliveryOutcome::Failed { error } => ("failed", Some(error), now),
        };
        let done = sqlx::query(
            "UPDATE alert_deliveries SET status = $3, last_error = $4, next_attempt_at = $5, \
             lease_token = NULL, lease_until = NULL, updated_at = $6 \
             WHERE id = $1 AND lease_token = $2 AND status = 'sending'",
        )
        .bind(d.id)
        .bind(&d.lease_token)
        .bind(status)
        .bind(error)
        .bind(next)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }
}

/// The condition that the JSON list of channel ids `list` (a placeholder, null for "every channel")
/// names only channels of organization `org` (an SQL expression).
fn channels_of_org(list: &str, org: &str) -> String {
    let elements = DIALECT.json_int_elements(list);
    format!(
        "({list} IS NULL OR NOT EXISTS (SELECT 1 FROM {elements} WHERE NOT EXISTS \
         (SELECT 1 FROM alert_channels ch WHERE ch.id = j.v AND ch.organization_id = {org})))"
    )
}

/// A claimed delivery's row with its channel.
async fn claimed(conn: &mut Conn, id: i64) -> Result<ClaimedDelivery> {
    #[derive(sqlx::FromRow)]
    struct Row {
        delivery_id: String,
        organization_id: i64,
        alert_id: Option<i64>,
        event: String,
        message: Json<serde_json::Value>,
        attempts: i32,
        lease_token: Option<String>,
        channel_id: i64,
    }
    let r: Row = sqlx::query_as(
        "SELECT delivery_id, organization_id, alert_id, event, message, attempts, lease_token, \
         channel_id FROM alert_deliveries WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    let channel: ChannelRow = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {CHANNEL_COLS} FROM alert_channels ch WHERE ch.id = $1"
    )))
    .bind(r.channel_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(ClaimedDelivery {
        id,
        delivery_id: r.delivery_id,
        organization_id: r.organization_id,
        alert_id: r.alert_id,
        event: r.event,
        message: r.message.0,
        attempts: r.attempts,
        lease_token: r.lease_token.unwrap_or_default(),
        channel: channel.into_record()?,
    })
}
