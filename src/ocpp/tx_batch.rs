//! Batched transaction updates: 1.6 MeterValues and 2.0.1 TransactionEvent `Updated` (without
//! an id token) go to a few writer tasks per process ([`SHARDS`], by charge point) instead of one
//! write transaction each.
//!
//! A batch is everything waiting (up to [`BATCH`] messages), stored in one database
//! transaction: the transactions it names read with one query, the messages and meter values
//! with multi-row inserts in arrival order, each touched transaction updated once, then
//! [`bridge::sync`] once per touched transaction (read again with one query), after its messages and in the same database
//! transaction, so the OCPI session always matches what is stored. Each CALL is answered only
//! once its batch has committed. A writer's batches are written one after the other, and a charge
//! point always uses the same writer, so the messages of a
//! transaction are stored in the order received (a charge point has one CALL outstanding, and
//! its next transaction message waits for this answer).
//!
//! A batch that fails is written again message by message (one transaction each), so that one
//! bad message gets its CALLERROR and the others are stored.
//!
//! Start/Stop, TransactionEvent `Started`/`Ended` and events carrying an id token stay on the
//! direct path (authorisation, reservations, the transaction id answer).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::NaiveDateTime;
use tokio::sync::{mpsc, oneshot};

use crate::db::transactions::{self as store, EventRow, MeterRow, NewMeterValue, Transaction};
use crate::db::{Db, DbConnection, DbError};
use crate::push::worker::Wakeup;

use super::bridge::{self, BridgeSettings};

/// Messages waiting at most (then a sender waits: back-pressure).
const CHANNEL: usize = 20_000;
/// Messages in one database transaction at most.
const BATCH: usize = 2_000;
/// A batch smaller than this waits [`LINGER`] for more before it is written (fewer statements
/// and commits per message under load, at the cost of that delay), when the writer is busy:
/// its previous batch held more than one message. A writer that sees one message at a time
/// (light load) writes each at once instead of adding the delay to every answer.
const SMALL: usize = 100;
const LINGER: std::time::Duration = std::time::Duration::from_millis(2);

/// One transaction message to store.
#[derive(Debug, Clone)]
pub enum Job {
    /// 1.6 MeterValues.
    MeterValues16 {
        charger_id: String,
        connector_id: Option<i64>,
        transaction_id: Option<String>,
        samples: Vec<NewMeterValue>,
        raw: String,
        received_at: NaiveDateTime,
    },
    /// 2.0.1 TransactionEvent `Updated` without an id token.
    Updated201 {
        charger_id: String,
        transaction_id: String,
        evse_id: Option<i64>,
        connector_id: Option<i64>,
        seq_no: Option<i64>,
        at: NaiveDateTime,
        samples: Vec<NewMeterValue>,
        raw: String,
    },
}

impl Job {
    fn charger_id(&self) -> &str {
        match self {
            Job::MeterValues16 { charger_id, .. } | Job::Updated201 { charger_id, .. } => {
                charger_id
            }
        }
    }

    fn key(&self) -> Option<(String, String)> {
        match self {
            Job::MeterValues16 {
                charger_id,
                transaction_id,
                ..
            } => transaction_id
                .as_ref()
                .map(|t| (charger_id.clone(), t.clone())),
            Job::Updated201 {
                charger_id,
                transaction_id,
                ..
            } => Some((charger_id.clone(), transaction_id.clone())),
        }
    }
}

/// Why a message was not stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the transaction writer is not running")]
    WriterGone,
    #[error("{0}")]
    Db(String),
}

struct Entry {
    job: Job,
    done: oneshot::Sender<Result<(), StoreError>>,
}

enum Msg {
    Job(Entry),
    Flush(oneshot::Sender<()>),
}

/// Writer tasks, each with its own database connection; a charge point's messages always go
/// to the same one (by a hash of its id), so they are stored in the order received, while the
/// batches of different charge points commit side by side instead of queueing behind one
/// another.
pub const SHARDS: usize = 2;

struct Shard {
    tx: mpsc::Sender<Msg>,
    rx: Mutex<Option<mpsc::Receiver<Msg>>>,
}

/// The handle of the writer tasks.
pub struct TxWriter {
    shards: Vec<Shard>,
}

impl Default for TxWriter {
    fn default() -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                let (tx, rx) = mpsc::channel(CHANNEL / SHARDS);
                Shard {
                    tx,
                    rx: Mutex::new(Some(rx)),
                }
            })
            .collect();
        Self { shards }
    }
}

/// FNV-1a of the charge point id: its writer.
fn shard_of(charger_id: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in charger_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % SHARDS as u64) as usize
}

impl TxWriter {
    /// Store one message; returns once its batch has committed (or failed).
    pub async fn store(&self, job: Job) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.shards[shard_of(job.charger_id())]
            .tx
            .send(Msg::Job(Entry { job, done }))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        wait.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Returns once every message enqueued before the call is stored (or failed).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let mut waits = Vec::with_capacity(self.shards.len());
        for shard in &self.shards {
            let (done, wait) = oneshot::channel();
            shard
                .tx
                .send(Msg::Flush(done))
                .await
                .map_err(|_| StoreError::WriterGone)?;
            waits.push(wait);
        }
        for wait in waits {
            wait.await.map_err(|_| StoreError::WriterGone)?;
        }
        Ok(())
    }

    /// The writer tasks (give `db` [`SHARDS`] connections); returns at once if already taken.
    pub async fn run(&self, db: Db, cfg: BridgeSettings, wakeup: Arc<Wakeup>) {
        let cfg = Arc::new(cfg);
        let loops: Vec<_> = self
            .shards
            .iter()
            .filter_map(|s| s.rx.lock().unwrap_or_else(|p| p.into_inner()).take())
            .map(|rx| shard_loop(rx, db.clone(), cfg.clone(), wakeup.clone()))
            .collect();
        futures_util::future::join_all(loops).await;
    }
}

/// One writer: batches of what waits in its queue, one after the other.
async fn shard_loop(
    mut rx: mpsc::Receiver<Msg>,
    db: Db,
    cfg: Arc<BridgeSettings>,
    wakeup: Arc<Wakeup>,
) {
    let mut busy = false;
    while let Some(first) = rx.recv().await {
        let mut entries = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        let mut lingered = !busy;
        loop {
            while let Some(m) = next {
                match m {
                    Msg::Job(e) => entries.push(e),
                    Msg::Flush(f) => flushes.push(f),
                }
                next = if entries.len() < BATCH {
                    rx.try_recv().ok()
                } else {
                    None
                };
            }
            if lingered || entries.len() >= SMALL || !flushes.is_empty() {
                break;
            }
            lingered = true;
            tokio::time::sleep(LINGER).await;
            next = rx.try_recv().ok();
        }
        busy = entries.len() > 1;
        if !entries.is_empty() {
            write_batch(&db, &cfg, &wakeup, entries).await;
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}

/// Store a batch and answer its messages; a failed batch is retried message by message.
async fn write_batch(db: &Db, cfg: &Arc<BridgeSettings>, wakeup: &Wakeup, entries: Vec<Entry>) {
    let (jobs, answers): (Vec<Job>, Vec<_>) = entries.into_iter().map(|e| (e.job, e.done)).unzip();
    let jobs = Arc::new(jobs);
    let (c, j) = (cfg.clone(), jobs.clone());
    match db.write(move |conn| store_batch(conn, &c, &j)).await {
        Ok(pushed) => {
            wakeup.enqueued(&pushed);
            for a in answers {
                let _ = a.send(Ok(()));
            }
        }
        Err(e) if answers.len() > 1 => {
            tracing::warn!(error = %e, messages = answers.len(), "transaction batch not stored; storing its messages one by one");
            for (i, a) in answers.into_iter().enumerate() {
                let (c, j) = (cfg.clone(), jobs.clone());
                let one = db
                    .write(move |conn| match j.get(i) {
                        Some(job) => store_batch(conn, &c, std::slice::from_ref(job)),
                        None => Ok(Vec::new()),
                    })
                    .await;
                let _ = a.send(match one {
                    Ok(pushed) => {
                        wakeup.enqueued(&pushed);
                        Ok(())
                    }
                    Err(e) => Err(StoreError::Db(e.to_string())),
                });
            }
        }
        Err(e) => {
            for a in answers {
                let _ = a.send(Err(StoreError::Db(e.to_string())));
            }
        }
    }
}

/// What a batch changes on one 2.0.1 transaction (folded: first EVSE/connector, highest seqNo).
#[derive(Default)]
struct Touch {
    update: Option<store::TransactionUpdate>,
}

/// One batch in the current database transaction; returns the deliveries it enqueued.
pub fn store_batch(
    conn: &mut DbConnection,
    cfg: &BridgeSettings,
    jobs: &[Job],
) -> Result<bridge::Enqueued, DbError> {
    // The transactions named, in one query.
    let mut keys: Vec<(String, String)> = jobs.iter().filter_map(Job::key).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut txs: HashMap<(String, String), Transaction> = store::get_many(conn, &keys)?
        .into_iter()
        .map(|t| ((t.charger_id.clone(), t.transaction_id.clone()), t))
        .collect();
    // 2.0.1 events seen before (duplicates are acknowledged and ignored).
    let mut pairs = Vec::new();
    for job in jobs {
        if let Job::Updated201 {
            charger_id,
            transaction_id,
            seq_no: Some(n),
            ..
        } = job
            && let Some(t) = txs.get(&(charger_id.clone(), transaction_id.clone()))
        {
            pairs.push((t.id, *n));
        }
    }
    let mut seen: HashSet<(i64, i64)> = store::stored_seq_nos(conn, &pairs)?;
    let now = crate::db::now();
    let mut events = Vec::new();
    let mut meters = Vec::new();
    // Touched transactions in the order first seen.
    let mut order: Vec<i64> = Vec::new();
    let mut touched: HashMap<i64, (Transaction, Touch)> = HashMap::new();
    for job in jobs {
        match job {
            Job::MeterValues16 {
                charger_id,
                connector_id,
                transaction_id,
                samples,
                raw,
                received_at,
            } => {
                let t = transaction_id
                    .as_ref()
                    .and_then(|id| txs.get(&(charger_id.clone(), id.clone())));
                if let Some(t) = t {
                    events.push(EventRow {
                        transaction_ref: t.id,
                        action: "MeterValues".into(),
                        event_type: Some("Updated".into()),
                        seq_no: None,
                        occurred_at: *received_at,
                        payload: raw.clone(),
                        received_at: now,
                    });
                    touched.entry(t.id).or_insert_with(|| {
                        order.push(t.id);
                        (t.clone(), Touch::default())
                    });
                }
                let tx_ref = t.map(|t| t.id);
                meters.extend(
                    samples
                        .iter()
                        .map(|v| MeterRow::of(tx_ref, charger_id, *connector_id, v)),
                );
            }
            Job::Updated201 {
                charger_id,
                transaction_id,
                evse_id,
                connector_id,
                seq_no,
                at,
                samples,
                raw,
            } => {
                let key = (charger_id.clone(), transaction_id.clone());
                let t = match txs.get(&key) {
                    Some(t) => t.clone(),
                    None => {
                        let t = store::get_or_create(
                            conn,
                            charger_id,
                            transaction_id,
                            "ocpp2.0.1",
                            *evse_id,
                            *connector_id,
                        )?;
                        txs.insert(key, t.clone());
                        t
                    }
                };
                if let Some(n) = seq_no
                    && !seen.insert((t.id, *n))
                {
                    continue;
                }
                events.push(EventRow {
                    transaction_ref: t.id,
                    action: "TransactionEvent".into(),
                    event_type: Some("Updated".into()),
                    seq_no: *seq_no,
                    occurred_at: *at,
                    payload: raw.clone(),
                    received_at: now,
                });
                let evse = evse_id.or(t.evse_id);
                meters.extend(
                    samples
                        .iter()
                        .map(|v| MeterRow::of(Some(t.id), charger_id, evse, v)),
                );
                let (_, touch) = touched.entry(t.id).or_insert_with(|| {
                    order.push(t.id);
                    (t.clone(), Touch::default())
                });
                let u = touch.update.get_or_insert_with(Default::default);
                u.evse_id = u.evse_id.or(*evse_id);
                u.connector_id = u.connector_id.or(*connector_id);
                u.seq_no = match (u.seq_no, *seq_no) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
        }
    }
    store::insert_event_rows(conn, &events)?;
    store::insert_meter_rows(conn, &meters)?;
    // Each touched transaction as it now is: the row its update returned, else the row read
    // at the start of the batch (a meter value does not change the transaction's row).
    let mut current = Vec::with_capacity(order.len());
    for id in &order {
        match touched.remove(id) {
            Some((t, Touch { update: Some(u) })) => current.push(store::update(conn, &t, &u)?),
            Some((t, Touch { update: None })) => current.push(t),
            None => {}
        }
    }
    // The sessions, after everything of the batch is stored.
    let mut pushed = Vec::new();
    for t in current {
        pushed.extend(bridge::sync_read(conn, cfg, t)?);
    }
    Ok(pushed)
}
