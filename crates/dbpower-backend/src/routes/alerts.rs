//! `/api/v1/alert-channels`, `/api/v1/alert-rules`, `/api/v1/alerts` and class mutes (docs/ALERTS.md).
//! Channels and rules are the organization's (ORG_ADMIN); alerts are read in the caller's scope, and
//! acknowledged, resolved and muted by team leads and administrators. Channel secrets are encrypted
//! under the master key and returned once (a webhook's `whsec_` secret) or never (Slack URLs,
//! PagerDuty routing keys).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use dbpower_core::perm::Action;
use dbpower_core::{Scope, validate};
use dbpower_store::{AlertFilter, ChannelPatch, ChannelPublic, NewChannel, NewRule, RulePatch};
use dbpower_types::{
    AlertKind, AlertListQuery, AlertStatus, AlertThresholds, AlertView, ChannelConfigIn,
    ChannelCreated, ChannelKind, ChannelTestQueued, ChannelView, CreateChannelRequest,
    CreateRuleRequest, ErrorBody, MuteRequest, MuteView, Page, PageQuery, RuleView,
    UpdateChannelRequest, UpdateRuleRequest,
};

use super::{optional_name, require, write_org};
use crate::context::{Ctx, page_of, page_request};
use crate::http::{ApiError, ApiJson, ApiQuery, ApiResult, StoreResultExt};
use crate::routes::auth::Auth;
use crate::state::AppState;
use crate::workers::channels::{check_url, new_webhook_secret};

/// At most this many channels in one rule, and recipients in one e-mail channel.
const MAX_CHANNELS_PER_RULE: usize = 50;
const MAX_RECIPIENTS: usize = 20;
/// At most this many channels and rules per organization: evaluation and delivery stay bounded.
const MAX_CHANNELS: i64 = 50;
const MAX_RULES: i64 = 100;

/// A channel's public part and secret (in clear) from its config, checked for its kind.
fn channel_config(
    s: &AppState,
    kind: ChannelKind,
    c: &ChannelConfigIn,
) -> ApiResult<(ChannelPublic, Option<String>)> {
    let allow = s.alerts.senders.allow_private;
    let url = |required: bool| -> ApiResult<Option<String>> {
        match &c.url {
            Some(u) => check_url(u, allow)
                .map(|_| Some(u.clone()))
                .map_err(|m| ApiError::validation("config.url", m)),
            None if required => Err(ApiError::validation("config.url", "is required")),
            None => Ok(None),
        }
    };
    let none = |field: &str, present: bool| -> ApiResult<()> {
        if present {
            Err(ApiError::validation(
                &format!("config.{field}"),
                format!("is not a setting of a {} channel", kind.as_str()),
            ))
        } else {
            Ok(())
        }
    };
    match kind {
        ChannelKind::Webhook => {
            none("to", c.to.is_some())?;
            none("routing_key", c.routing_key.is_some())?;
            Ok((
                ChannelPublic {
                    url: url(true)?,
                    to: Vec::new(),
                },
                None,
            ))
        }
        ChannelKind::Slack => {
            none("to", c.to.is_some())?;
            none("routing_key", c.routing_key.is_some())?;
            Ok((ChannelPublic::default(), url(true)?))
        }
        ChannelKind::Pagerduty => {
            none("to", c.to.is_some())?;
            let key = c.routing_key.as_deref().unwrap_or("");
            if key.is_empty() || key.len() > 64 || !key.chars().all(|ch| ch.is_ascii_alphanumeric())
            {
                return Err(ApiError::validation(
                    "config.routing_key",
                    "is required: PagerDuty's integration key (1 to 64 letters and digits)",
                ));
            }
            Ok((
                ChannelPublic {
                    url: url(false)?,
                    to: Vec::new(),
                },
                Some(key.to_string()),
            ))
        }
        ChannelKind::Email => {
            none("url", c.url.is_some())?;
            none("routing_key", c.routing_key.is_some())?;
            let to = c.to.as_deref().unwrap_or(&[]);
            if to.is_empty() || to.len() > MAX_RECIPIENTS {
                return Err(ApiError::validation(
                    "config.to",
                    format!("needs 1 to {MAX_RECIPIENTS} addresses"),
                ));
            }
            let to = to
                .iter()
                .map(|a| {
                    validate::email(a).map_err(|e| ApiError::validation("config.to", e.message))
                })
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((ChannelPublic { url: None, to }, None))
        }
    }
}

fn encrypt(s: &AppState, secret: Option<&str>) -> ApiResult<Option<String>> {
    secret
        .map(|v| {
            s.cipher.encrypt(v).map_err(|e| {
                tracing::error!(error = %e, "channel secret encryption failed");
                ApiError::internal()
            })
        })
        .transpose()
}

/// Create a channel. A webhook's answer holds its `whsec_` signing secret this once.
#[utoipa::path(post, path = "/api/v1/alert-channels", tag = "alerts", request_body = CreateChannelRequest,
    responses((status = 201, body = ChannelCreated), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn create_channel(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    ApiJson(req): ApiJson<CreateChannelRequest>,
) -> ApiResult<(StatusCode, ApiJson<ChannelCreated>)> {
    require(&p, Action::ManageAlerts)?;
    let org = write_org(&Scope::of(&p), req.organization_id)?;
    let name = validate::name("name", &req.name)?;
    let (public, mut secret) = channel_config(&s, req.kind, &req.config)?;
    let one = dbpower_store::PageRequest {
        page: 1,
        per_page: 1,
    };
    let (_, existing) = s.store.list_channels(&Scope::org(org), one).await?;
    if existing >= MAX_CHANNELS {
        return Err(ApiError::validation(
            "name",
            format!("an organization has at most {MAX_CHANNELS} channels"),
        ));
    }
    let shown = (req.kind == ChannelKind::Webhook).then(new_webhook_secret);
    if shown.is_some() {
        secret = shown.clone();
    }
    let new = NewChannel {
        name,
        kind: req.kind,
        team_id: req.team_id,
        enabled: req.enabled.unwrap_or(true),
        public,
        secret_ciphertext: encrypt(&s, secret.as_deref())?,
    };
    let ch = s
        .store
        .insert_channel(org, &new)
        .await
        .named("alert channel")?;
    s.audit(
        ctx.event(&p, "alert_channel.create", "alert_channel")
            .on(Some(ch.view.organization_id), ch.view.id)
            .details(serde_json::json!({"name": ch.view.name, "kind": ch.view.kind.as_str()})),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        ApiJson(ChannelCreated {
            channel: ch.view,
            secret: shown,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/alert-channels", tag = "alerts", params(PageQuery),
    responses((status = 200, body = Page<ChannelView>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_channels(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<ApiJson<Page<ChannelView>>> {
    require(&p, Action::ManageAlerts)?;
    let req = page_request(&q)?;
    let (items, total) = s.store.list_channels(&Scope::of(&p), req).await?;
    Ok(ApiJson(page_of(items, total, req, |c| c.view)))
}

#[utoipa::path(get, path = "/api/v1/alert-channels/{id}", tag = "alerts", params(("id" = i64, Path)),
    responses((status = 200, body = ChannelView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_channel(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<ApiJson<ChannelView>> {
    require(&p, Action::ManageAlerts)?;
    let ch = s
        .store
        .channel_by_id(&Scope::of(&p), id)
        .await
        .named("alert channel")?;
    Ok(ApiJson(ch.view))
}

/// Change a channel. A new `config` replaces the old one; a webhook keeps its signing secret.
#[utoipa::path(patch, path = "/api/v1/alert-channels/{id}", tag = "alerts", params(("id" = i64, Path)), request_body = UpdateChannelRequest,
    responses((status = 200, body = ChannelView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn update_channel(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<UpdateChannelRequest>,
) -> ApiResult<ApiJson<ChannelView>> {
    require(&p, Action::ManageAlerts)?;
    let scope = Scope::of(&p);
    let current = s
        .store
        .channel_by_id(&scope, id)
        .await
        .named("alert channel")?;
    let config = match &req.config {
        Some(c) => {
            let (public, secret) = channel_config(&s, current.view.kind, c)?;
            Some((public, encrypt(&s, secret.as_deref())?))
        }
        None => None,
    };
    let patch = ChannelPatch {
        name: optional_name("name", req.name.as_deref())?,
        enabled: req.enabled,
        config,
    };
    let ch = s
        .store
        .update_channel(&scope, id, &patch)
        .await
        .named("alert channel")?;
    s.audit(
        ctx.event(&p, "alert_channel.update", "alert_channel")
            .on(Some(ch.view.organization_id), id)
            .details(
                serde_json::json!({"name": ch.view.name, "enabled": ch.view.enabled,
                "config_changed": req.config.is_some()}),
            ),
    )
    .await;
    Ok(ApiJson(ch.view))
}

#[utoipa::path(delete, path = "/api/v1/alert-channels/{id}", tag = "alerts", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn delete_channel(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    require(&p, Action::ManageAlerts)?;
    let scope = Scope::of(&p);
    let ch = s
        .store
        .channel_by_id(&scope, id)
        .await
        .named("alert channel")?;
    s.store
        .delete_channel(&scope, id)
        .await
        .named("alert channel")?;
    s.audit(
        ctx.event(&p, "alert_channel.delete", "alert_channel")
            .on(Some(ch.view.organization_id), id)
            .details(serde_json::json!({"name": ch.view.name})),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a test message through the channel (queued; its result shows as the channel's last delivery).
#[utoipa::path(post, path = "/api/v1/alert-channels/{id}/test", tag = "alerts", params(("id" = i64, Path)),
    responses((status = 202, body = ChannelTestQueued), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn test_channel(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, ApiJson<ChannelTestQueued>)> {
    require(&p, Action::ManageAlerts)?;
    let scope = Scope::of(&p);
    let message = serde_json::json!({"event": "test", "sent_by": p.user_id, "at": Utc::now()});
    let delivery_id = s
        .store
        .queue_test_delivery(&scope, id, &message)
        .await
        .named("alert channel")?;
    s.alerts.wake.notify_one();
    s.audit(
        ctx.event(&p, "alert_channel.test", "alert_channel")
            .on(scope.org_id(), id)
            .details(serde_json::json!({"delivery_id": delivery_id})),
    )
    .await;
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(ChannelTestQueued { delivery_id }),
    ))
}

fn check_thresholds(t: &AlertThresholds) -> ApiResult<()> {
    let bad = |f: &str, m: &str| Err(ApiError::validation(&format!("thresholds.{f}"), m));
    if t.ratio.is_some_and(|r| !(1.05..=1000.0).contains(&r)) {
        return bad("ratio", "must be between 1.05 and 1000");
    }
    if t.min_z.is_some_and(|z| !(0.0..=50.0).contains(&z)) {
        return bad("min_z", "must be between 0 and 50");
    }
    if t.min_share.is_some_and(|s| !(0.0..=1.0).contains(&s)) {
        return bad("min_share", "must be between 0 and 1");
    }
    if t.min_calls.is_some_and(|n| n > 1_000_000_000)
        || t.min_baseline_calls.is_some_and(|n| n > 1_000_000_000)
    {
        return bad("min_calls", "must be at most 1000000000");
    }
    Ok(())
}

fn check_rule_parts(resolve_after: Option<u32>, channels: Option<&Vec<i64>>) -> ApiResult<()> {
    if resolve_after.is_some_and(|r| !(60..=30 * 86_400).contains(&r)) {
        return Err(ApiError::validation(
            "resolve_after_secs",
            "must be between 60 and 2592000 (30 days)",
        ));
    }
    if channels.is_some_and(|c| c.len() > MAX_CHANNELS_PER_RULE) {
        return Err(ApiError::validation(
            "channel_ids",
            format!("at most {MAX_CHANNELS_PER_RULE} channels"),
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/alert-rules", tag = "alerts", request_body = CreateRuleRequest,
    responses((status = 201, body = RuleView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn create_rule(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    ApiJson(req): ApiJson<CreateRuleRequest>,
) -> ApiResult<(StatusCode, ApiJson<RuleView>)> {
    require(&p, Action::ManageAlerts)?;
    let org = write_org(&Scope::of(&p), req.organization_id)?;
    let thresholds = req.thresholds.unwrap_or_default();
    check_thresholds(&thresholds)?;
    check_rule_parts(req.resolve_after_secs, req.channel_ids.as_ref())?;
    let one = dbpower_store::PageRequest {
        page: 1,
        per_page: 1,
    };
    let (_, existing) = s.store.list_rules(&Scope::org(org), one).await?;
    if existing >= MAX_RULES {
        return Err(ApiError::validation(
            "name",
            format!("an organization has at most {MAX_RULES} rules"),
        ));
    }
    if let Some(e) = &req.engine
        && !matches!(e.as_str(), "mysql" | "postgresql")
    {
        return Err(ApiError::validation(
            "engine",
            "must be mysql or postgresql",
        ));
    }
    let new = NewRule {
        name: validate::name("name", &req.name)?,
        kind: req.kind,
        enabled: req.enabled.unwrap_or(true),
        team_id: req.team_id,
        identity_id: req.identity_id,
        database_name: optional_name("database_name", req.database_name.as_deref())?,
        engine: req.engine.clone(),
        thresholds,
        channel_ids: req.channel_ids.clone(),
        resolve_after_secs: req.resolve_after_secs.unwrap_or(3600),
    };
    let rule = s.store.insert_rule(org, &new).await.named("alert rule")?;
    s.audit(
        ctx.event(&p, "alert_rule.create", "alert_rule")
            .on(Some(rule.organization_id), rule.id)
            .details(serde_json::json!({"name": rule.name, "kind": rule.kind.as_str()})),
    )
    .await;
    Ok((StatusCode::CREATED, ApiJson(rule)))
}

#[utoipa::path(get, path = "/api/v1/alert-rules", tag = "alerts", params(PageQuery),
    responses((status = 200, body = Page<RuleView>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_rules(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<ApiJson<Page<RuleView>>> {
    require(&p, Action::ManageAlerts)?;
    let req = page_request(&q)?;
    let (items, total) = s.store.list_rules(&Scope::of(&p), req).await?;
    Ok(ApiJson(page_of(items, total, req, |r| r)))
}

#[utoipa::path(patch, path = "/api/v1/alert-rules/{id}", tag = "alerts", params(("id" = i64, Path)), request_body = UpdateRuleRequest,
    responses((status = 200, body = RuleView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn update_rule(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<UpdateRuleRequest>,
) -> ApiResult<ApiJson<RuleView>> {
    require(&p, Action::ManageAlerts)?;
    if let Some(t) = &req.thresholds {
        check_thresholds(t)?;
    }
    check_rule_parts(
        req.resolve_after_secs,
        req.channel_ids.as_ref().and_then(|c| c.as_ref()),
    )?;
    let patch = RulePatch {
        name: optional_name("name", req.name.as_deref())?,
        enabled: req.enabled,
        thresholds: req.thresholds,
        channel_ids: req.channel_ids.clone(),
        resolve_after_secs: req.resolve_after_secs,
    };
    let rule = s
        .store
        .update_rule(&Scope::of(&p), id, &patch)
        .await
        .named("alert rule")?;
    s.audit(
        ctx.event(&p, "alert_rule.update", "alert_rule")
            .on(Some(rule.organization_id), id)
            .details(serde_json::json!({"name": rule.name, "enabled": rule.enabled})),
    )
    .await;
    Ok(ApiJson(rule))
}

#[utoipa::path(delete, path = "/api/v1/alert-rules/{id}", tag = "alerts", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn delete_rule(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    require(&p, Action::ManageAlerts)?;
    let scope = Scope::of(&p);
    let rule = s.store.rule_by_id(&scope, id).await.named("alert rule")?;
    s.store.delete_rule(&scope, id).await.named("alert rule")?;
    s.audit(
        ctx.event(&p, "alert_rule.delete", "alert_rule")
            .on(Some(rule.organization_id), id)
            .details(serde_json::json!({"name": rule.name})),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Alerts the caller may see, newest first: an organization's all, a team's or an identity's those its
/// own executions raised.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertListQuery),
    responses((status = 200, body = Page<AlertView>), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_alerts(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<AlertListQuery>,
) -> ApiResult<ApiJson<Page<AlertView>>> {
    let req = page_request(&PageQuery {
        page: q.page,
        per_page: q.per_page,
    })?;
    let filter = AlertFilter {
        status: q
            .status
            .as_deref()
            .map(|v| {
                AlertStatus::parse(v).ok_or_else(|| {
                    ApiError::validation("status", "must be open, acknowledged or resolved")
                })
            })
            .transpose()?,
        kind: q
            .kind
            .as_deref()
            .map(|v| {
                AlertKind::parse(v).ok_or_else(|| {
                    ApiError::validation(
                        "kind",
                        "must be regression, new_class, volume_spike, severity_raised or plan_changed",
                    )
                })
            })
            .transpose()?,
        query_id: match q.query_id {
            Some(id) if id.len() > 64 => {
                return Err(ApiError::validation("query_id", "at most 64 characters"));
            }
            other => other,
        },
        resolved_between: None,
    };
    let (items, total) = s.store.list_alerts(&Scope::of(&p), &filter, req).await?;
    Ok(ApiJson(page_of(items, total, req, |a| a)))
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts", params(("id" = i64, Path)),
    responses((status = 200, body = AlertView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_alert(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<ApiJson<AlertView>> {
    Ok(ApiJson(
        s.store
            .alert_by_id(&Scope::of(&p), id)
            .await
            .named("alert")?,
    ))
}

async fn set_status(
    s: AppState,
    p: dbpower_core::Principal,
    ctx: Ctx,
    id: i64,
    status: AlertStatus,
) -> ApiResult<ApiJson<AlertView>> {
    require(&p, Action::HandleAlerts)?;
    let alert = s
        .store
        .set_alert_status(&Scope::of(&p), id, status, p.user_id)
        .await
        .named("alert")?;
    if status == AlertStatus::Resolved {
        s.alerts.wake.notify_one();
    }
    s.audit(
        ctx.event(&p, &format!("alert.{}", status.as_str()), "alert")
            .on(Some(alert.organization_id), id)
            .details(serde_json::json!({"query_id": alert.query_id, "kind": alert.kind.as_str()})),
    )
    .await;
    Ok(ApiJson(alert))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge", tag = "alerts", params(("id" = i64, Path)),
    responses((status = 200, body = AlertView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn acknowledge_alert(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<ApiJson<AlertView>> {
    set_status(s, p, ctx, id, AlertStatus::Acknowledged).await
}

/// Resolve an alert; it stays resolved while its condition goes on (a new alert opens only after the
/// condition was clear for the rule's `resolve_after_secs`).
#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "alerts", params(("id" = i64, Path)),
    responses((status = 200, body = AlertView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn resolve_alert(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<ApiJson<AlertView>> {
    set_status(s, p, ctx, id, AlertStatus::Resolved).await
}

/// Mute a class: no new alert opens for it until `until` (at most 90 days ahead).
#[utoipa::path(post, path = "/api/v1/query-classes/{query_id}/mute", tag = "alerts", params(("query_id" = String, Path)), request_body = MuteRequest,
    responses((status = 200, body = MuteView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn mute_class(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(query_id): Path<String>,
    ApiJson(req): ApiJson<MuteRequest>,
) -> ApiResult<ApiJson<MuteView>> {
    require(&p, Action::HandleAlerts)?;
    let now = Utc::now();
    if req.until <= now || req.until > now + chrono::Duration::days(90) {
        return Err(ApiError::validation(
            "until",
            "must be in the future and at most 90 days ahead",
        ));
    }
    if query_id.is_empty() || query_id.len() > 64 {
        return Err(ApiError::not_found("query class"));
    }
    // A super admin names the organization (a query id alone would mute it in every one).
    let scope = match Scope::of(&p) {
        s if s.is_all() => Scope::org(write_org(&s, req.organization_id)?),
        s => s,
    };
    let mute = s
        .store
        .mute_class(&scope, &query_id, req.until, p.user_id)
        .await
        .named("query class")?;
    s.audit(
        ctx.event(&p, "query_class.mute", "query_class")
            .on(scope.org_id(), 0)
            .details(serde_json::json!({"query_id": query_id, "until": req.until})),
    )
    .await;
    Ok(ApiJson(mute))
}
