//! The OCPP message log, written off the WebSocket loops: messages go into a bounded channel and
//! one task inserts them in batches (a full channel drops the entry with a warning, never
//! blocking a charge point). The same task prunes entries older than the retention.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::db::Db;
use crate::db::message_log::{self, Message};

const CHANNEL: usize = 50_000;
const BATCH: usize = 500;

pub struct MessageLog {
    tx: mpsc::Sender<Message>,
    rx: Mutex<Option<mpsc::Receiver<Message>>>,
    enabled: bool,
}

impl MessageLog {
    pub fn new(retention_days: u32) -> Self {
        let (tx, rx) = mpsc::channel(CHANNEL);
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
            enabled: retention_days > 0,
        }
    }

    /// Log one frame: `direction` IN or OUT, `kind` 2 (CALL), 3 (CALLRESULT), 4 (CALLERROR).
    pub fn record(
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
        if self.tx.try_send(m).is_err() {
            tracing::warn!(ocpp.charge_point_id = %charger_id, "message log full: entry dropped");
        }
    }

    /// The writer task (one per process); returns at once if already taken.
    pub async fn run(&self, db: Db, retention_days: u32) {
        let Some(mut rx) = self.rx.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let mut prune = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tokio::select! {
                first = rx.recv() => {
                    let Some(first) = first else { return };
                    let mut batch = vec![first];
                    while batch.len() < BATCH {
                        match rx.try_recv() {
                            Ok(m) => batch.push(m),
                            Err(_) => break,
                        }
                    }
                    if let Err(e) = db.write(move |c| message_log::insert_batch(c, &batch)).await {
                        tracing::error!(error = %e, "message log batch not stored");
                    }
                }
                _ = prune.tick(), if retention_days > 0 => {
                    let before = crate::db::now() - chrono::Duration::days(i64::from(retention_days));
                    match db.write(move |c| message_log::prune(c, before)).await {
                        Ok(n) if n > 0 => tracing::info!(removed = n, "old OCPP messages pruned"),
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "message log not pruned"),
                    }
                }
            }
        }
    }
}
