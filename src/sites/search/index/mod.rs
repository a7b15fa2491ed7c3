//! The search index: every site's searchable values in memory, as one bitmap of sites per value
//! (per state, modality, payment, offer property, word, grid cell, ...), so that any combination
//! of filters is an intersection, a total is a count and each facet is a count per value, whatever
//! filters are combined (docs/search.md).
//!
//! PostgreSQL stays the only source of truth. The index is built from it when first needed
//! ([`SearchIndex::ready`]), then kept in step from its change feed: every write to a site records
//! the writing transaction's id (`site.index_xid`, deletions in `site_removal`), and
//! [`SearchIndex::catch_up`] reads the rows written by the transactions that had not finished the
//! last time it looked. It runs after every write through this instance (so a client reads its own
//! writes) and every [`SYNC_EVERY`] in the background (so writes through other instances, or
//! straight to the database, show within about that long).

mod doc;
pub(crate) mod grid;
mod order;
pub(crate) mod run;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, Weak};
use std::time::{Duration, Instant};

use roaring::RoaringBitmap;
use sqlx::PgPool;
use uuid::Uuid;

use crate::vocabulary::{Accepts, CodeSet, Modality, Schedule, SiteStatus};
use doc::{Doc, INDEX_COLUMNS, IndexRow, Interner, name_order};
use grid::Grid;
use order::Order;

/// How often the index reads the change feed when no write through this instance made it.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// Rows read from PostgreSQL per statement while building.
const LOAD_BATCH: i64 = 20_000;

/// The index, shared by every request of the process.
pub struct SearchIndex {
    inner: RwLock<Inner>,
    built: tokio::sync::OnceCell<()>,
    /// Whether a build has begun.
    started: std::sync::atomic::AtomicBool,
    /// Held while reading the change feed; the oldest transaction id that had not finished when
    /// it was last read (every change of an older transaction is in the index).
    feed: tokio::sync::Mutex<i64>,
    /// Bumped by every change applied: with `nonce`, names the index's state in entity tags.
    version: AtomicU64,
    nonce: u64,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("version", &self.version.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Default for SearchIndex {
    fn default() -> Self {
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).expect("the operating system's random source");
        Self {
            inner: RwLock::new(Inner::default()),
            built: tokio::sync::OnceCell::new(),
            started: std::sync::atomic::AtomicBool::new(false),
            feed: tokio::sync::Mutex::new(0),
            version: AtomicU64::new(0),
            nonce: u64::from_le_bytes(nonce),
        }
    }
}

/// A failure to reach the database while building or catching up.
pub type SyncError = sqlx::Error;

impl SearchIndex {
    /// The index, built from `pool` on first use (later callers wait for the build), with a
    /// background task that keeps it in step for as long as the index lives.
    pub async fn ready(self: &Arc<Self>, pool: &PgPool) -> Result<(), SyncError> {
        self.started.store(true, Ordering::Release);
        let built = self
            .built
            .get_or_try_init(|| async {
                self.build(pool).await?;
                spawn_sync(Arc::downgrade(self), pool.clone());
                Ok::<(), SyncError>(())
            })
            .await;
        if built.is_err() && !self.is_built() {
            // Not building any more: the next search tries again, and readiness says why not.
            self.started.store(false, Ordering::Release);
        }
        built.map(|_| ())
    }

    /// Whether the index has been built.
    pub fn is_built(&self) -> bool {
        self.built.initialized()
    }

    /// Whether a build has begun and not finished (the service is not ready yet).
    pub fn is_building(&self) -> bool {
        self.started.load(Ordering::Acquire) && !self.is_built()
    }

    /// The contents, to answer a search (never held across an `.await`).
    pub fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An opaque name of the index's current state, different after every change and in every
    /// process.
    pub fn state_tag(&self) -> String {
        format!("{:x}-{:x}", self.nonce, self.version.load(Ordering::Acquire))
    }

    /// Loads every site.
    async fn build(&self, pool: &PgPool) -> Result<(), SyncError> {
        let mut watermark = self.feed.lock().await;
        self.reload(pool, &mut watermark).await
    }

    /// Replaces the contents with every site as PostgreSQL has it now.
    async fn reload(&self, pool: &PgPool, watermark: &mut i64) -> Result<(), SyncError> {
        let started = Instant::now();
        let mut conn = pool.acquire().await?;
        // Taken before the rows: every transaction older than this has finished, so its rows are
        // read below; the next catch-up reads again what younger ones wrote.
        let next = snapshot_xmin(&mut conn).await?;
        let mut loaded = Inner::default();
        // Sized for the sites PostgreSQL counts (an estimate), so the sites are not copied while
        // they are read.
        let estimate: f32 =
            sqlx::query_scalar("select greatest(reltuples, 0)::float4 from pg_class where oid = 'site'::regclass")
                .fetch_one(&mut *conn)
                .await?;
        let mut docs = Vec::with_capacity(estimate as usize + 1024);
        let mut last = Uuid::nil();
        loop {
            let rows: Vec<IndexRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "select {INDEX_COLUMNS} from site s where s.site_id > $1 order by s.site_id limit $2"
            )))
            .bind(last)
            .bind(LOAD_BATCH)
            .fetch_all(&mut *conn)
            .await?;
            let Some(row) = rows.last() else { break };
            last = row.site_id;
            let done = (rows.len() as i64) < LOAD_BATCH;
            docs.extend(rows.into_iter().map(|row| Doc::new(row, &mut loaded.dictionary)));
            if done {
                break;
            }
        }
        drop(conn);
        docs.shrink_to_fit();
        loaded.load(docs);
        let sites = loaded.slots.len();
        {
            let mut inner = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            *inner = loaded;
            self.version.fetch_add(1, Ordering::AcqRel);
        }
        *watermark = next;
        tracing::info!(sites, seconds = started.elapsed().as_secs_f64(), "search index loaded");
        Ok(())
    }

    /// Applies every change committed since the last look. Does nothing before the index is built
    /// (the build reads everything).
    pub async fn catch_up(&self, pool: &PgPool) -> Result<(), SyncError> {
        if !self.is_built() {
            return Ok(());
        }
        let mut watermark = self.feed.lock().await;
        let mut conn = pool.acquire().await?;
        let next = snapshot_xmin(&mut conn).await?;
        let removed: Vec<(Uuid, i64)> =
            sqlx::query_as("select site_id, index_xid from site_removal where index_xid >= $1")
                .bind(*watermark)
                .fetch_all(&mut *conn)
                .await?;
        let rows: Vec<IndexRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {INDEX_COLUMNS} from site s where s.index_xid >= $1"
        )))
        .bind(*watermark)
        .fetch_all(&mut *conn)
        .await?;
        drop(conn);
        // The nil id stands for every site: `truncate site`, or a bulk load written with triggers
        // off (`site_derived_rebuild()`).
        if removed.iter().any(|(id, _)| id.is_nil()) {
            return self.reload(pool, &mut watermark).await;
        }
        {
            let mut inner = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut changed = false;
            for (site_id, xid) in removed {
                changed |= inner.remove(site_id, xid);
            }
            for row in rows {
                changed |= inner.upsert(row);
            }
            // Under the lock: a reader that sees the old tag sees the old contents or newer.
            if changed {
                self.version.fetch_add(1, Ordering::AcqRel);
            }
        }
        *watermark = next;
        Ok(())
    }
}

/// The oldest transaction id still running (every older transaction has committed or aborted).
async fn snapshot_xmin(conn: &mut sqlx::PgConnection) -> Result<i64, SyncError> {
    sqlx::query_scalar("select pg_snapshot_xmin(pg_current_snapshot())::text::int8")
        .fetch_one(conn)
        .await
}

/// Catches up every [`SYNC_EVERY`] until the index is dropped.
fn spawn_sync(index: Weak<SearchIndex>, pool: PgPool) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(SYNC_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(index) = index.upgrade() else { return };
            if pool.is_closed() {
                return;
            }
            if let Err(error) = index.catch_up(&pool).await {
                tracing::warn!(%error, "reading the search index's change feed failed; retrying");
            }
        }
    });
}

/// Interned words, cities and states.
#[derive(Debug, Default)]
pub(crate) struct Dictionary {
    words: HashMap<Box<str>, u32>,
    cities: HashMap<Box<str>, u32>,
    states: HashMap<Box<str>, u8>,
}

impl Interner for Dictionary {
    fn word(&mut self, word: &str) -> u32 {
        let next = self.words.len() as u32;
        *self.words.entry(word.into()).or_insert(next)
    }

    fn city(&mut self, lowered: &str) -> u32 {
        let next = self.cities.len() as u32;
        *self.cities.entry(lowered.into()).or_insert(next)
    }

    fn state(&mut self, state: &str) -> u8 {
        let next = self.states.len() as u8;
        *self.states.entry(state.into()).or_insert(next)
    }
}

/// One set of sites per value of everything search filters on.
#[derive(Debug, Default)]
pub(crate) struct Sets {
    pub live: RoaringBitmap,
    /// Not archived.
    pub listed: RoaringBitmap,
    pub located: RoaringBitmap,
    pub status: Values,
    pub site_type: Values,
    /// By [`doc::stated`] position (0: not stated).
    pub payment: Values,
    pub insurance: Values,
    pub hipaa: Values,
    pub housing: Values,
    pub schedule: Values,
    pub no_schedule: RoaringBitmap,
    /// Sites that charge, by stated fee.
    pub fee: BTreeMap<i32, RoaringBitmap>,
    pub state: Values,
    pub city: Values,
    pub zip5: HashMap<u32, RoaringBitmap>,
    pub word: Values,
    /// By modality position.
    pub modality: Values,
    /// Per modality: accepting no, yes.
    pub accepting: Vec<Values>,
    /// Per modality: verifier on site unknown, no, yes.
    pub verifier: Vec<Values>,
    /// Per modality: accepts none stated, then each [`Accepts`] position + 1.
    pub accepts: Vec<Values>,
}

/// Sets by a small integer value, grown on demand.
#[derive(Debug, Default)]
pub(crate) struct Values(Vec<RoaringBitmap>);

impl Values {
    fn with(n: usize) -> Self {
        Self(vec![RoaringBitmap::new(); n])
    }

    fn at(&mut self, value: usize) -> &mut RoaringBitmap {
        if self.0.len() <= value {
            self.0.resize(value + 1, RoaringBitmap::new());
        }
        &mut self.0[value]
    }

    /// The sites with `value` (none when no site ever had it).
    pub fn get(&self, value: usize) -> &RoaringBitmap {
        static EMPTY: std::sync::LazyLock<RoaringBitmap> = std::sync::LazyLock::new(RoaringBitmap::new);
        self.0.get(value).unwrap_or(&EMPTY)
    }

    fn optimize(&mut self) {
        for set in &mut self.0 {
            set.optimize();
        }
    }
}

/// The index's contents.
#[derive(Debug, Default)]
pub struct Inner {
    /// By slot; `None` for a site since removed.
    docs: Vec<Option<Doc>>,
    slots: HashMap<Uuid, u32>,
    pub(crate) dictionary: Dictionary,
    pub(crate) sets: Sets,
    pub(crate) grid: Grid,
    /// Slots in id order, name order, and `(updated_at, id)` order.
    by_id: Order,
    by_name: Order,
    by_updated: Order,
}

fn toggle(set: &mut RoaringBitmap, slot: u32, on: bool) {
    if on {
        set.insert(slot);
    } else {
        set.remove(slot);
    }
}

impl Inner {
    fn doc(&self, slot: u32) -> &Doc {
        self.docs[slot as usize]
            .as_ref()
            .expect("slots in sets and orders are live")
    }

    /// Fills an empty index with `docs`, slots in the order of where they are (so the sites of a
    /// region are near each other in every set, and a region is a few ranges).
    fn load(&mut self, mut docs: Vec<Doc>) {
        docs.sort_unstable_by_key(|doc| {
            let cell = doc.point.map_or((i32::MAX, i32::MAX), |(_, cell)| cell);
            ((cell.0.div_euclid(8), cell.1.div_euclid(8)), cell, doc.site_id)
        });
        self.sets = Sets {
            status: Values::with(SiteStatus::ALL.len()),
            modality: Values::with(Modality::ALL.len()),
            accepting: (0..Modality::ALL.len()).map(|_| Values::with(2)).collect(),
            verifier: (0..Modality::ALL.len()).map(|_| Values::with(3)).collect(),
            accepts: (0..Modality::ALL.len())
                .map(|_| Values::with(Accepts::ALL.len() + 1))
                .collect(),
            ..Sets::default()
        };
        // In place (the same allocation: `Option<Doc>` is a `Doc`'s size), not a second copy of
        // every site beside the first.
        self.docs = docs.into_iter().map(Some).collect();
        self.slots.reserve(self.docs.len());
        let docs = std::mem::take(&mut self.docs);
        for (slot, doc) in docs.iter().enumerate() {
            let Some(doc) = doc else { continue };
            let slot = slot as u32;
            self.mark(slot, doc, true);
            self.slots.insert(doc.site_id, slot);
        }
        self.docs = docs;
        let mut order: Vec<u32> = (0..self.docs.len() as u32).collect();
        order.sort_unstable_by_key(|slot| self.doc(*slot).site_id);
        self.by_id = Order::from_sorted(order.clone());
        order.sort_unstable_by(|a, b| self.name_cmp(*a, *b));
        self.by_name = Order::from_sorted(order.clone());
        order.sort_unstable_by_key(|slot| self.updated_key(*slot));
        self.by_updated = Order::from_sorted(order);
        self.optimize();
    }

    fn optimize(&mut self) {
        let sets = &mut self.sets;
        for values in [
            &mut sets.status,
            &mut sets.site_type,
            &mut sets.payment,
            &mut sets.insurance,
            &mut sets.hipaa,
            &mut sets.housing,
            &mut sets.schedule,
            &mut sets.state,
            &mut sets.city,
            &mut sets.word,
            &mut sets.modality,
        ] {
            values.optimize();
        }
        for per_modality in [&mut sets.accepting, &mut sets.verifier, &mut sets.accepts] {
            per_modality.iter_mut().for_each(Values::optimize);
        }
        for set in [
            &mut sets.live,
            &mut sets.listed,
            &mut sets.located,
            &mut sets.no_schedule,
        ] {
            set.optimize();
        }
        self.grid.optimize();
    }

    fn name_cmp(&self, a: u32, b: u32) -> std::cmp::Ordering {
        let (a, b) = (self.doc(a), self.doc(b));
        name_order((&a.name, a.site_id), (&b.name, b.site_id))
    }

    fn updated_key(&self, slot: u32) -> (i64, Uuid) {
        let doc = self.doc(slot);
        (doc.updated_at, doc.site_id)
    }

    /// Adds `doc` at `slot` to every set of its values, or takes it out of them.
    fn mark(&mut self, slot: u32, doc: &Doc, on: bool) {
        let s = &mut self.sets;
        toggle(&mut s.live, slot, on);
        if doc.status != doc::position(SiteStatus::Archived) {
            toggle(&mut s.listed, slot, on);
        }
        toggle(s.status.at(doc.status.into()), slot, on);
        toggle(s.site_type.at(doc.site_type.into()), slot, on);
        toggle(s.payment.at(doc.payment.into()), slot, on);
        toggle(s.insurance.at(doc.insurance.into()), slot, on);
        toggle(s.hipaa.at(doc.hipaa.into()), slot, on);
        toggle(s.housing.at(doc.housing.into()), slot, on);
        if doc.schedule == 0 {
            toggle(&mut s.no_schedule, slot, on);
        }
        for (i, _) in Schedule::ALL.iter().enumerate() {
            if doc.schedule & (1 << i) != 0 {
                toggle(s.schedule.at(i), slot, on);
            }
        }
        if let Some(fee) = doc.fee {
            let set = s.fee.entry(fee).or_default();
            toggle(set, slot, on);
            if set.is_empty() {
                s.fee.remove(&fee);
            }
        }
        toggle(s.state.at(doc.state.into()), slot, on);
        toggle(s.city.at(doc.city as usize), slot, on);
        let zip = s.zip5.entry(doc.zip5).or_default();
        toggle(zip, slot, on);
        if zip.is_empty() {
            s.zip5.remove(&doc.zip5);
        }
        for word in &doc.words {
            toggle(s.word.at(*word as usize), slot, on);
        }
        for offer in &doc.offers {
            let m = offer.modality();
            toggle(s.modality.at(m), slot, on);
            toggle(s.accepting[m].at(usize::from(offer.accepting())), slot, on);
            toggle(s.verifier[m].at(offer.verifier()), slot, on);
            let mut any = false;
            for a in offer.accepts() {
                any = true;
                toggle(s.accepts[m].at(a + 1), slot, on);
            }
            if !any {
                toggle(s.accepts[m].at(0), slot, on);
            }
        }
        if let Some((_, cell)) = doc.point {
            toggle(&mut s.located, slot, on);
            if on {
                self.grid.insert(slot, cell);
            } else {
                self.grid.remove(slot, cell);
            }
        }
    }

    /// Inserts or replaces a site; whether anything changed.
    fn upsert(&mut self, row: IndexRow) -> bool {
        let slot = self.slots.get(&row.site_id).copied();
        if let Some(slot) = slot
            && self.doc(slot).xid == row.index_xid
        {
            return false;
        }
        let doc = Doc::new(row, &mut self.dictionary);
        let slot = match slot {
            Some(slot) => {
                self.unorder(slot);
                let old = self.docs[slot as usize].take().expect("a live slot");
                self.mark(slot, &old, false);
                slot
            }
            None => {
                let slot = u32::try_from(self.docs.len()).expect("fewer than 4 billion sites");
                self.docs.push(None);
                self.slots.insert(doc.site_id, slot);
                let at = self.by_id.partition_point(|s| self.doc(s).site_id < doc.site_id);
                self.by_id.insert(at, slot);
                slot
            }
        };
        self.mark(slot, &doc, true);
        self.docs[slot as usize] = Some(doc);
        self.order(slot);
        true
    }

    /// Removes a site deleted by transaction `xid`, unless the index holds a younger state of it
    /// (deleted and created again); whether anything changed.
    fn remove(&mut self, site_id: Uuid, xid: i64) -> bool {
        let Some(&slot) = self.slots.get(&site_id) else {
            return false;
        };
        if self.doc(slot).xid >= xid {
            return false;
        }
        self.unorder(slot);
        let at = self.by_id.partition_point(|s| self.doc(s).site_id < site_id);
        self.by_id.remove(at);
        let doc = self.docs[slot as usize].take().expect("a live slot");
        self.mark(slot, &doc, false);
        self.slots.remove(&site_id);
        true
    }

    /// Takes `slot` out of the name and update orders.
    fn unorder(&mut self, slot: u32) {
        let at = self.by_name.partition_point(|s| self.name_cmp(s, slot).is_lt());
        let removed = self.by_name.remove(at);
        debug_assert_eq!(removed, Some(slot));
        let key = self.updated_key(slot);
        let at = self.by_updated.partition_point(|s| self.updated_key(s) < key);
        self.by_updated.remove(at);
    }

    /// Puts `slot` into the name and update orders.
    fn order(&mut self, slot: u32) {
        let at = self.by_name.partition_point(|s| self.name_cmp(s, slot).is_lt());
        self.by_name.insert(at, slot);
        let key = self.updated_key(slot);
        let at = self.by_updated.partition_point(|s| self.updated_key(s) < key);
        self.by_updated.insert(at, slot);
    }
}
