//! Pagination: `?page=&per_page=` in, `{items,total,page,per_page}` out.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The largest `per_page` any list endpoint accepts.
pub const MAX_PER_PAGE: u32 = 200;
/// `per_page` when the client sends none.
pub const DEFAULT_PER_PAGE: u32 = 20;

/// One page of a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// How many items match in all pages (a lower bound when `total_capped` is true).
    pub total: i64,
    /// True when counting stopped at the cap (10,000) of a filtered slow-query list whose filters the
    /// hourly rollups cannot count: at least `total` items match. Always false elsewhere.
    #[serde(default)]
    pub total_capped: bool,
    pub page: u32,
    pub per_page: u32,
}

/// Query-string pagination parameters (1-based page).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-based page number (default 1).
    pub page: Option<u32>,
    /// Items per page, 1..=200 (default 20).
    pub per_page: Option<u32>,
}
