//! The gateway's writes, off the WebSocket loops: one task per process stores them in batches.
//!
//! - The message log: frames go into a bounded channel; a full channel makes the connection
//!   wait (back-pressure: a frame is never dropped while the writer runs; one that finds the
//!   writer gone is counted in [`MessageLog::dropped`] and logged). The writer has database
//!   connections of its own ([`crate::db::Db::dedicated`]) and stores up to [`BATCH`] frames
//!   per transaction with multi-row inserts. The same task prunes entries older than the
//!   retention.
//! - Charge point state: connect, disconnect, boot and heartbeat. These are never dropped: a
//!   full channel makes the connection wait (back-pressure). A batch is folded per charge point
//!   (its last state wins, the connection log keeps every event in order) and written with a
//!   few set-based statements in one transaction, so a boot storm costs a handful of round
//!   trips per batch instead of one transaction per charge point.
//!
//! - EVSE statuses ([`StatusQueue`]): written through the locations service (stored and pushed
//!   to eMSPs) by one writer at a time, in batches of one transaction each (each write rewrites
//!   the location: two at once would lose one); statuses that arrive meanwhile wait in order,
//!   and a newer status of an EVSE replaces its waiting one (an EVSE status is a state: the
//!   newest wins; every frame stays in the message log).
//!
//! [`MessageLog::flush`] returns once everything enqueued before it is stored: the hub calls it
//! on shutdown, so a clean stop loses nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::NaiveDateTime;
use tokio::sync::{mpsc, oneshot};

use crate::db::chargers::{self, NewConnectionEvent};
use crate::db::message_log::{self, Message};
use crate::db::{Db, DbConnection, DbError};

const CHANNEL: usize = 50_000;
/// Message log entries in one write transaction at most.
pub const BATCH: usize = 10_000;
const STATE_CHANNEL: usize = 20_000;
const STATE_BATCH: usize = 5000;
/// After a small batch, the writer waits this long so that the next one is bigger (fewer
/// statements and commits per frame; nothing waits for the message log).
const LINGER: Duration = Duration::from_millis(10);
/// EVSE statuses in one write transaction at most.
const STATUS_BATCH: usize = 500;

/// A new OCPI status of one EVSE of the hub's own locations.
#[derive(Debug, Clone)]
pub struct EvseStatus {
    pub charger_id: String,
    pub location_id: String,
    pub evse_uid: String,
    /// The OCPI EVSE PATCH: `status` and `last_updated`.
    pub patch: serde_json::Value,
}

impl EvseStatus {
    fn same_evse(&self, other: &EvseStatus) -> bool {
        self.location_id == other.location_id && self.evse_uid == other.evse_uid
    }
}

/// EVSE statuses on their way to the database, written by one writer at a time in batches of
/// up to [`STATUS_BATCH`] (one database transaction each, in the order received), so that
/// two writes never rewrite the same location at once. A status that finds an older one of
/// its EVSE still waiting replaces it in place.
pub struct StatusQueue {
    state: Mutex<StatusState>,
    idle: tokio::sync::Notify,
}

#[derive(Default)]
struct StatusState {
    waiting: Vec<EvseStatus>,
    /// A writer is taking batches.
    writing: bool,
}

impl StatusQueue {
    fn new() -> Self {
        Self {
            state: Mutex::default(),
            idle: tokio::sync::Notify::new(),
        }
    }

    /// Queue a status; true when no writer runs: the caller becomes the writer and calls
    /// [`Self::take`] until it returns `None`.
    pub fn offer(&self, s: EvseStatus) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match st.waiting.iter_mut().find(|w| w.same_evse(&s)) {
            Some(older) => *older = s,
            None => st.waiting.push(s),
        }
        !std::mem::replace(&mut st.writing, true)
    }

    /// The writer's next batch, oldest first; `None` when nothing waits (the writer stops).
    pub fn take(&self) -> Option<Vec<EvseStatus>> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.waiting.is_empty() {
            st.writing = false;
            self.idle.notify_waiters();
            return None;
        }
        let n = st.waiting.len().min(STATUS_BATCH);
        Some(st.waiting.drain(..n).collect())
    }

    /// Wait until no status is being written or waiting.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if !st.writing && st.waiting.is_empty() {
                    return;
                }
            }
            notified.await;
        }
    }
}

/// A change of a registered charge point's state.
#[derive(Debug, Clone)]
pub enum ChargerEvent {
    /// A new connection; `replaced` when it took the place of an older one.
    Connected {
        protocol: &'static str,
        replaced: bool,
    },
    Disconnected {
        protocol: &'static str,
    },
    Booted {
        vendor: String,
        model: String,
        firmware: Option<String>,
    },
    Heartbeat,
}

enum StateEntry {
    Event {
        charger_id: String,
        event: ChargerEvent,
        at: NaiveDateTime,
    },
    Flush(oneshot::Sender<()>),
}

#[derive(Debug, thiserror::Error)]
#[error("the OCPP writer task is not running")]
pub struct WriterGone;

type Receivers = (mpsc::Receiver<Message>, mpsc::Receiver<StateEntry>);

pub struct MessageLog {
    pub statuses: StatusQueue,
    tx: mpsc::Sender<Message>,
    state_tx: mpsc::Sender<StateEntry>,
    rx: Mutex<Option<Receivers>>,
    enabled: bool,
    dropped: std::sync::atomic::AtomicU64,
}

impl MessageLog {
    pub fn new(retention_days: u32) -> Self {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let (state_tx, state_rx) = mpsc::channel(STATE_CHANNEL);
        Self {
            statuses: StatusQueue::new(),
            tx,
            state_tx,
            rx: Mutex::new(Some((rx, state_rx))),
            enabled: retention_days > 0,
            dropped: Default::default(),
        }
    }

    /// Log one frame: `direction` IN or OUT, `kind` 2 (CALL), 3 (CALLRESULT), 4 (CALLERROR).
    /// Waits while the writer's queue is full (back-pressure on the connection).
    pub async fn record(
        &self,
        charger_id: &str,
        direction: &str,
        kind: i64,
        message_id: &str,
        action: Option<&str>,
        text: &str,
    ) {
        if !self.enabled {
            return;
        }
        let m = Message {
            id: 0,
            charger_id: charger_id.to_string(),
            direction: direction.to_string(),
            message_type: kind,
            message_id: message_id.to_string(),
            action: action.map(str::to_string),
            payload: text.to_string(),
            at: crate::db::now(),
        };
        if self.tx.send(m).await.is_err() {
            self.dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(ocpp.charge_point_id = %charger_id, "message log writer gone: entry dropped");
        }
    }

    /// Message log entries dropped since start (only when the writer task was gone).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Store a state change of a registered charge point (time: now). Waits only when the
    /// writer is far behind.
    pub async fn charger(&self, charger_id: &str, event: ChargerEvent) -> Result<(), WriterGone> {
        self.charger_at(charger_id, event, crate::db::now()).await
    }

    /// [`Self::charger`] with the time it happened.
    pub async fn charger_at(
        &self,
        charger_id: &str,
        event: ChargerEvent,
        at: NaiveDateTime,
    ) -> Result<(), WriterGone> {
        let entry = StateEntry::Event {
            charger_id: charger_id.to_string(),
            event,
            at,
        };
        self.state_tx.send(entry).await.map_err(|_| WriterGone)
    }

    /// Returns once every state change and message enqueued before the call is stored (or its
    /// batch failed for good).
    pub async fn flush(&self) -> Result<(), WriterGone> {
        self.statuses.wait_idle().await;
        let (tx, rx) = oneshot::channel();
        self.state_tx
            .send(StateEntry::Flush(tx))
            .await
            .map_err(|_| WriterGone)?;
        rx.await.map_err(|_| WriterGone)
    }

    /// The writer task (one per process); returns at once if already taken.
    pub async fn run(&self, db: Db, retention_days: u32) {
        let Some((mut rx, mut state_rx)) = self.rx.lock().unwrap_or_else(|p| p.into_inner()).take()
        else {
            return;
        };
        let mut prune = tokio::time::interval(Duration::from_secs(3600));
        loop {
            let mut batch = Batch::default();
            tokio::select! {
                m = rx.recv() => match m {
                    Some(m) => batch.messages.push(m),
                    None => return,
                },
                e = state_rx.recv() => match e {
                    Some(e) => batch.add(e),
                    None => return,
                },
                _ = prune.tick(), if retention_days > 0 => {
                    let before = crate::db::now() - chrono::Duration::days(i64::from(retention_days));
                    match db.write(move |c| message_log::prune(c, before)).await {
                        Ok(n) if n > 0 => tracing::info!(removed = n, "old OCPP messages pruned"),
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "message log not pruned"),
                    }
                    continue;
                }
            }
            // Everything already waiting joins the batch.
            batch.fill(&mut rx, &mut state_rx);
            if !batch.flushes.is_empty() {
                // A flush stores everything enqueued before it: drain both queues (at most
                // their capacity, so that a steady stream cannot hold the flush back).
                let mut budget = CHANNEL + STATE_CHANNEL;
                while batch.is_full() && budget > 0 {
                    budget = budget.saturating_sub(batch.messages.len() + batch.states.len());
                    let flushes = std::mem::take(&mut batch.flushes);
                    batch.store(&db).await;
                    batch = Batch {
                        flushes,
                        ..Batch::default()
                    };
                    batch.fill(&mut rx, &mut state_rx);
                }
            }
            let small = batch.messages.len() < BATCH / 10 && batch.flushes.is_empty();
            for done in batch.store(&db).await {
                let _ = done.send(());
            }
            if small {
                tokio::time::sleep(LINGER).await;
            }
        }
    }
}

#[derive(Default)]
struct Batch {
    messages: Vec<Message>,
    states: Vec<(String, ChargerEvent, NaiveDateTime)>,
    flushes: Vec<oneshot::Sender<()>>,
}

impl Batch {
    fn add(&mut self, e: StateEntry) {
        match e {
            StateEntry::Event {
                charger_id,
                event,
                at,
            } => self.states.push((charger_id, event, at)),
            StateEntry::Flush(tx) => self.flushes.push(tx),
        }
    }

    fn fill(
        &mut self,
        rx: &mut mpsc::Receiver<Message>,
        state_rx: &mut mpsc::Receiver<StateEntry>,
    ) {
        while self.states.len() < STATE_BATCH
            && let Ok(e) = state_rx.try_recv()
        {
            self.add(e);
        }
        while self.messages.len() < BATCH
            && let Ok(m) = rx.try_recv()
        {
            self.messages.push(m);
        }
    }

    /// True when a queue may hold more than the batch took.
    fn is_full(&self) -> bool {
        self.states.len() >= STATE_BATCH || self.messages.len() >= BATCH
    }

    /// Write the batch in one transaction (frames alone: one statement), retrying a failed one
    /// a few times (then it is logged as lost); returns the flushes waiting for it.
    async fn store(self, db: &Db) -> Vec<oneshot::Sender<()>> {
        let Batch {
            messages,
            states,
            flushes,
        } = self;
        if messages.is_empty() && states.is_empty() {
            return flushes;
        }
        let work = std::sync::Arc::new((messages, states));
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=4 {
            let w = work.clone();
            // Frames alone are one statement (a multi-row insert, or a `COPY`): no
            // transaction around it.
            let stored = if w.1.is_empty() {
                db.write_single(move |c| write(c, &w.0, &w.1)).await
            } else {
                db.write(move |c| write(c, &w.0, &w.1)).await
            };
            match stored {
                Ok(()) => break,
                Err(e) if attempt < 4 => {
                    tracing::warn!(error = %e, attempt, "OCPP writer batch not stored; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                }
                Err(e) => {
                    tracing::error!(error = %e, messages = work.0.len(), state_changes = work.1.len(), "OCPP writer batch not stored; given up");
                }
            }
        }
        flushes
    }
}

/// One batch in one transaction: the messages, the connection log in order, then each charge
/// point's resulting state with one statement per distinct value.
fn write(
    c: &mut DbConnection,
    messages: &[Message],
    states: &[(String, ChargerEvent, NaiveDateTime)],
) -> Result<(), DbError> {
    message_log::insert_batch(c, messages)?;
    let mut log = Vec::new();
    let mut connected: HashMap<&str, (bool, &'static str)> = HashMap::new();
    let mut booted: HashMap<&str, (&str, &str, Option<&str>)> = HashMap::new();
    let mut beats: Vec<String> = Vec::new();
    for (id, event, at) in states {
        let entry =
            |event: &str, protocol: Option<&str>, detail: Option<String>| NewConnectionEvent {
                charger_id: id.clone(),
                event: event.to_string(),
                protocol: protocol.map(str::to_string),
                detail,
                at: *at,
            };
        match event {
            ChargerEvent::Connected { protocol, replaced } => {
                let name = if *replaced {
                    "reconnected"
                } else {
                    "connected"
                };
                log.push(entry(name, Some(protocol), None));
                connected.insert(id, (true, protocol));
            }
            ChargerEvent::Disconnected { protocol } => {
                log.push(entry("disconnected", Some(protocol), None));
                connected.insert(id, (false, protocol));
            }
            ChargerEvent::Booted {
                vendor,
                model,
                firmware,
            } => {
                log.push(entry("booted", None, Some(format!("{vendor} {model}"))));
                booted.insert(id, (vendor, model, firmware.as_deref()));
            }
            ChargerEvent::Heartbeat => beats.push(id.clone()),
        }
    }
    chargers::log_events(c, &log)?;
    let now = crate::db::now();
    let mut by_state: HashMap<(bool, &str), Vec<String>> = HashMap::new();
    for (id, state) in connected {
        by_state.entry(state).or_default().push(id.to_string());
    }
    for ((on, protocol), ids) in by_state {
        chargers::set_connected(c, &ids, on, Some(protocol), now)?;
    }
    let mut by_boot: HashMap<(&str, &str, Option<&str>), Vec<String>> = HashMap::new();
    for (id, boot) in booted {
        by_boot.entry(boot).or_default().push(id.to_string());
    }
    for ((vendor, model, firmware), ids) in by_boot {
        chargers::record_boot(c, &ids, vendor, model, firmware, now)?;
    }
    beats.sort_unstable();
    beats.dedup();
    chargers::record_heartbeat(c, &beats, now)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(location: &str, evse: &str, s: &str) -> EvseStatus {
        EvseStatus {
            charger_id: "CP".into(),
            location_id: location.into(),
            evse_uid: evse.into(),
            patch: serde_json::json!({ "status": s }),
        }
    }

    #[tokio::test]
    async fn one_writer_takes_batches_in_order_and_the_newest_waiting_status_of_an_evse_wins() {
        let q = StatusQueue::new();
        // The first status makes its caller the writer; later ones only queue.
        assert!(q.offer(status("SITE", "CP-1", "CHARGING")));
        assert!(!q.offer(status("OTHER", "CP-9", "AVAILABLE")));
        let batch = q.take().unwrap();
        assert_eq!(batch.len(), 2);
        // While that batch is written, later statuses wait in order; the newest of one EVSE
        // replaces its older one in place; the same EVSE uid at another location is another EVSE.
        assert!(!q.offer(status("SITE", "CP-1", "AVAILABLE")));
        assert!(!q.offer(status("SITE", "CP-2", "RESERVED")));
        assert!(!q.offer(status("OTHER", "CP-1", "BLOCKED")));
        assert!(!q.offer(status("SITE", "CP-1", "OUTOFORDER")));
        // Not idle while the writer runs.
        let idle = q.wait_idle();
        tokio::pin!(idle);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), idle.as_mut())
                .await
                .is_err()
        );
        let batch = q.take().unwrap();
        let got: Vec<(&str, &str, &serde_json::Value)> = batch
            .iter()
            .map(|s| {
                (
                    s.location_id.as_str(),
                    s.evse_uid.as_str(),
                    &s.patch["status"],
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("SITE", "CP-1", &serde_json::json!("OUTOFORDER")),
                ("SITE", "CP-2", &serde_json::json!("RESERVED")),
                ("OTHER", "CP-1", &serde_json::json!("BLOCKED")),
            ]
        );
        assert!(q.take().is_none());
        idle.await;
        // Free again: the next status makes a new writer.
        assert!(q.offer(status("SITE", "CP-1", "AVAILABLE")));
    }
}
