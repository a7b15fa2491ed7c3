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

mod columns;
mod doc;
pub(crate) mod grid;
pub(crate) mod listings;
mod order;
pub(crate) mod run;
pub(crate) mod words;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, Weak};
use std::time::{Duration, Instant};

use roaring::RoaringBitmap;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool, Row};
use uuid::Uuid;

use crate::vocabulary::{Accepts, CodeSet, Modality, Schedule, SiteStatus};
use columns::Columns;
pub(crate) use doc::short_xid;
use doc::{Codes, Doc, INDEX_COLUMNS, IndexRow, Interner, PackedOffer, name_order, xid_at_least};
use grid::Grid;
use order::Order;
use words::Words;

/// How often the index reads the change feed when no write through this instance made it.
pub(crate) const SYNC_EVERY: Duration = Duration::from_secs(1);

/// Rows read from PostgreSQL per statement while building.
const LOAD_BATCH: i64 = 20_000;

/// The index, shared by every request of the process.
pub(crate) struct SearchIndex {
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
pub(crate) type SyncError = sqlx::Error;

impl SearchIndex {
    /// The index, built from `pool` on first use (later callers wait for the build), with a
    /// background task that keeps it in step for as long as the index lives.
    pub(crate) async fn ready(self: &Arc<Self>, pool: &PgPool) -> Result<(), SyncError> {
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
    pub(crate) fn is_built(&self) -> bool {
        self.built.initialized()
    }

    /// Whether a build has begun and not finished (the service is not ready yet).
    pub(crate) fn is_building(&self) -> bool {
        self.started.load(Ordering::Acquire) && !self.is_built()
    }

    /// The contents, to answer a search (never held across an `.await`).
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An opaque name of the index's current state, different after every change and in every
    /// process.
    pub(crate) fn state_tag(&self) -> String {
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
        // Sized for the sites PostgreSQL counts (an estimate), so the columns are not copied while
        // they are read.
        let estimate = sqlx::query_scalar!(
            r#"select greatest(reltuples, 0)::float4 as "estimate!" from pg_class where oid = 'site'::regclass"#
        )
        .fetch_one(&mut *conn)
        .await?;
        let mut load = Load::with_capacity(estimate as usize + 1024);
        let mut last = Uuid::nil();
        loop {
            // Runtime SQL: `INDEX_COLUMNS` is shared with the change feed below.
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
            for row in rows {
                load.push(&Doc::new(row, &mut loaded.dictionary));
            }
            if done {
                break;
            }
        }
        drop(conn);
        loaded.load(load);
        let sites = loaded.by_id.len();
        let megabytes = loaded.bytes() as f64 / 1e6;
        {
            let mut inner = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            *inner = loaded;
            self.version.fetch_add(1, Ordering::AcqRel);
        }
        *watermark = next;
        tracing::info!(
            sites,
            seconds = started.elapsed().as_secs_f64(),
            megabytes,
            "search index loaded"
        );
        Ok(())
    }

    /// Applies every change committed since the last look. Does nothing before the index is built
    /// (the build reads everything).
    pub(crate) async fn catch_up(&self, pool: &PgPool) -> Result<(), SyncError> {
        if !self.is_built() {
            return Ok(());
        }
        let mut watermark = self.feed.lock().await;
        // One statement, so one snapshot: its xmin (every older transaction's rows are read here;
        // the next look reads again what younger ones wrote), the removals and the rows since the
        // last look. A left join, so the snapshot and the removals come back with no row changed.
        // Runtime SQL: `INDEX_COLUMNS` is shared with the load above.
        let feed: Vec<PgRow> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "with feed as (
                 select pg_snapshot_xmin(pg_current_snapshot())::text::int8 as next,
                        coalesce(array_agg(r.site_id order by r.index_xid), '{{}}') as removed_ids,
                        coalesce(array_agg(r.index_xid order by r.index_xid), '{{}}') as removed_xids
                   from site_removal r where r.index_xid >= $1)
             select feed.*, {INDEX_COLUMNS} from feed left join site s on s.index_xid >= $1"
        )))
        .bind(*watermark)
        .fetch_all(pool)
        .await?;
        let Some(first) = feed.first() else {
            return Ok(());
        };
        let next: i64 = first.try_get("next")?;
        let removed_ids: Vec<Uuid> = first.try_get("removed_ids")?;
        let removed_xids: Vec<i64> = first.try_get("removed_xids")?;
        let removed: Vec<(Uuid, i64)> = removed_ids.into_iter().zip(removed_xids).collect();
        let mut rows = Vec::with_capacity(feed.len());
        for row in &feed {
            if row.try_get::<Option<Uuid>, _>("site_id")?.is_some() {
                rows.push(IndexRow::from_row(row)?);
            }
        }
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
    sqlx::query_scalar!(r#"select pg_snapshot_xmin(pg_current_snapshot())::text::int8 as "xmin!""#)
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

/// Interned words (with their sites), cities and states.
#[derive(Debug, Default)]
pub(crate) struct Dictionary {
    pub(crate) words: Words,
    cities: HashMap<Box<str>, u32>,
    states: HashMap<Box<str>, u8>,
}

impl Interner for Dictionary {
    fn word(&mut self, word: &str) -> u32 {
        self.words.intern(word)
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
    pub(crate) live: RoaringBitmap,
    /// Not archived.
    pub(crate) listed: RoaringBitmap,
    pub(crate) located: RoaringBitmap,
    pub(crate) status: Values,
    pub(crate) site_type: Values,
    /// By [`doc::stated`] position (0: not stated).
    pub(crate) payment: Values,
    pub(crate) insurance: Values,
    pub(crate) hipaa: Values,
    pub(crate) housing: Values,
    pub(crate) schedule: Values,
    pub(crate) no_schedule: RoaringBitmap,
    /// Sites that charge, by stated fee.
    pub(crate) fee: BTreeMap<i32, RoaringBitmap>,
    pub(crate) state: Values,
    pub(crate) city: Values,
    pub(crate) zip5: HashMap<u32, RoaringBitmap>,
    /// By modality position.
    pub(crate) modality: Values,
    /// Per modality: accepting no, yes.
    pub(crate) accepting: Vec<Values>,
    /// Per modality: verifier on site unknown, no, yes.
    pub(crate) verifier: Vec<Values>,
    /// Per modality: accepts none stated, then each [`Accepts`] position + 1.
    pub(crate) accepts: Vec<Values>,
    /// Sites with members' reports, by their number of reports (1 and more).
    pub(crate) reports: BTreeMap<u32, RoaringBitmap>,
    /// Sites where a member reported being accepted as an independent candidate.
    pub(crate) reported_independent: RoaringBitmap,
    /// Demo sites (left out of the statistics' listing counts).
    pub(crate) demo: RoaringBitmap,
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
    pub(crate) fn get(&self, value: usize) -> &RoaringBitmap {
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
pub(crate) struct Inner {
    columns: Columns,
    pub(crate) dictionary: Dictionary,
    pub(crate) sets: Sets,
    pub(crate) grid: Grid,
    /// Slots in id order, name order, and `(updated_at, id)` order.
    by_id: Order,
    by_name: Order,
    by_updated: Order,
}

/// Sites read for a fresh index: their columns, and what they are filed under until they are.
struct Load {
    columns: Columns,
    codes: Vec<(Codes, Option<i32>)>,
    offers: Vec<PackedOffer>,
    /// Where each site's offers end in `offers`.
    offers_end: Vec<u32>,
}

impl Load {
    fn with_capacity(sites: usize) -> Self {
        Self {
            columns: Columns::with_capacity(sites),
            codes: Vec::with_capacity(sites),
            offers: Vec::with_capacity(sites * 3),
            offers_end: Vec::with_capacity(sites),
        }
    }

    fn push(&mut self, doc: &Doc) {
        self.columns.add(doc);
        self.codes.push((doc.codes, doc.fee));
        self.offers.extend_from_slice(&doc.offers);
        self.offers_end.push(self.offers.len() as u32);
    }

    fn offers(&self, i: usize) -> &[PackedOffer] {
        let start = if i == 0 { 0 } else { self.offers_end[i - 1] as usize };
        &self.offers[start..self.offers_end[i] as usize]
    }
}

/// What a site is filed under.
struct Filed<'a> {
    codes: Codes,
    fee: Option<i32>,
    offers: &'a [PackedOffer],
    words: &'a [u32],
    city: u32,
    zip5: u32,
    cell: Option<(i32, i32)>,
}

impl<'a> Filed<'a> {
    fn of(doc: &'a Doc) -> Self {
        Self {
            codes: doc.codes,
            fee: doc.fee,
            offers: &doc.offers,
            words: &doc.words,
            city: doc.city,
            zip5: doc.zip5,
            cell: doc.location.map(|(lat, lon)| grid::fine_cell(lat, lon)),
        }
    }
}

/// Approximate heap bytes of a bitmap: its containers, their stores and the allocator's headers.
pub(crate) fn bitmap_bytes(set: &RoaringBitmap) -> usize {
    let s = set.statistics();
    24 + s.n_containers as usize * 32
        + s.n_values_array_containers as usize * 2
        + s.n_array_containers as usize * 16
        + s.n_bitset_containers as usize * 8192
        + s.n_bytes_run_containers as usize
}

/// Adds `slot` to every set of what it is filed under.
fn mark(sets: &mut Sets, words: &mut Words, grid: &mut Grid, slot: u32, filed: &Filed) {
    let s = sets;
    let c = filed.codes;
    s.live.insert(slot);
    if c.status != doc::position(SiteStatus::Archived) {
        s.listed.insert(slot);
    }
    s.status.at(c.status.into()).insert(slot);
    s.site_type.at(c.site_type.into()).insert(slot);
    s.payment.at(c.payment.into()).insert(slot);
    s.insurance.at(c.insurance.into()).insert(slot);
    s.hipaa.at(c.hipaa.into()).insert(slot);
    s.housing.at(c.housing.into()).insert(slot);
    if c.schedule == 0 {
        s.no_schedule.insert(slot);
    }
    for (i, _) in Schedule::ALL.iter().enumerate() {
        if c.schedule & (1 << i) != 0 {
            s.schedule.at(i).insert(slot);
        }
    }
    if let Some(fee) = filed.fee {
        s.fee.entry(fee).or_default().insert(slot);
    }
    if c.reports > 0 {
        s.reports.entry(c.reports).or_default().insert(slot);
    }
    if c.reported_independent {
        s.reported_independent.insert(slot);
    }
    if c.demo {
        s.demo.insert(slot);
    }
    s.state.at(c.state.into()).insert(slot);
    s.city.at(filed.city as usize).insert(slot);
    s.zip5.entry(filed.zip5).or_default().insert(slot);
    for word in filed.words {
        words.add(*word, slot);
    }
    for offer in filed.offers {
        let m = offer.modality();
        s.modality.at(m).insert(slot);
        s.accepting[m].at(usize::from(offer.accepting())).insert(slot);
        s.verifier[m].at(offer.verifier()).insert(slot);
        let mut any = false;
        for a in offer.accepts() {
            any = true;
            s.accepts[m].at(a + 1).insert(slot);
        }
        if !any {
            s.accepts[m].at(0).insert(slot);
        }
    }
    if let Some(cell) = filed.cell {
        s.located.insert(slot);
        grid.insert(slot, cell);
    }
}

impl Inner {
    /// Fills an empty index with the sites of `load`, slots in the order of where they are (so
    /// the sites of a region are near each other in every set, and a region is a few ranges).
    fn load(&mut self, mut load: Load) {
        let mut columns = std::mem::take(&mut load.columns);
        let mut order: Vec<u32> = (0..columns.len() as u32).collect();
        order.sort_unstable_by_key(|slot| {
            let cell = columns.cell(*slot).unwrap_or((i32::MAX, i32::MAX));
            (
                (cell.0.div_euclid(8), cell.1.div_euclid(8)),
                cell,
                columns.site_id(*slot),
            )
        });
        columns.permute(&order);
        columns.shrink_to_fit();
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
        for (slot, &was) in order.iter().enumerate() {
            let slot = slot as u32;
            let (codes, fee) = load.codes[was as usize];
            let words = columns.words(slot);
            let filed = Filed {
                codes,
                fee,
                offers: load.offers(was as usize),
                words: &words,
                city: columns.city(slot),
                zip5: columns.zip5(slot),
                cell: columns.cell(slot),
            };
            mark(&mut self.sets, &mut self.dictionary.words, &mut self.grid, slot, &filed);
        }
        drop(load);
        self.columns = columns;
        order.sort_unstable_by_key(|slot| self.columns.site_id(*slot));
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
        sets.zip5.values_mut().for_each(|set| {
            set.optimize();
        });
        sets.fee.values_mut().for_each(|set| {
            set.optimize();
        });
        sets.reports.values_mut().for_each(|set| {
            set.optimize();
        });
        sets.reported_independent.optimize();
        sets.demo.optimize();
        self.dictionary.words.optimize();
        self.grid.optimize();
    }

    /// Approximate heap bytes of the index.
    fn bytes(&self) -> usize {
        let s = &self.sets;
        let values = |v: &Values| v.0.iter().map(bitmap_bytes).sum::<usize>();
        let sets: usize = [
            &s.status,
            &s.site_type,
            &s.payment,
            &s.insurance,
            &s.hipaa,
            &s.housing,
            &s.schedule,
            &s.state,
            &s.city,
            &s.modality,
        ]
        .into_iter()
        .map(values)
        .sum::<usize>()
            + [&s.accepting, &s.verifier, &s.accepts]
                .into_iter()
                .flatten()
                .map(values)
                .sum::<usize>()
            + [
                &s.live,
                &s.listed,
                &s.located,
                &s.no_schedule,
                &s.reported_independent,
                &s.demo,
            ]
            .into_iter()
            .map(bitmap_bytes)
            .sum::<usize>()
            + s.zip5.values().map(|set| bitmap_bytes(set) + 16).sum::<usize>()
            + s.fee.values().map(|set| bitmap_bytes(set) + 16).sum::<usize>()
            + s.reports.values().map(|set| bitmap_bytes(set) + 16).sum::<usize>();
        sets + self.columns.bytes()
            + self.dictionary.words.bytes()
            + self.grid.bytes()
            + (self.by_id.len() + self.by_name.len() + self.by_updated.len()) * 4
    }

    pub(crate) fn site_id(&self, slot: u32) -> Uuid {
        self.columns.site_id(slot)
    }

    pub(crate) fn name(&self, slot: u32) -> &str {
        self.columns.name(slot)
    }

    pub(crate) fn point(&self, slot: u32) -> Option<grid::Point> {
        self.columns.point(slot)
    }

    pub(crate) fn updated_at(&self, slot: u32) -> i64 {
        self.columns.updated_at(slot)
    }

    pub(crate) fn zip4(&self, slot: u32) -> Option<u16> {
        self.columns.zip4(slot)
    }

    fn name_cmp(&self, a: u32, b: u32) -> std::cmp::Ordering {
        name_order((self.name(a), self.site_id(a)), (self.name(b), self.site_id(b)))
    }

    fn updated_key(&self, slot: u32) -> (i64, Uuid) {
        (self.updated_at(slot), self.site_id(slot))
    }

    /// The slot of a site, and its position in the id order.
    fn slot_of(&self, site_id: Uuid) -> Option<(u32, order::At)> {
        let at = self.by_id.partition_point(|s| self.site_id(s) < site_id);
        self.by_id
            .get(at)
            .filter(|slot| self.site_id(*slot) == site_id)
            .map(|slot| (slot, at))
    }

    fn mark(&mut self, slot: u32, doc: &Doc) {
        mark(
            &mut self.sets,
            &mut self.dictionary.words,
            &mut self.grid,
            slot,
            &Filed::of(doc),
        );
    }

    /// Takes `slot` out of every set. The sets of small codes and offers are few (a few hundred
    /// in all): the slot is taken out of each, so the index keeps no copy of its codes.
    fn unmark(&mut self, slot: u32) {
        let s = &mut self.sets;
        for set in [
            &mut s.live,
            &mut s.listed,
            &mut s.located,
            &mut s.no_schedule,
            &mut s.reported_independent,
            &mut s.demo,
        ] {
            set.remove(slot);
        }
        s.reports.retain(|_, set| {
            set.remove(slot);
            !set.is_empty()
        });
        for values in [
            &mut s.status,
            &mut s.site_type,
            &mut s.payment,
            &mut s.insurance,
            &mut s.hipaa,
            &mut s.housing,
            &mut s.schedule,
            &mut s.state,
            &mut s.modality,
        ]
        .into_iter()
        .chain(s.accepting.iter_mut())
        .chain(s.verifier.iter_mut())
        .chain(s.accepts.iter_mut())
        {
            for set in &mut values.0 {
                set.remove(slot);
            }
        }
        s.fee.retain(|_, set| {
            set.remove(slot);
            !set.is_empty()
        });
        s.city.at(self.columns.city(slot) as usize).remove(slot);
        let zip5 = self.columns.zip5(slot);
        if let Some(zip) = s.zip5.get_mut(&zip5) {
            zip.remove(slot);
            if zip.is_empty() {
                s.zip5.remove(&zip5);
            }
        }
        for word in self.columns.words(slot) {
            self.dictionary.words.remove(word, slot);
        }
        if let Some(cell) = self.columns.cell(slot) {
            self.grid.remove(slot, cell);
        }
    }

    /// Inserts or replaces a site; whether anything changed.
    fn upsert(&mut self, row: IndexRow) -> bool {
        let found = self.slot_of(row.site_id);
        if let Some((slot, _)) = found
            && self.columns.xid(slot) == short_xid(row.index_xid)
        {
            return false;
        }
        let doc = Doc::new(row, &mut self.dictionary);
        let slot = match found {
            Some((slot, _)) => {
                self.unorder(slot);
                self.unmark(slot);
                self.columns.set(slot, &doc);
                slot
            }
            None => {
                let slot = self.columns.add(&doc);
                let at = self.by_id.partition_point(|s| self.site_id(s) < doc.site_id);
                self.by_id.insert(at, slot);
                slot
            }
        };
        self.mark(slot, &doc);
        self.order(slot);
        true
    }

    /// Removes a site deleted by transaction `xid`, unless the index holds a younger state of it
    /// (deleted and created again); whether anything changed.
    fn remove(&mut self, site_id: Uuid, xid: i64) -> bool {
        let Some((slot, at)) = self.slot_of(site_id) else {
            return false;
        };
        if xid_at_least(self.columns.xid(slot), short_xid(xid)) {
            return false;
        }
        self.unorder(slot);
        self.by_id.remove(at);
        self.unmark(slot);
        self.columns.clear(slot);
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
