//! In-memory copy of every show with its zones and owner. Reads are a hash lookup
//! under a read lock; writers replace whole entries, so readers never see half an update.
use crate::store::{ShowBundle, ZoneRecord};
use boxoffice_domain::{ShowId, ZoneId};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;

pub type ShowMeta = ShowBundle;

impl ShowBundle {
    pub fn zone(&self, id: ZoneId) -> Option<&ZoneRecord> {
        self.zones.iter().find(|z| z.id == id)
    }
}

#[derive(Default)]
pub struct ShowCache {
    shows: RwLock<HashMap<ShowId, Arc<ShowMeta>>>,
}

impl ShowCache {
    pub fn new(bundles: Vec<ShowBundle>) -> Self {
        Self {
            shows: RwLock::new(
                bundles
                    .into_iter()
                    .map(|b| (b.show.id, Arc::new(b)))
                    .collect(),
            ),
        }
    }

    pub fn get(&self, id: ShowId) -> Option<Arc<ShowMeta>> {
        self.shows.read().get(&id).cloned()
    }

    pub fn put(&self, bundle: ShowBundle) {
        self.shows.write().insert(bundle.show.id, Arc::new(bundle));
    }

    /// Every show's id (metrics walk them at scrape time).
    pub fn ids(&self) -> Vec<ShowId> {
        self.shows.read().keys().copied().collect()
    }

    pub fn remove(&self, id: ShowId) {
        self.shows.write().remove(&id);
    }
}
