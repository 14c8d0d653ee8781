//! The OpenAPI document, generated from the handlers' annotations and served at `/api/openapi.json`
//! (Swagger UI at `/docs`).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::routes::auth;
use crate::routes::{
    advice, agents, alerts, analyzer, api_keys, audit, compare, events, identities, organizations,
    queries, reports, stream, teams, users,
};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "DBPower API", description = "Slow-query intelligence for MySQL, MariaDB and PostgreSQL."),
    modifiers(&BearerAuth),
    // Enums used only as query parameters: utoipa references them but does not collect them.
    components(schemas(
        dbpower_types::AnalysisStatus,
        dbpower_types::ClassSort,
        dbpower_types::SlowQuerySort
    )),
    tags(
        (name = "auth", description = "Login, token refresh, logout"),
        (name = "organizations"), (name = "teams"), (name = "identities"), (name = "users"),
        (name = "api-keys", description = "Agent credentials"),
        (name = "audit", description = "Tamper-evident audit log"),
        (name = "ingestion", description = "Signed agent API"),
        (name = "slow-queries", description = "Slow queries, query classes, dashboard"),
        (name = "alerts", description = "Alert rules, channels, alerts and class mutes"),
        (name = "analyzer", description = "Analysis on demand (served by dbpower serve and dbpower analyzer)"),
    )
)]
pub(crate) struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every `/api/v1` route, registered together with its OpenAPI operation.
pub(crate) fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(analyzer::analyze_request))
        .routes(routes!(agents::heartbeat))
        .routes(routes!(advice::claim_validations))
        .routes(routes!(advice::record_validations))
        .routes(routes!(advice::index_advice))
        .routes(routes!(agents::list_agents))
        .routes(routes!(audit::list_llm_calls))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(
            organizations::list_organizations,
            organizations::create_organization
        ))
        .routes(routes!(
            organizations::get_organization,
            organizations::update_organization,
            organizations::delete_organization
        ))
        .routes(routes!(teams::list_teams, teams::create_team))
        .routes(routes!(
            teams::get_team,
            teams::update_team,
            teams::delete_team
        ))
        .routes(routes!(
            identities::list_identities,
            identities::create_identity
        ))
        .routes(routes!(
            identities::get_identity,
            identities::update_identity,
            identities::delete_identity
        ))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(
            users::get_user,
            users::update_user,
            users::delete_user
        ))
        .routes(routes!(api_keys::list_api_keys, api_keys::create_api_key))
        .routes(routes!(api_keys::get_api_key, api_keys::revoke_api_key))
        .routes(routes!(audit::list_audit_logs))
        .routes(routes!(audit::verify_audit_logs))
        .routes(routes!(queries::list_slow_queries))
        .routes(routes!(queries::get_slow_query))
        .routes(routes!(queries::analyze_slow_query))
        .routes(routes!(queries::list_query_classes))
        .routes(routes!(queries::get_query_class))
        .routes(routes!(queries::get_class_plans))
        .routes(routes!(queries::dashboard))
        .merge(alert_routes())
        .merge(
            OpenApiRouter::new()
                .routes(routes!(crate::routes::ingest::ingest_slow_queries))
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::routes::ingest::MAX_INGEST_BODY,
                )),
        )
}

/// Alerts, their channels and rules, weekly reports, change markers, the comparison and the live stream.
fn alert_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(alerts::list_channels, alerts::create_channel))
        .routes(routes!(
            alerts::get_channel,
            alerts::update_channel,
            alerts::delete_channel
        ))
        .routes(routes!(alerts::test_channel))
        .routes(routes!(alerts::list_rules, alerts::create_rule))
        .routes(routes!(alerts::update_rule, alerts::delete_rule))
        .routes(routes!(alerts::list_alerts))
        .routes(routes!(alerts::get_alert))
        .routes(routes!(alerts::acknowledge_alert))
        .routes(routes!(alerts::resolve_alert))
        .routes(routes!(alerts::mute_class))
        .routes(routes!(compare::compare_windows))
        .routes(routes!(
            reports::get_weekly_report,
            reports::set_weekly_report,
            reports::delete_weekly_report
        ))
        .routes(routes!(reports::preview_weekly_report))
        .routes(routes!(reports::weekly_report_channels))
        .routes(routes!(events::list_events, events::create_event))
        .routes(routes!(stream::stream))
}

/// The OpenAPI document `/api/openapi.json` serves (also printed by `dbpower openapi`, and the source of
/// the admin panel's typed client: `web/admin/src/api/openapi.json`).
pub fn document() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}
