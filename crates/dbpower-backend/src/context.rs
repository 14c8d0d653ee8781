//! The parts of a role's state that handlers, middleware and workers take as substates (`FromRef`):
//! [`Shared`] (every role), [`Analysis`] (the roles that analyse), [`Accounts`] (the roles that
//! authenticate users); and the small helpers handlers use on them (request context, audit recording,
//! pagination). Near a leaf: it depends on no other module of this crate but `http` and `metrics` (no
//! router, state, middleware or workers).

use std::sync::Arc;

use axum::http::request::Parts;

use crate::http::jwt::TokenKeys;
use crate::http::{ApiError, ApiResult, ClientIp, RequestId};
use dbpower_core::Principal;
use dbpower_store::{NewAuditEntry, PageRequest, Store};
use dbpower_types::{DEFAULT_PER_PAGE, MAX_PER_PAGE, Page, PageQuery};

/// Lets a state handle (`Outer(Arc<Inner>)`, cheap to clone) be used as the `Inner` it holds.
macro_rules! deref_to_inner {
    ($outer:ty => $inner:ty) => {
        impl std::ops::Deref for $outer {
            type Target = $inner;
            fn deref(&self) -> &$inner {
                &self.0
            }
        }
    };
}
pub(crate) use deref_to_inner;

/// What every role has: its name, its metrics, token verification and the network policy.
#[derive(Clone)]
pub(crate) struct Shared(pub Arc<SharedInner>);

pub(crate) struct SharedInner {
    /// `platform`, `backend`, `analyzer` or `gateway`: in logs and metrics.
    pub service: &'static str,
    pub metrics: crate::metrics::Metrics,
    pub tokens: TokenKeys,
    /// Origins allowed to call the API from a browser (CORS); empty: same origin only.
    pub cors_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` names the client (`trusted_proxies`).
    pub trusted_proxies: Arc<crate::http::TrustedProxies>,
    /// Who may read `/metrics` and the gateway's upstream details.
    pub metrics_access: crate::metrics::MetricsAccess,
}

deref_to_inner!(Shared => SharedInner);

/// The analysis engine and its queue: what the analysis workers and `POST /analyzer/analyze` need, in
/// the roles that analyse (`serve`, `backend`, `analyzer`).
#[derive(Clone)]
pub(crate) struct Analysis(pub Arc<AnalysisInner>);

pub(crate) struct AnalysisInner {
    pub shared: Shared,
    pub store: Arc<dyn Store>,
    /// Wakes the analysis workers when new work is queued.
    pub wakeup: tokio::sync::Notify,
    /// The configured LLM provider, used for organizations whose AI policy allows it.
    pub llm: Option<Arc<dbpower_llm::LlmClient>>,
    /// How long a claimed analysis job stays leased (`analysis_lease_secs`).
    pub lease: std::time::Duration,
}

deref_to_inner!(Analysis => AnalysisInner);

/// What authenticating a bearer token needs: the keys and the user rows.
#[derive(Clone)]
pub(crate) struct Accounts {
    pub shared: Shared,
    pub store: Arc<dyn Store>,
}

/// Who did it, from where, under which request id: what every audit entry records.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub request_id: String,
    pub ip: Option<String>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Self::Rejection> {
        let RequestId(request_id) = RequestId::from_request_parts(parts, s).await?;
        let ClientIp(ip) = ClientIp::from_request_parts(parts, s).await?;
        Ok(Ctx {
            request_id,
            ip: ip.map(|i| i.to_string()),
        })
    }
}

impl Ctx {
    /// A successful `action` of the caller `p` on a `resource_type`, in the caller's organization until
    /// [`Event::org`] or [`Event::on`] says otherwise.
    pub(crate) fn event(&self, p: &Principal, action: &str, resource_type: &str) -> Event {
        Event::new(self, Some(p), action, resource_type)
    }
}

/// One audit event, built fluently and appended with [`AppState::audit`].
pub(crate) struct Event {
    pub entry: NewAuditEntry,
}

impl Event {
    pub(crate) fn new(
        ctx: &Ctx,
        actor: Option<&Principal>,
        action: &str,
        resource_type: &str,
    ) -> Event {
        Event {
            entry: NewAuditEntry {
                organization_id: actor.and_then(|p| p.organization_id),
                actor_user_id: actor.map(|p| p.user_id),
                actor_email: actor.map(|p| p.email.clone()),
                action: action.into(),
                resource_type: resource_type.into(),
                resource_id: None,
                outcome: "success".into(),
                request_id: Some(ctx.request_id.clone()),
                ip: ctx.ip.clone(),
                details: serde_json::json!({}),
            },
        }
    }
    /// The organization the event belongs to (defaults to the actor's).
    pub(crate) fn org(mut self, org: Option<i64>) -> Event {
        self.entry.organization_id = org;
        self
    }
    pub(crate) fn resource(mut self, id: impl ToString) -> Event {
        self.entry.resource_id = Some(id.to_string());
        self
    }
    /// The resource acted on: its organization and its id.
    pub(crate) fn on(self, org: Option<i64>, id: impl ToString) -> Event {
        self.org(org).resource(id)
    }
    pub(crate) fn failed(mut self) -> Event {
        self.entry.outcome = "failure".into();
        self
    }
    pub(crate) fn details(mut self, details: serde_json::Value) -> Event {
        self.entry.details = details;
        self
    }
}

/// Appends to the audit log. A failure to record is logged loudly but does not undo the action that
/// already happened (see docs/API-DESIGN.md, known quirks).
pub(crate) async fn audit(store: &dyn Store, event: Event) {
    if let Err(e) = store.append_audit(&event.entry).await {
        tracing::error!(error = %e, action = %event.entry.action, "audit append failed");
    }
}

impl Analysis {
    /// [`audit`] into this state's store.
    pub(crate) async fn audit(&self, event: Event) {
        audit(self.store.as_ref(), event).await;
    }
}

/// Validates `?page=&per_page=`.
pub(crate) fn page_request(q: &PageQuery) -> ApiResult<PageRequest> {
    let page = q.page.unwrap_or(1);
    let per_page = q.per_page.unwrap_or(DEFAULT_PER_PAGE);
    if page == 0 {
        return Err(ApiError::validation("page", "must be 1 or more"));
    }
    if per_page == 0 || per_page > MAX_PER_PAGE {
        return Err(ApiError::validation(
            "per_page",
            format!("must be between 1 and {MAX_PER_PAGE}"),
        ));
    }
    Ok(PageRequest { page, per_page })
}

/// Builds the response page.
pub(crate) fn page_of<T, U>(
    items: Vec<T>,
    total: i64,
    req: PageRequest,
    f: impl FnMut(T) -> U,
) -> Page<U> {
    Page {
        items: items.into_iter().map(f).collect(),
        total,
        total_capped: false,
        page: req.page,
        per_page: req.per_page,
    }
}
