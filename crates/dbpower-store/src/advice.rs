//! Index advice ([`AdviceStore`]): the what-if validations asked of agents (leased claims, results
//! accepted only from the agent holding the lease) and the newest description of every table, for the
//! workload's index advice.

use async_trait::async_trait;
use dbpower_core::Scope;
use dbpower_types::{
    ApiKeyView, ClassIndexAdvice, IndexValidation, TableSnapshot, ValidationReceipt,
    ValidationResult, ValidationTask, WritingClass,
};

use crate::Result;

/// A claim that is not answered within this long goes back to the queue.
pub const VALIDATION_LEASE_SECS: i64 = 600;
/// Claims a validation gets before it is recorded as unavailable.
pub const MAX_VALIDATION_ATTEMPTS: i32 = 3;
/// Index recommendations of one analysis that are sent for validation.
pub const MAX_VALIDATIONS_PER_CLASS: usize = 10;

/// Validations and table descriptions (a supertrait of [`crate::Store`]).
#[async_trait]
pub trait AdviceStore: Send + Sync {
    /// Leases at most `limit` pending validations of classes the agent `key` shipped statements of,
    /// each with the newest statement it shipped; a validation claimed [`MAX_VALIDATION_ATTEMPTS`]
    /// times without an answer becomes `unavailable`.
    async fn claim_validations(&self, key: &ApiKeyView, limit: i64) -> Result<Vec<ValidationTask>>;
    /// Records results of validations `key` holds the lease on (checked in the writing statement);
    /// others are counted as ignored.
    async fn record_validations(
        &self,
        key: &ApiKeyView,
        results: &[ValidationResult],
    ) -> Result<ValidationReceipt>;
    /// The validations of a class, by DDL (the caller has checked that the scope sees the class).
    async fn class_validations(
        &self,
        scope: &Scope,
        class_id: i64,
    ) -> Result<Vec<(String, IndexValidation)>>;
    /// What the workload's index advice is computed from, as far as `scope` sees.
    async fn advice_inputs(&self, scope: &Scope) -> Result<AdviceInputs>;
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdviceInputs {
    pub advice: Vec<ClassIndexAdvice>,
    pub writers: Vec<WritingClass>,
    pub tables: Vec<TableSnapshot>,
}
