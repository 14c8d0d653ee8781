//! Refused writes are audited. An authenticated request that tried to change something and was refused
//! (403, 404, 409 or 422 on POST, PUT, PATCH or DELETE) leaves an audit row `request.refused` with the
//! caller, the route template, the method and the status: probing another team's or organization's ids,
//! or repeatedly trying what one's role forbids, is visible in the log. Unauthenticated requests are not
//! recorded (they must not grow storage), nor are signed agent requests (the agents' own endpoint
//! answers them) and logins (audited by the login handler).

use crate::http::ClientIp;
use crate::http::jwt::TokenType;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use dbpower_store::NewAuditEntry;

use crate::context::Accounts;

/// Routes whose refusals are audited elsewhere or must not be (unauthenticated, signed).
const NOT_HERE: &[&str] = &[
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/slow-queries",
    "/api/v1/agents/heartbeat",
];

pub(crate) async fn layer(State(state): State<Accounts>, req: Request, next: Next) -> Response {
    let write = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let claims = write
        .then(|| crate::http::jwt::bearer_of(req.headers()))
        .flatten()
        .and_then(|t| state.shared.tokens.verify(t, TokenType::Access).ok());
    let method = req.method().to_string();
    let ip = req.extensions().get::<ClientIp>().and_then(|c| c.0);
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    if let (Some(c), Some(route)) = (claims, route)
        && matches!(status, 403 | 404 | 409 | 422)
        && !NOT_HERE.contains(&route.as_str())
    {
        let entry = NewAuditEntry {
            organization_id: c.org,
            actor_user_id: Some(c.uid),
            actor_email: None,
            action: "request.refused".into(),
            resource_type: route.clone(),
            resource_id: None,
            outcome: "failure".into(),
            request_id: Some(crate::http::request_id::current()),
            ip: ip.map(|i| i.to_string()),
            details: serde_json::json!({"method": method, "route": route, "status": status}),
        };
        if let Err(e) = state.store.append_audit(&entry).await {
            tracing::error!(error = %e, "audit append failed");
        }
    }
    resp
}
