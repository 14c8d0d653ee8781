//! [`StoreError`]: what went wrong, in the store's terms. Variants carry typed values (which kind of row
//! clashed, which reference was missing); the HTTP layer words them for clients. Driver errors are
//! wrapped in [`DriverError`], so sqlx never appears in a caller's match.

/// What went wrong, in the store's terms; the HTTP layer decides what each means to a client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row in the caller's scope (including: it exists, but in another tenant).
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write: a row of this kind with the same name, email or id exists.
    #[error("conflict: this {0} already exists")]
    Conflict(Entity),
    /// An ingestion request with this id is being stored by a concurrent request.
    #[error("conflict: the ingestion request is being processed")]
    RequestInProgress,
    /// A reference points at nothing in scope (e.g. a team id of another organization).
    #[error("invalid reference: {0:?}")]
    InvalidReference(Reference),
    /// A PostgreSQL database name outside `[A-Za-z0-9_]` (see [`crate::create_postgres_database`]).
    #[error("invalid database name {0:?}: use [A-Za-z0-9_]")]
    InvalidDatabaseName(String),
    /// The database could not be reached or refused to work.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(DriverError),
    #[error("migration failed: {0}")]
    Migrate(DriverError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The kinds of rows whose writes can clash with a unique constraint or refer to a missing row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    /// Unique by name.
    Organization,
    /// Unique by name within the organization.
    Team,
    /// Unique by name within the team.
    Identity,
    /// Unique by email within its organization (and among platform accounts).
    User,
    /// Unique by public key id.
    ApiKey,
    /// Unique by token id.
    RefreshToken,
    /// An alert channel: unique by name within the organization.
    Channel,
    /// An alert rule: unique by name within the organization.
    Rule,
    /// An alert whose state does not allow the change (acknowledging a resolved alert).
    AlertState,
    /// A rule with unresolved alerts (deleting it would drop their resolve messages).
    RuleWithOpenAlerts,
    /// A channel with a test message still queued.
    TestPending,
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Entity::Organization => "organization",
            Entity::Team => "team",
            Entity::Identity => "identity",
            Entity::User => "user",
            Entity::ApiKey => "api key",
            Entity::RefreshToken => "refresh token",
            Entity::Channel => "alert channel",
            Entity::Rule => "alert rule",
            Entity::AlertState => "alert state",
            Entity::RuleWithOpenAlerts => "alert rule with unresolved alerts",
            Entity::TestPending => "queued test message",
        })
    }
}

/// What a write referred to that is not there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// `team_id` names no team of the organization.
    TeamId,
    /// `team_id` or `identity_id` names nothing in the organization, or the identity belongs to another
    /// team than the one given.
    TeamIdOrIdentityId,
    /// A rule's `team_id`, `identity_id` or `channel_ids` names nothing in the organization.
    RuleTarget,
    /// A weekly report's `channel_id` names no enabled e-mail channel the team may use.
    ReportChannel,
    /// A foreign key of the written row (of this kind) points at nothing, e.g. at a row deleted meanwhile.
    Row(Entity),
}

/// A database driver failure. Its text is for the server log; what it means to a client is "internal".
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DriverError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(DriverError(Box::new(e)))
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(DriverError(Box::new(e)))
    }
}

/// Maps driver errors on writes of an `entity` row: unique violations become conflicts, foreign-key
/// violations invalid references.
pub(crate) fn write_error(e: sqlx::Error, entity: Entity) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return StoreError::Conflict(entity);
        }
        if db.is_foreign_key_violation() {
            return StoreError::InvalidReference(Reference::Row(entity));
        }
    }
    e.into()
}
