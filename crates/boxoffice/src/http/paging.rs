//! Page-number pagination shared by every listing.
use crate::error::{Error, Result};
use crate::store::Page;
use serde::Serialize;
use utoipa::ToSchema;

pub const DEFAULT_PER_PAGE: u32 = 20;
pub const MAX_PER_PAGE: u32 = 100;

#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
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
    if page == 0 || page > 1_000_000 {
        return Err(Error::field("page", "must be between 1 and 1000000"));
    }
    if per_page == 0 || per_page > MAX_PER_PAGE {
        return Err(Error::field(
            "per_page",
            format!("must be between 1 and {MAX_PER_PAGE}"),
        ));
    }
    Ok(Page { page, per_page })
}
