//! Each role's state, built once at start ([`crate::app`]): [`AppState`] for the API roles and
//! [`AnalyzerState`] (the gateway's is [`crate::gateway::GatewayState`]). Handlers and middleware take the
//! parts they need as substates ([`crate::context`]); what a role's state does not hold, its handlers
//! cannot reach.

use std::sync::Arc;

use axum::extract::FromRef;
use dbpower_store::Store;

use crate::context::{Accounts, Analysis, Event, Shared};
use crate::password::PasswordHasher;
use crate::secrets::SecretCipher;
use crate::throttle::LoginThrottle;

/// The API roles' state (`dbpower serve`, `dbpower backend`): accounts, tenants, ingestion.
#[derive(Clone)]
pub(crate) struct AppState(pub Arc<Inner>);

pub(crate) struct Inner {
    pub shared: Shared,
    pub store: Arc<dyn Store>,
    pub hasher: PasswordHasher,
    pub throttle: LoginThrottle,
    pub cipher: SecretCipher,
    /// Group-commit writer for ingestion.
    pub writer: crate::workers::writer::IngestWriter,
    pub analysis: Analysis,
    /// Alert settings, senders and the deliverer's wake-up.
    pub alerts: Arc<crate::workers::alerts::Alerting>,
    /// Request limits (`None` when `rate_limit.enabled = false`, or behind a gateway, which owns them).
    pub rate_limits: Option<Arc<crate::middleware::ratelimit::RateLimits>>,
    /// Api-key windows, checked after a signature verifies (`None` when limits are off).
    pub key_limits: Option<Arc<crate::middleware::ratelimit::RateLimits>>,
}

crate::context::deref_to_inner!(AppState => Inner);

/// `dbpower analyzer`: analysis workers and `POST /analyzer/analyze`, nothing else.
#[derive(Clone)]
pub(crate) struct AnalyzerState {
    pub analysis: Analysis,
    pub rate_limits: Option<Arc<crate::middleware::ratelimit::RateLimits>>,
}

impl Accounts {
    pub(crate) fn from_api(s: &AppState) -> Accounts {
        Accounts {
            shared: s.shared.clone(),
            store: s.store.clone(),
        }
    }
}

impl FromRef<AppState> for Accounts {
    fn from_ref(s: &AppState) -> Accounts {
        Accounts::from_api(s)
    }
}

impl FromRef<AnalyzerState> for Accounts {
    fn from_ref(s: &AnalyzerState) -> Accounts {
        Accounts {
            shared: s.analysis.shared.clone(),
            store: s.analysis.store.clone(),
        }
    }
}

impl FromRef<AppState> for Analysis {
    fn from_ref(s: &AppState) -> Analysis {
        s.analysis.clone()
    }
}

impl FromRef<AnalyzerState> for Analysis {
    fn from_ref(s: &AnalyzerState) -> Analysis {
        s.analysis.clone()
    }
}

impl FromRef<AppState> for Shared {
    fn from_ref(s: &AppState) -> Shared {
        s.shared.clone()
    }
}

impl FromRef<AnalyzerState> for Shared {
    fn from_ref(s: &AnalyzerState) -> Shared {
        s.analysis.shared.clone()
    }
}

impl AppState {
    /// [`audit`] into this state's store.
    pub(crate) async fn audit(&self, event: Event) {
        crate::context::audit(self.store.as_ref(), event).await;
    }
}
