//! The Redis engine of the scaled mode: every show's counters, holds and seats live in
//! Redis and change only through Lua scripts that apply the in-process engine's rules
//! in one atomic step, so any number of API nodes can sell from one inventory.
//!
//! The store stays the source of truth. The state is written from it at start-up and
//! again whenever Redis is found to have lost it (its epoch key is gone): new holds
//! are refused meanwhile, and the rebuild waits until every hold already granted is
//! recorded or released, so the record it reads misses none.
mod image;
mod scripts;

use super::local::LocalInventory;
use super::{Grant, Hold, Inventory, Restore, SeatStates, ShowCounts};
use crate::telemetry::metrics::names;
use async_trait::async_trait;
use boxoffice_domain::seating::{SeatError, SeatMap, SeatState, SeatStock};
use boxoffice_domain::stock::{Selection, StockError, Taken, ZoneCounts};
use boxoffice_domain::{BookingId, ShowId, Timestamp, UserId, ZoneId};
use image::ShowImage;
use parking_lot::{Mutex, RwLock};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, RedisError};
use scripts::{Scripts, ShowKeys, EPOCH, NODES, PREFIX, REBUILDING, SHOWS};
use std::collections::HashMap;
use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Times a best-available order is placed again when another node's buyer took one of
/// the chosen seats between the read and the take.
const BEST_AVAILABLE_TRIES: usize = 8;

#[derive(Clone, Debug)]
pub struct RedisSettings {
    /// `redis://[:password@]host:port[/db]`.
    pub url: String,
    /// Multiplexed connections the engine spreads calls over.
    pub connections: usize,
    /// A call (or a connection attempt) that takes longer fails; nothing is granted.
    pub timeout: Duration,
}

/// The epoch in Redis as this node sees it.
enum Epoch {
    /// The one this node wrote or adopted.
    Known,
    /// Written by another node's rebuild.
    Other(String),
    /// Gone: Redis lost the state.
    Missing,
}

/// How a script answered, beyond the rules' own refusals.
enum Verdict {
    Refused(StockError),
    /// Redis does not know the show: lost state, or a show that does not exist.
    NoShow,
    /// Nothing is held (or sold) under this booking any more.
    Gone,
}

pub struct RedisInventory {
    connections: Vec<ConnectionManager>,
    next: AtomicUsize,
    scripts: Scripts,
    /// Seat maps of seated shows: the rules about a seat that do not change (its zone,
    /// whether it is for sale) are checked here, its state in Redis.
    maps: RwLock<HashMap<ShowId, Arc<SeatMap>>>,
    /// Best-available orders of one show are placed one at a time on this node, so
    /// its own buyers never pick the same block; only other nodes' can race them.
    placing: Mutex<HashMap<ShowId, Arc<tokio::sync::Mutex<()>>>>,
    /// Grants hold it shared; a rebuild takes it alone.
    gate: Arc<tokio::sync::RwLock<()>>,
    /// The epoch this node wrote or adopted.
    epoch: Mutex<Option<String>>,
    /// Redis lost the state: refuse holds until it is rebuilt.
    lost: AtomicBool,
    timeout: Duration,
    /// This process among the nodes sharing the inventory (`bo:nodes`).
    node: String,
}

/// A node that has not announced itself for this long is gone.
const NODE_SILENCE_MS: i64 = 3_000;

impl RedisInventory {
    pub async fn connect(settings: &RedisSettings) -> anyhow::Result<Self> {
        let client = redis::Client::open(settings.url.as_str())?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(settings.timeout)
            .set_connection_timeout(settings.timeout)
            .set_number_of_retries(3)
            .set_max_delay(500);
        let mut connections = Vec::with_capacity(settings.connections.max(1));
        for _ in 0..settings.connections.max(1) {
            connections
                .push(ConnectionManager::new_with_config(client.clone(), config.clone()).await?);
        }
        let engine = Self {
            connections,
            next: AtomicUsize::new(0),
            scripts: Scripts::new(),
            maps: RwLock::default(),
            placing: Mutex::default(),
            gate: Arc::default(),
            epoch: Mutex::default(),
            lost: AtomicBool::new(false),
            timeout: settings.timeout,
            node: uuid::Uuid::now_v7().to_string(),
        };
        // Loaded once here; `EVALSHA` finds them from now on (and reloads on NOSCRIPT).
        let mut con = engine.connection();
        for script in engine.scripts.all() {
            script.prepare_invoke().load_async(&mut con).await?;
        }
        Ok(engine)
    }

    fn connection(&self) -> ConnectionManager {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        self.connections[i].clone()
    }

    /// Runs one script and times it.
    async fn call<T: redis::FromRedisValue>(
        &self,
        op: &'static str,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StockError> {
        let started = Instant::now();
        let mut con = self.connection();
        let reply = invocation.invoke_async(&mut con).await;
        metrics::histogram!(names::REDIS_OPERATION, "op" => op)
            .record(started.elapsed().as_secs_f64());
        reply.map_err(|e| unreachable(op, &e))
    }

    /// Runs a script that changes a show and answers with a verdict.
    async fn change(
        &self,
        op: &'static str,
        script: &redis::Script,
        keys: &[&str],
        args: &[String],
    ) -> Result<Result<(), Verdict>, StockError> {
        let mut invocation = script.prepare_invoke();
        for k in keys {
            invocation.key(*k);
        }
        for a in args {
            invocation.arg(a.as_str());
        }
        let reply: Vec<i64> = self.call(op, &invocation).await?;
        Ok(verdict(&reply))
    }

    /// The epoch Redis holds now, against the one this node knows.
    async fn epoch(&self) -> Result<Epoch, RedisError> {
        let mut con = self.connection();
        let current: Option<String> = con.get(EPOCH).await?;
        Ok(match current {
            None => Epoch::Missing,
            Some(e) if self.epoch.lock().as_deref() == Some(e.as_str()) => Epoch::Known,
            Some(e) => Epoch::Other(e),
        })
    }

    /// What a refusal means when Redis did not know the show: lost state (rebuild,
    /// answer "unavailable") or a show that does not exist.
    async fn no_show(&self) -> StockError {
        match self.epoch().await {
            Ok(Epoch::Known) => StockError::UnknownZone,
            Ok(_) => {
                self.mark_lost();
                StockError::Unavailable
            }
            Err(e) => unreachable("epoch", &e),
        }
    }

    fn mark_lost(&self) {
        if !self.lost.swap(true, Ordering::SeqCst) {
            tracing::error!("the Redis inventory lost its state; holds are refused until it is rebuilt from the store");
        }
    }

    /// Waits for a rebuild in progress (up to the call timeout); refuses at once when
    /// the state is known lost.
    async fn admit(&self) -> Result<tokio::sync::OwnedRwLockReadGuard<()>, StockError> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(StockError::Unavailable);
        }
        tokio::time::timeout(self.timeout, self.gate.clone().read_owned())
            .await
            .map_err(|_| StockError::Unavailable)
    }

    /// Takes the seat maps as the store has them now (another node may have seated
    /// a show since this one started).
    pub fn know_maps(&self, maps: Vec<(ShowId, Arc<SeatMap>)>) {
        *self.maps.write() = maps.into_iter().collect();
    }

    fn map(&self, show: ShowId) -> Option<Arc<SeatMap>> {
        self.maps.read().get(&show).cloned()
    }

    /// Takes `items` for `hold` in one script call.
    async fn take(&self, hold: &Hold, items: &[Taken], limit: u32) -> Result<Grant, StockError> {
        let guard = self.admit().await?;
        let keys = ShowKeys::of(hold.show);
        let args = [
            hold.booking.to_string(),
            hold.buyer.to_string(),
            hold.expires_at.millis().to_string(),
            limit.to_string(),
            encode(items),
        ];
        match self
            .change("reserve", &self.scripts.reserve, &keys.all(), &args)
            .await?
        {
            Ok(()) => Ok(Grant::gated(guard)),
            Err(Verdict::Refused(e)) => Err(e),
            Err(Verdict::NoShow) => Err(self.no_show().await),
            Err(Verdict::Gone) => Err(StockError::Inconsistent),
        }
    }

    /// Ends a hold or a sale: `release`, `confirm` or `return`.
    async fn settle(&self, hold: &Hold, mode: &'static str) -> Result<(), StockError> {
        let _guard = self.admit().await?;
        let keys = ShowKeys::of(hold.show);
        let args = [
            hold.booking.to_string(),
            mode.to_owned(),
            hold.zone.to_string(),
            hold.buyer.to_string(),
            hold.quantity.to_string(),
        ];
        match self
            .change(mode, &self.scripts.settle, &keys.all(), &args)
            .await?
        {
            Ok(()) => Ok(()),
            // Released twice (a retry, or a rebuild that already left it out).
            Err(Verdict::Gone) if mode == "release" => Ok(()),
            Err(Verdict::Gone) => Err(StockError::Inconsistent),
            Err(Verdict::Refused(e)) => Err(e),
            Err(Verdict::NoShow) => Err(self.no_show().await),
        }
    }

    /// The live seat states of a seated show.
    async fn seat_stock(&self, show: ShowId, map: &Arc<SeatMap>) -> Result<SeatStock, StockError> {
        let keys = ShowKeys::of(show);
        let mut invocation = self.scripts.seats.prepare_invoke();
        invocation.key(&keys.seats).key(&keys.meta).arg("");
        let reply: Option<(u64, Vec<u8>)> = self.call("seats", &invocation).await?;
        let (version, bytes) = reply.ok_or(StockError::UnknownZone)?;
        let states = decode_seats(&bytes).ok_or(StockError::Inconsistent)?;
        SeatStock::from_states(map.clone(), states, version).ok_or(StockError::Inconsistent)
    }

    /// Adds `show` to the set `due` walks.
    async fn enlist(&self, show: ShowId) -> Result<(), StockError> {
        let mut con = self.connection();
        con.sadd::<_, _, ()>(SHOWS, show.to_string())
            .await
            .map_err(|e| unreachable("enlist", &e))
    }

    /// Checks that Redis still holds the state this node knows; when it lost it,
    /// rebuilds it from what `load` reads from the store, or adopts the state another
    /// node rebuilt. Returns whether this node rebuilt.
    pub async fn recover<F, Fut>(&self, load: F) -> anyhow::Result<bool>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<Restore>>,
    {
        self.beat().await?;
        match self.epoch().await? {
            Epoch::Known => return Ok(false),
            Epoch::Other(e) => {
                // Another node rebuilt it: what is there is the record's state.
                tracing::info!(epoch = %e, "the Redis inventory was rebuilt by another node; adopting it");
                *self.epoch.lock() = Some(e);
                self.lost.store(false, Ordering::SeqCst);
                return Ok(false);
            }
            Epoch::Missing => self.mark_lost(),
        }
        let mut con = self.connection();
        // No new grant passes `admit` now; this waits for those already out.
        let _alone = self.gate.write().await;
        // One node rebuilds; the others adopt its epoch at their next check.
        let won: Option<String> = redis::cmd("SET")
            .arg(REBUILDING)
            .arg(&self.node)
            .arg("NX")
            .arg("PX")
            .arg(60_000)
            .query_async(&mut con)
            .await?;
        if won.is_none() {
            return Ok(false);
        }
        // Another node may have finished a rebuild between our check and the lock.
        if con.exists::<_, bool>(EPOCH).await? {
            let _: Result<(), _> = con.del(REBUILDING).await;
            return Ok(false);
        }
        let started = Instant::now();
        // Holds other nodes granted just before the loss are being recorded: they
        // stopped granting when they saw it; give their commits time to land.
        tokio::time::sleep(self.timeout).await;
        let state = load().await?;
        let written = self.write(&state).await;
        let _: Result<(), _> = con.del(REBUILDING).await;
        written?;
        metrics::counter!(names::INVENTORY_REBUILDS).increment(1);
        tracing::warn!(
            shows = state.shows.len(),
            pending_holds = state.snapshot.pending.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "the Redis inventory was rebuilt from the store"
        );
        Ok(true)
    }

    /// Announces this node (`bo:nodes`), so a node starting knows others are selling.
    async fn beat(&self) -> Result<(), RedisError> {
        let mut con = self.connection();
        let now = redis_millis(&mut con).await?;
        con.hset::<_, _, _, ()>(NODES, &self.node, now).await
    }

    /// Whether another node is selling: one announced itself within
    /// [`NODE_SILENCE_MS`] and announces itself again while this one waits (a node
    /// killed a moment ago, this process's previous life perhaps, does not).
    async fn others_alive(&self) -> Result<bool, RedisError> {
        let mut con = self.connection();
        let beats = |nodes: HashMap<String, i64>, now: i64| -> HashMap<String, i64> {
            nodes
                .into_iter()
                .filter(|(node, beat)| *node != self.node && now - beat < NODE_SILENCE_MS)
                .collect()
        };
        let now = redis_millis(&mut con).await?;
        let before = beats(con.hgetall(NODES).await?, now);
        if before.is_empty() {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let now = redis_millis(&mut con).await?;
        let after = beats(con.hgetall(NODES).await?, now);
        Ok(after
            .iter()
            .any(|(node, beat)| before.get(node).is_none_or(|b| beat > b)))
    }

    /// Replaces everything under the engine's prefix with `state`.
    async fn write(&self, state: &Restore) -> anyhow::Result<()> {
        let rebuilt = LocalInventory::rebuild(state)?;
        let mut con = self.connection();
        let mut cursor: u64 = 0;
        loop {
            // Only the inventory's keys: rate limits and the nodes' beats stay.
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{PREFIX}{{show:*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut con)
                .await?;
            if !keys.is_empty() {
                con.unlink::<_, ()>(keys).await?;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        con.del::<_, ()>(SHOWS).await?;
        for (show, s) in rebuilt.export() {
            let mut pipe = redis::pipe();
            ShowImage::of(&s).write(&ShowKeys::of(show), &mut pipe);
            pipe.sadd(SHOWS, show.to_string()).ignore();
            pipe.query_async::<()>(&mut con).await?;
        }
        self.know_maps(state.maps.clone());
        let epoch = uuid::Uuid::now_v7().to_string();
        con.set::<_, _, ()>(EPOCH, &epoch).await?;
        *self.epoch.lock() = Some(epoch);
        self.lost.store(false, Ordering::SeqCst);
        Ok(())
    }
}

#[async_trait]
impl Inventory for RedisInventory {
    async fn set_capacity(
        &self,
        show: ShowId,
        zone: ZoneId,
        capacity: u32,
    ) -> Result<(), StockError> {
        if let Some(map) = self.map(show) {
            if map
                .zones()
                .any(|(z, sellable)| z == zone && sellable != capacity)
            {
                return Err(StockError::SeatedCapacity);
            }
        }
        let keys = ShowKeys::of(show);
        let args = [zone.to_string(), capacity.to_string()];
        match self
            .change(
                "capacity",
                &self.scripts.capacity,
                &[&keys.zones, &keys.meta],
                &args,
            )
            .await?
        {
            Ok(()) => self.enlist(show).await,
            Err(Verdict::Refused(e)) => Err(e),
            Err(_) => Err(StockError::Inconsistent),
        }
    }

    async fn remove_zone(&self, show: ShowId, zone: ZoneId) -> Result<(), StockError> {
        let keys = ShowKeys::of(show);
        match self
            .change(
                "remove_zone",
                &self.scripts.remove,
                &keys.all(),
                &[zone.to_string()],
            )
            .await?
        {
            Ok(()) => Ok(()),
            Err(Verdict::Refused(e)) => Err(e),
            Err(_) => Err(StockError::UnknownZone),
        }
    }

    async fn remove_show(&self, show: ShowId) -> Result<(), StockError> {
        let keys = ShowKeys::of(show);
        match self
            .change("remove_show", &self.scripts.remove, &keys.all(), &[])
            .await?
        {
            Ok(()) => {
                self.maps.write().remove(&show);
                let mut con = self.connection();
                con.srem::<_, _, ()>(SHOWS, show.to_string())
                    .await
                    .map_err(|e| unreachable("remove_show", &e))
            }
            Err(Verdict::Refused(e)) => Err(e),
            Err(_) => Err(StockError::Inconsistent),
        }
    }

    async fn reserve(
        &self,
        hold: &Hold,
        selection: &Selection,
        limit: u32,
    ) -> Result<Grant, StockError> {
        let Selection::Quantity(n) = *selection else {
            return Err(StockError::NotSeated);
        };
        if self.map(hold.show).is_some_and(|m| m.is_seated(hold.zone)) {
            return Err(StockError::SeatsRequired);
        }
        let item = Taken {
            zone: hold.zone,
            quantity: n,
            seats: Vec::new(),
        };
        self.take(hold, &[item], limit).await
    }

    async fn reserve_items(
        &self,
        hold: &Hold,
        items: &[(ZoneId, Selection)],
        limit: u32,
    ) -> Result<(Vec<Taken>, Grant), StockError> {
        let map = self.map(hold.show);
        let seated = |zone: ZoneId| map.as_ref().is_some_and(|m| m.is_seated(zone));
        let best = items
            .iter()
            .any(|(_, s)| matches!(s, Selection::BestAvailable(_)));
        let placing = best.then(|| self.placing.lock().entry(hold.show).or_default().clone());
        let _placing = match &placing {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            // Best available is placed on a fresh read of the seats; the script then
            // takes exactly those seats or refuses if one went meanwhile.
            let mut live = match (&map, best) {
                (Some(m), true) => Some(self.seat_stock(hold.show, m).await?),
                _ => None,
            };
            let mut taken = Vec::with_capacity(items.len());
            for (zone, selection) in items {
                let seats = match selection {
                    Selection::Quantity(_) if seated(*zone) => {
                        return Err(StockError::SeatsRequired)
                    }
                    Selection::Quantity(_) => Vec::new(),
                    Selection::Seats(_) | Selection::BestAvailable(_) if !seated(*zone) => {
                        return Err(StockError::NotSeated)
                    }
                    Selection::Seats(seats) => {
                        if let Some(m) = &map {
                            m.check_request(*zone, seats)?;
                        }
                        if let Some(stock) = live.as_mut() {
                            stock.hold(seats);
                        }
                        seats.clone()
                    }
                    Selection::BestAvailable(n) => {
                        let stock = live.as_mut().ok_or(StockError::NotSeated)?;
                        let (free, _, _) = stock.tally(*zone);
                        if *n > free {
                            return Err(StockError::SoldOut { available: free });
                        }
                        let seats = stock
                            .best_available(*zone, *n)
                            .ok_or(StockError::NoAdjacentSeats { wanted: *n })?;
                        stock.hold(&seats);
                        seats
                    }
                };
                taken.push(Taken {
                    zone: *zone,
                    quantity: selection.count(),
                    seats,
                });
            }
            match self.take(hold, &taken, limit).await {
                Ok(grant) => return Ok((taken, grant)),
                Err(StockError::Seat(SeatError::Taken { .. }))
                    if best && attempt < BEST_AVAILABLE_TRIES => {}
                Err(e) => return Err(e),
            }
        }
    }

    async fn set_seating(&self, show: ShowId, map: Arc<SeatMap>) -> Result<(), StockError> {
        let mut touched: Vec<String> = map.zones().map(|(z, _)| z.to_string()).collect();
        if let Some(old) = self.map(show) {
            touched.extend(old.zones().map(|(z, _)| z.to_string()));
        }
        let mut args = vec![touched.len().to_string()];
        args.extend(touched);
        let sellable: Vec<(ZoneId, u32)> = map.zones().collect();
        args.push(sellable.len().to_string());
        for (zone, n) in sellable {
            args.push(zone.to_string());
            args.push(n.to_string());
        }
        let initial = SeatStock::new(map.clone());
        args.push(encode_seats(initial.states()));
        let keys = ShowKeys::of(show);
        match self
            .change(
                "seating",
                &self.scripts.seating,
                &[&keys.zones, &keys.seats, &keys.meta],
                &args,
            )
            .await?
        {
            Ok(()) => {
                self.maps.write().insert(show, map);
                self.enlist(show).await
            }
            Err(Verdict::Refused(e)) => Err(e),
            Err(_) => Err(StockError::Inconsistent),
        }
    }

    async fn seat_states(&self, show: ShowId, known: Option<u64>) -> Option<SeatStates> {
        self.map(show)?;
        let keys = ShowKeys::of(show);
        let mut invocation = self.scripts.seats.prepare_invoke();
        invocation
            .key(&keys.seats)
            .key(&keys.meta)
            .arg(known.map(|v| v.to_string()).unwrap_or_default());
        let reply: Option<Vec<redis::Value>> = self.call("seats", &invocation).await.ok()?;
        let reply = reply?;
        let version: u64 = redis::from_redis_value(reply.first()?).ok()?;
        let states = match reply.get(1) {
            Some(v) => decode_seats(&redis::from_redis_value::<Vec<u8>>(v).ok()?)?,
            None => Vec::new(),
        };
        Some(SeatStates { version, states })
    }

    async fn release(&self, hold: &Hold) -> Result<(), StockError> {
        self.settle(hold, "release").await
    }

    async fn confirm(&self, hold: &Hold) -> Result<(), StockError> {
        self.settle(hold, "confirm").await
    }

    async fn return_sold(&self, hold: &Hold) -> Result<(), StockError> {
        self.settle(hold, "return").await
    }

    async fn forget(&self, hold: &Hold) {
        let keys = ShowKeys::of(hold.show);
        let mut con = self.connection();
        if let Err(e) = con
            .zrem::<_, _, ()>(&keys.deadlines, hold.booking.to_string())
            .await
        {
            unreachable("forget", &e);
        }
    }

    async fn due(&self, now: Timestamp, max: usize) -> Vec<Hold> {
        match self.due_holds(now, max).await {
            Ok(due) => due,
            Err(e) => {
                unreachable("due", &e);
                Vec::new()
            }
        }
    }

    async fn counts(&self, show: ShowId) -> Option<ShowCounts> {
        let keys = ShowKeys::of(show);
        let mut invocation = self.scripts.counts.prepare_invoke();
        invocation
            .key(&keys.zones)
            .key(&keys.deadlines)
            .key(&keys.meta);
        type Reply = Option<(Vec<String>, usize, u64)>;
        let (flat, pending_holds, version) =
            self.call::<Reply>("counts", &invocation).await.ok()??;
        Some(ShowCounts {
            zones: zone_counts(&flat),
            pending_holds,
            version,
        })
    }

    async fn max_per_buyer(&self, show: ShowId) -> Option<u32> {
        let started = Instant::now();
        let mut con = self.connection();
        let owned: Result<Vec<u32>, _> = con.hvals(&ShowKeys::of(show).buyers).await;
        metrics::histogram!(names::REDIS_OPERATION, "op" => "max_per_buyer")
            .record(started.elapsed().as_secs_f64());
        match owned {
            Ok(owned) => Some(owned.into_iter().max().unwrap_or(0)),
            Err(e) => {
                unreachable("max_per_buyer", &e);
                None
            }
        }
    }

    async fn restore(&self, state: &Restore) -> anyhow::Result<()> {
        let _alone = self.gate.write().await;
        match self.epoch().await? {
            // Other nodes sell from it now: rewriting would drop their fresh holds.
            Epoch::Other(e) if self.others_alive().await? => {
                tracing::info!(epoch = %e, "joining the live Redis inventory of the other nodes");
                self.know_maps(state.maps.clone());
                *self.epoch.lock() = Some(e);
            }
            // Alone: whatever is there (holds of a node that died before recording
            // them) gives way to the record.
            _ => self.write(state).await?,
        }
        self.beat().await?;
        Ok(())
    }

    async fn repair(&self, show: ShowId, state: &Restore, seen: u64) -> anyhow::Result<bool> {
        let rebuilt = LocalInventory::rebuild(state)?;
        let Some((_, image)) = rebuilt.export().into_iter().find(|(id, _)| *id == show) else {
            return Ok(false);
        };
        let keys = ShowKeys::of(show);
        let args = [
            seen.to_string(),
            serde_json::to_string(&ShowImage::of(&image))?,
        ];
        let reply = self
            .change("repair", &self.scripts.replace, &keys.all(), &args)
            .await?;
        Ok(reply.is_ok())
    }

    fn shared(&self) -> bool {
        true
    }

    async fn probe(&self) -> Option<Result<(), String>> {
        let lost = || Err("Redis lost the live inventory; rebuilding it from the store".to_owned());
        if self.lost.load(Ordering::SeqCst) {
            return Some(lost());
        }
        // The epoch answers both questions: does Redis answer, and does it still
        // hold the state.
        Some(match self.epoch().await {
            Ok(Epoch::Missing) => {
                self.mark_lost();
                lost()
            }
            Ok(_) => Ok(()),
            Err(e) => Err(format!("Redis does not answer: {e}")),
        })
    }
}

impl RedisInventory {
    async fn due_holds(&self, now: Timestamp, max: usize) -> Result<Vec<Hold>, RedisError> {
        let started = Instant::now();
        let mut con = self.connection();
        let shows: Vec<String> = con.smembers(SHOWS).await?;
        let shows: Vec<ShowId> = shows
            .iter()
            .filter_map(|s| ShowId::from_str(s).ok())
            .collect();
        let mut pipe = redis::pipe();
        for show in &shows {
            pipe.zrangebyscore_limit(
                &ShowKeys::of(*show).deadlines,
                "-inf",
                now.millis(),
                0,
                max as isize,
            );
        }
        let due: Vec<Vec<String>> = pipe.query_async(&mut con).await?;
        let mut pipe = redis::pipe();
        let mut asked = Vec::new();
        for (show, bookings) in shows.iter().zip(due) {
            if !bookings.is_empty() {
                pipe.cmd("HMGET")
                    .arg(&ShowKeys::of(*show).records)
                    .arg(&bookings);
                asked.push((*show, bookings));
            }
        }
        let mut out = Vec::new();
        if !asked.is_empty() {
            let records: Vec<Vec<Option<String>>> = pipe.query_async(&mut con).await?;
            for ((show, bookings), records) in asked.into_iter().zip(records) {
                for (booking, record) in bookings.iter().zip(records) {
                    let hold = BookingId::from_str(booking)
                        .ok()
                        .zip(record)
                        .and_then(|(id, r)| parse_hold(show, id, &r));
                    match hold {
                        Some(h) => out.push(h),
                        None => {
                            tracing::warn!(%show, booking, "a deadline without a readable hold record")
                        }
                    }
                }
            }
        }
        metrics::histogram!(names::REDIS_OPERATION, "op" => "due")
            .record(started.elapsed().as_secs_f64());
        out.sort_by_key(|h| (h.expires_at, h.booking));
        out.truncate(max);
        Ok(out)
    }
}

/// Redis's clock, so that nodes compare beats on one clock.
async fn redis_millis(con: &mut ConnectionManager) -> Result<i64, RedisError> {
    let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(con).await?;
    Ok(secs * 1000 + micros / 1000)
}

fn unreachable(op: &'static str, e: &RedisError) -> StockError {
    tracing::warn!(op, error = %e, "the Redis inventory did not answer");
    StockError::Unavailable
}

fn verdict(reply: &[i64]) -> Result<(), Verdict> {
    let arg = |i: usize| {
        reply
            .get(i)
            .and_then(|v| u32::try_from(*v).ok())
            .unwrap_or(0)
    };
    Err(match reply.first() {
        Some(0) => return Ok(()),
        Some(1) => Verdict::Refused(StockError::SoldOut { available: arg(1) }),
        Some(2) => Verdict::Refused(StockError::LimitReached {
            owned: arg(1),
            limit: arg(2),
        }),
        Some(3) => Verdict::Refused(StockError::UnknownZone),
        Some(5) => Verdict::Refused(StockError::Seat(SeatError::Taken { seat: arg(1) })),
        Some(6) => Verdict::Refused(StockError::Seat(SeatError::Blocked { seat: arg(1) })),
        Some(7) => Verdict::NoShow,
        Some(8) => Verdict::Gone,
        Some(9) => Verdict::Refused(StockError::BelowCommitted {
            capacity: arg(1),
            committed: arg(2),
        }),
        Some(10) => Verdict::Refused(StockError::InUse { committed: arg(1) }),
        Some(12) => Verdict::Refused(StockError::SeatsRequired),
        Some(13) => Verdict::Refused(StockError::NotSeated),
        _ => Verdict::Refused(StockError::Inconsistent),
    })
}

/// `zone:qty:seat,seat;…`, as the scripts read it and records keep it.
fn encode(items: &[Taken]) -> String {
    items
        .iter()
        .map(|t| {
            let seats: Vec<String> = t.seats.iter().map(u32::to_string).collect();
            format!("{}:{}:{}", t.zone, t.quantity, seats.join(","))
        })
        .collect::<Vec<_>>()
        .join(";")
}

fn decode(items: &str) -> Option<Vec<Taken>> {
    items
        .split(';')
        .filter(|s| !s.is_empty())
        .map(|item| {
            let mut parts = item.splitn(3, ':');
            let zone = ZoneId::from_str(parts.next()?).ok()?;
            let quantity = parts.next()?.parse().ok()?;
            let seats = parts
                .next()?
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            Some(Taken {
                zone,
                quantity,
                seats,
            })
        })
        .collect()
}

/// A pending hold from its record `H|buyer|expires|items`.
fn parse_hold(show: ShowId, booking: BookingId, record: &str) -> Option<Hold> {
    let mut parts = record.splitn(4, '|');
    if parts.next()? != "H" {
        return None;
    }
    let buyer = UserId::from_str(parts.next()?).ok()?;
    let expires_at = Timestamp::from_millis(parts.next()?.parse().ok()?);
    let items = decode(parts.next()?)?;
    Some(Hold {
        booking,
        show,
        zone: items.first()?.zone,
        buyer,
        quantity: items.iter().map(|t| t.quantity).sum(),
        expires_at,
    })
}

fn encode_seats(states: &[SeatState]) -> String {
    states.iter().map(|s| char::from(s.code())).collect()
}

fn decode_seats(bytes: &[u8]) -> Option<Vec<SeatState>> {
    bytes.iter().map(|b| SeatState::from_code(*b)).collect()
}

/// Zone counters from the flat `HGETALL` of a show's zones hash.
fn zone_counts(flat: &[String]) -> Vec<(ZoneId, ZoneCounts)> {
    let mut zones: HashMap<ZoneId, ZoneCounts> = HashMap::new();
    for pair in flat.chunks_exact(2) {
        let Some((zone, field)) = pair[0].rsplit_once(':') else {
            continue;
        };
        let (Ok(zone), Ok(value)) = (ZoneId::from_str(zone), pair[1].parse::<u32>()) else {
            continue;
        };
        let c = zones.entry(zone).or_default();
        match field {
            "c" => c.capacity = value,
            "h" => c.held = value,
            "s" => c.sold = value,
            _ => {}
        }
    }
    let mut zones: Vec<_> = zones.into_iter().collect();
    zones.sort_by_key(|(id, _)| *id);
    zones
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_survive_their_encoding() {
        let items = vec![
            Taken {
                zone: ZoneId::new(),
                quantity: 2,
                seats: Vec::new(),
            },
            Taken {
                zone: ZoneId::new(),
                quantity: 3,
                seats: vec![4, 5, 6],
            },
        ];
        assert_eq!(decode(&encode(&items)), Some(items.clone()));
        let (show, booking, buyer) = (ShowId::new(), BookingId::new(), UserId::new());
        let hold = parse_hold(show, booking, &format!("H|{buyer}|1234|{}", encode(&items)))
            .expect("a held record parses");
        assert_eq!(hold.quantity, 5);
        assert_eq!(hold.zone, items[0].zone);
        assert_eq!(hold.expires_at, Timestamp::from_millis(1234));
        assert!(parse_hold(show, booking, &format!("S|{buyer}|1|{}", encode(&items))).is_none());
    }

    #[test]
    fn verdicts_name_the_rule() {
        assert!(verdict(&[0]).is_ok());
        assert!(matches!(
            verdict(&[1, 3]),
            Err(Verdict::Refused(StockError::SoldOut { available: 3 }))
        ));
        assert!(matches!(
            verdict(&[2, 4, 4]),
            Err(Verdict::Refused(StockError::LimitReached {
                owned: 4,
                limit: 4
            }))
        ));
        assert!(matches!(verdict(&[7]), Err(Verdict::NoShow)));
        assert!(matches!(verdict(&[8]), Err(Verdict::Gone)));
        assert!(matches!(
            verdict(&[99]),
            Err(Verdict::Refused(StockError::Inconsistent))
        ));
    }
}
