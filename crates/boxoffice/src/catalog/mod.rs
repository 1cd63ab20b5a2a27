//! Catalog: events, their shows (dates) and zones. Organizers manage their own;
//! everyone browses. Show and zone metadata is cached in memory so the booking hot
//! path never queries the catalog; every change here refreshes that cache.
mod cache;
pub mod http;
mod service;

pub use cache::{ShowCache, ShowMeta};
pub use service::{
    CatalogService, EventInput, EventView, ShowInput, ShowView, ZoneInput, ZoneView,
};
