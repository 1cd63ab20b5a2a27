//! Page-number pagination shared by every listing.
use crate::error::{Error, Result};
use crate::store::Page;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const DEFAULT_PER_PAGE: u32 = 20;
pub const MAX_PER_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 1_000_000;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
/// `page` and `per_page` alone, for listings without filters.
pub struct PageQuery {
    #[param(schema_with = crate::http::contract::page)]
    pub page: Option<u32>,
    #[param(schema_with = crate::http::contract::per_page)]
    pub per_page: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    #[schema(schema_with = crate::http::contract::page)]
    pub page: u32,
    #[schema(schema_with = crate::http::contract::per_page)]
    pub per_page: u32,
    /// Items matching, over all pages.
    #[schema(minimum = 0)]
    pub total: i64,
}

impl<T> Paged<T> {
    pub fn new(items: Vec<T>, page: Page, total: i64) -> Self {
        Self {
            items,
            page: page.page,
            per_page: page.per_page,
            total,
        }
    }
}

/// Validates `page` (from 1) and `per_page` (1 to 100).
pub fn page(page: Option<u32>, per_page: Option<u32>) -> Result<Page> {
    let page = page.unwrap_or(1);
    let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
    if page == 0 || page > MAX_PAGE {
        return Err(Error::field(
            "page",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    if per_page == 0 || per_page > MAX_PER_PAGE {
        return Err(Error::field(
            "per_page",
            format!("must be between 1 and {MAX_PER_PAGE}"),
        ));
    }
    Ok(Page { page, per_page })
}
