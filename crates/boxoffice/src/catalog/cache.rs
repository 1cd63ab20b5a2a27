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
    /// Moves on every local change, so a refresh read before one does not undo it.
    changes: std::sync::atomic::AtomicU64,
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
            changes: Default::default(),
        }
    }

    /// The change count a refresh compares against (see [`ShowCache::replace_all`]).
    pub fn changes(&self) -> u64 {
        self.changes.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn changed(&self) {
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn get(&self, id: ShowId) -> Option<Arc<ShowMeta>> {
        self.shows.read().get(&id).cloned()
    }

    pub fn put(&self, bundle: ShowBundle) {
        self.shows.write().insert(bundle.show.id, Arc::new(bundle));
        self.changed();
    }

    /// Every show's id (metrics walk them at scrape time).
    pub fn ids(&self) -> Vec<ShowId> {
        self.shows.read().keys().copied().collect()
    }

    /// Replaces every entry with what the store held when `changes` was read
    /// (another node may have changed the catalog), unless this node changed an entry
    /// since: the next refresh takes both.
    pub fn replace_all(&self, bundles: Vec<ShowBundle>, changes: u64) {
        let mut shows = self.shows.write();
        if self.changes() == changes {
            *shows = bundles
                .into_iter()
                .map(|b| (b.show.id, Arc::new(b)))
                .collect();
        }
    }

    pub fn remove(&self, id: ShowId) {
        self.shows.write().remove(&id);
        self.changed();
    }
}
