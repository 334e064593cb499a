//! `ocpi-hub simulate`: N charge points (OCPP 1.6, 2.0.1 or a mix) against a hub. Each boots,
//! reports its connector Available, runs charging sessions with meter values (energy growing at
//! its power), sends heartbeats, answers the hub's calls (remote start/stop, profiles,
//! availability, reset, …), and reconnects with exponential back-off (1, 2, 4 … s, capped at
//! 60 s) when the hub goes away, booting again after each reconnect. Progress goes to stderr.
//!
//! With `--replay FILE` the charge points and sessions come from a CSV of real sessions
//! ([`replay`]): one simulated charge point per charge point of the file, each session started,
//! metered and stopped at its recorded times (as UTC timestamps in the messages), with the
//! recorded energy, played `speedup` times faster than real time. Events that fall due while a
//! charge point is disconnected are sent after it reconnects, as a charger's offline queue would.

pub mod replay;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::ocpi::types::DateTime;
use crate::ocpp::frame::Version;

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// `ws://host:port` of the hub's OCPP listener.
    pub url: String,
    pub count: usize,
    /// Charge point ids are `{prefix}-{n}` (n from 1).
    pub prefix: String,
    pub password: String,
    /// None: alternate 1.6 and 2.0.1.
    pub version: Option<Version>,
    pub sessions: u32,
    /// Simulated length of each session.
    pub session_secs: u64,
    pub meter_every_secs: u64,
    pub power_kw: f64,
    pub heartbeat_secs: u64,
    /// Stop after this long (and after the sessions are done).
    pub duration_secs: u64,
    /// Sessions to replay instead of `sessions` per charge point (the charge points are the
    /// file's; `count` is ignored).
    pub replay: Option<Arc<Vec<replay::Replayed>>>,
    /// Replay speed: simulated seconds per wall-clock second.
    pub speedup: f64,
    /// Meter values of replayed sessions every this many simulated seconds.
    pub replay_meter_secs: u64,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub connected: AtomicU64,
    pub boots: AtomicU64,
    pub sessions_running: AtomicU64,
    pub sessions_done: AtomicU64,
    pub messages: AtomicU64,
    pub calls_answered: AtomicU64,
    pub reconnects: AtomicU64,
    pub errors: AtomicU64,
    /// Milliseconds from the start of the run to the latest accepted boot.
    pub last_boot_ms: AtomicU64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub charge_points: usize,
    pub boots: u64,
    pub sessions_done: u64,
    pub messages: u64,
    pub calls_answered: u64,
    pub reconnects: u64,
    pub errors: u64,
    /// Milliseconds from the start until the last charge point was booted (the boot storm).
    pub all_booted_ms: u64,
}

impl Stats {
    fn summary(&self, n: usize) -> Summary {
        Summary {
            charge_points: n,
            boots: self.boots.load(Ordering::Relaxed),
            sessions_done: self.sessions_done.load(Ordering::Relaxed),
            messages: self.messages.load(Ordering::Relaxed),
            calls_answered: self.calls_answered.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            all_booted_ms: self.last_boot_ms.load(Ordering::Relaxed),
        }
    }
}

type Pending = Arc<Mutex<std::collections::HashMap<String, oneshot::Sender<Value>>>>;

/// One connected charge point: sends CALLs and waits for their answers.
struct Link {
    out: mpsc::UnboundedSender<String>,
    pending: Pending,
    next: u64,
    stats: Arc<Stats>,
    /// Turns true when the connection is gone.
    closed: tokio::sync::watch::Receiver<bool>,
}

impl Link {
    async fn call(&mut self, action: &str, payload: Value) -> Result<Value, String> {
        self.next += 1;
        let id = self.next.to_string();
        let (tx, rx) = oneshot::channel();
        self.pending.lock().await.insert(id.clone(), tx);
        self.out
            .send(json!([2, id, action, payload]).to_string())
            .map_err(|_| "connection closed".to_string())?;
        self.stats.messages.fetch_add(1, Ordering::Relaxed);
        let mut closed = self.closed.clone();
        tokio::select! {
            r = tokio::time::timeout(Duration::from_secs(30), rx) => match r {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(_)) => Err("connection closed".into()),
                Err(_) => Err(format!("{action}: no answer")),
            },
            _ = closed.wait_for(|c| *c) => Err("connection closed".into()),
        }
    }
}

/// The answer a simulated charge point gives to a call from the hub.
fn answer(action: &str, v: Version) -> Value {
    match (action, v) {
        ("GetConfiguration", _) => json!({"configurationKey": []}),
        ("GetVariables", _) => json!({"getVariableResult": []}),
        ("GetCompositeSchedule", _) => json!({"status": "Rejected"}),
        ("DataTransfer", _) => json!({"status": "UnknownVendorId"}),
        ("TriggerMessage", _) => json!({"status": "Accepted"}),
        ("UnlockConnector", Version::V16) => json!({"status": "Unlocked"}),
        ("UnlockConnector", Version::V201) => json!({"status": "Unlocked"}),
        _ => json!({"status": "Accepted"}),
    }
}

fn now() -> String {
    DateTime::now().to_string()
}

/// Run the simulation to its end; returns the counters.
pub async fn run(cfg: SimConfig) -> Summary {
    let stats = Arc::new(Stats::default());
    let started = tokio::time::Instant::now();
    let plans = match &cfg.replay {
        Some(sessions) => Plan::build(sessions, cfg.speedup, cfg.replay_meter_secs),
        None => (1..=cfg.count).map(|n| (n.to_string(), None)).collect(),
    };
    let count = plans.len();
    let progress = {
        let stats = stats.clone();
        let n = count;
        tokio::spawn(async move {
            let mut t = tokio::time::interval(Duration::from_secs(5));
            t.tick().await;
            loop {
                t.tick().await;
                eprintln!(
                    "simulate: {}/{} connected, {} sessions running, {} done, {} messages, {} errors",
                    stats.connected.load(Ordering::Relaxed),
                    n,
                    stats.sessions_running.load(Ordering::Relaxed),
                    stats.sessions_done.load(Ordering::Relaxed),
                    stats.messages.load(Ordering::Relaxed),
                    stats.errors.load(Ordering::Relaxed)
                );
            }
        })
    };
    let mut tasks = Vec::new();
    for (n, (name, plan)) in plans.into_iter().enumerate() {
        let version = cfg.version.unwrap_or(if n % 2 == 0 {
            Version::V16
        } else {
            Version::V201
        });
        let cfg = cfg.clone();
        let stats = stats.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("{}-{name}", cfg.prefix);
            charge_point(&cfg, id, version, stats, started, plan).await
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    progress.abort();
    stats.summary(count)
}

/// The charge point names of a replay (`PREFIX-{name}`), in order.
pub fn replay_charge_points(sessions: &[replay::Replayed]) -> Vec<String> {
    let mut names: Vec<String> = sessions.iter().map(|s| s.charge_point.clone()).collect();
    names.sort();
    names.dedup();
    names
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    Start,
    /// Energy delivered so far, in Wh.
    Meter(f64),
    Stop,
}

/// One charge point's replay: its events in time order and how far it got.
pub struct Plan {
    sessions: Vec<replay::Replayed>,
    events: Vec<(chrono::NaiveDateTime, usize, Step)>,
    next: usize,
    /// Transaction id of each started session.
    tx: std::collections::HashMap<usize, String>,
    seq: std::collections::HashMap<usize, i64>,
    /// Energy register of each connector, in Wh.
    register: std::collections::HashMap<u32, f64>,
    start_wh: std::collections::HashMap<usize, f64>,
    /// The first session's start in the whole file: simulated time zero.
    t0: chrono::NaiveDateTime,
    speedup: f64,
}

impl Plan {
    fn build(
        sessions: &[replay::Replayed],
        speedup: f64,
        meter_secs: u64,
    ) -> Vec<(String, Option<Plan>)> {
        let Some(t0) = sessions.iter().map(|s| s.start).min() else {
            return Vec::new();
        };
        let every = chrono::Duration::seconds(meter_secs.max(1) as i64);
        replay_charge_points(sessions)
            .into_iter()
            .map(|name| {
                let mine: Vec<_> = sessions
                    .iter()
                    .filter(|s| s.charge_point == name)
                    .cloned()
                    .collect();
                let mut events = Vec::new();
                for (i, s) in mine.iter().enumerate() {
                    events.push((s.start, i, Step::Start));
                    let span = (s.end - s.start).num_milliseconds().max(1) as f64;
                    let mut t = s.start + every;
                    while t < s.end {
                        let share = (t - s.start).num_milliseconds() as f64 / span;
                        events.push((t, i, Step::Meter(s.wh * share)));
                        t += every;
                    }
                    events.push((s.end, i, Step::Stop));
                }
                // Stops before starts at the same instant: a connector is freed, then reused.
                events.sort_by(|a, b| {
                    a.0.cmp(&b.0)
                        .then_with(|| (a.2 != Step::Stop).cmp(&(b.2 != Step::Stop)))
                });
                let plan = Plan {
                    sessions: mine,
                    events,
                    next: 0,
                    tx: Default::default(),
                    seq: Default::default(),
                    register: Default::default(),
                    start_wh: Default::default(),
                    t0,
                    speedup: speedup.max(1e-3),
                };
                (name, Some(plan))
            })
            .collect()
    }

    fn done(&self) -> bool {
        self.next >= self.events.len()
    }

    /// When an event is due, on the wall clock of a run that began at `started`.
    fn due(
        &self,
        at: chrono::NaiveDateTime,
        started: tokio::time::Instant,
    ) -> tokio::time::Instant {
        let sim_ms = (at - self.t0).num_milliseconds().max(0) as f64;
        started + Duration::from_millis((sim_ms / self.speedup) as u64)
    }
}

async fn charge_point(
    cfg: &SimConfig,
    id: String,
    v: Version,
    stats: Arc<Stats>,
    started: tokio::time::Instant,
    mut plan: Option<Plan>,
) {
    let end = tokio::time::Instant::now() + Duration::from_secs(cfg.duration_secs);
    let mut sessions_left = cfg.sessions;
    let mut meter_wh: f64 = 0.0;
    let mut backoff = 1u64;
    let mut first = true;
    if plan.is_some() {
        sessions_left = 0;
    }
    let unfinished = |p: &Option<Plan>| p.as_ref().is_some_and(|p| !p.done());
    while tokio::time::Instant::now() < end || sessions_left > 0 || unfinished(&plan) {
        if !first {
            stats.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        first = false;
        match connected(
            cfg,
            &id,
            v,
            &stats,
            end,
            &mut sessions_left,
            &mut meter_wh,
            started,
            &mut plan,
        )
        .await
        {
            Ok(()) => return,
            Err(e) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(charge_point = %id, error = %e, retry_in = backoff, "simulated charge point lost its connection");
                if tokio::time::Instant::now() + Duration::from_secs(backoff)
                    > end + Duration::from_secs(60)
                    && !unfinished(&plan)
                {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(backoff)).await;
                backoff = (backoff * 2).min(60);
            }
        }
    }
}

/// One connection's life: boot, status, sessions, heartbeats. `Ok` when the simulation is over.
#[allow(clippy::too_many_arguments)]
async fn connected(
    cfg: &SimConfig,
    id: &str,
    v: Version,
    stats: &Arc<Stats>,
    end: tokio::time::Instant,
    sessions_left: &mut u32,
    meter_wh: &mut f64,
    started: tokio::time::Instant,
    plan: &mut Option<Plan>,
) -> Result<(), String> {
    let mut req = format!("{}/ocpp/{id}", cfg.url)
        .into_client_request()
        .map_err(|e| e.to_string())?;
    let h = req.headers_mut();
    h.insert(
        "Sec-WebSocket-Protocol",
        v.subprotocol().parse().map_err(|_| "header")?,
    );
    let basic = STANDARD.encode(format!("{id}:{}", cfg.password));
    h.insert(
        "Authorization",
        format!("Basic {basic}").parse().map_err(|_| "header")?,
    );
    let mut ws_cfg = WebSocketConfig::default();
    // A few KiB per connection: the default 128 KiB read buffer would cost 1.3 GB at 10k.
    ws_cfg.read_buffer_size = 4096;
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async_with_config(req, Some(ws_cfg), false),
    )
    .await
    .map_err(|_| "no handshake within 10 s".to_string())?
    .map_err(|e| e.to_string())?;
    stats.connected.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = ws.split();
    let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
    let pending: Pending = Arc::default();
    let writer = tokio::spawn(async move {
        while let Some(text) = out_rx.recv().await {
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
    });
    let (closed_tx, closed) = tokio::sync::watch::channel(false);
    let reader = {
        let pending = pending.clone();
        let out = out.clone();
        let stats = stats.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let Message::Text(t) = msg else { continue };
                let Ok(frame) = serde_json::from_str::<Value>(&t) else {
                    continue;
                };
                match frame[0].as_u64() {
                    Some(2) => {
                        let action = frame[2].as_str().unwrap_or("");
                        let reply = json!([3, frame[1], answer(action, v)]).to_string();
                        stats.calls_answered.fetch_add(1, Ordering::Relaxed);
                        let _ = out.send(reply);
                    }
                    Some(3) | Some(4) => {
                        let id = frame[1].as_str().unwrap_or("").to_string();
                        let body = if frame[0] == 3 {
                            frame[2].clone()
                        } else {
                            json!({"error": frame[2]})
                        };
                        if let Some(tx) = pending.lock().await.remove(&id) {
                            let _ = tx.send(body);
                        }
                    }
                    _ => {}
                }
            }
            // The connection is gone: calls waiting for an answer fail now, not at their timeout.
            let _ = closed_tx.send(true);
            pending.lock().await.clear();
        })
    };
    let mut link = Link {
        out,
        pending,
        next: 0,
        stats: stats.clone(),
        closed,
    };
    let result = scenario(
        cfg,
        id,
        v,
        &mut link,
        end,
        sessions_left,
        meter_wh,
        started,
        plan,
    )
    .await;
    stats.connected.fetch_sub(1, Ordering::Relaxed);
    reader.abort();
    writer.abort();
    result
}

#[allow(clippy::too_many_arguments)]
async fn scenario(
    cfg: &SimConfig,
    id: &str,
    v: Version,
    link: &mut Link,
    end: tokio::time::Instant,
    sessions_left: &mut u32,
    meter_wh: &mut f64,
    started: tokio::time::Instant,
    plan: &mut Option<Plan>,
) -> Result<(), String> {
    let boot = match v {
        Version::V16 => link.call("BootNotification", json!({"chargePointVendor": "ocpi-hub", "chargePointModel": "Simulator"})).await?,
        Version::V201 => link.call("BootNotification", json!({"reason": "PowerUp", "chargingStation": {"vendorName": "ocpi-hub", "model": "Simulator"}})).await?,
    };
    if boot["status"] != "Accepted" {
        return Err(format!("boot answered {}", boot["status"]));
    }
    link.stats.boots.fetch_add(1, Ordering::Relaxed);
    link.stats
        .last_boot_ms
        .fetch_max(started.elapsed().as_millis() as u64, Ordering::Relaxed);
    status(link, v, 1, "Available", &now()).await?;
    let beat = Duration::from_secs(cfg.heartbeat_secs.max(1));
    let mut next_beat = tokio::time::Instant::now() + beat;
    if let Some(plan) = plan {
        replay_events(id, v, link, plan, started, beat).await?;
    }
    while *sessions_left > 0 {
        session(cfg, id, v, link, meter_wh).await?;
        *sessions_left -= 1;
    }
    loop {
        let now = tokio::time::Instant::now();
        if now >= end {
            return Ok(());
        }
        tokio::time::sleep_until(next_beat.min(end)).await;
        if tokio::time::Instant::now() >= next_beat {
            link.call("Heartbeat", json!({})).await?;
            next_beat += beat;
        }
    }
}

async fn status(link: &mut Link, v: Version, evse: u32, s: &str, at: &str) -> Result<(), String> {
    match v {
        Version::V16 => {
            let s16 = if s == "Occupied" { "Charging" } else { s };
            link.call("StatusNotification", json!({"connectorId": evse, "errorCode": "NoError", "status": s16, "timestamp": at})).await?
        }
        Version::V201 => {
            link.call(
                "StatusNotification",
                json!({"timestamp": at, "connectorStatus": s, "evseId": evse, "connectorId": 1}),
            )
            .await?
        }
    };
    Ok(())
}

fn stamp(t: chrono::NaiveDateTime) -> String {
    DateTime::from_naive(t).to_string()
}

/// Send a replay's events as they fall due (those already due at once), with heartbeats in
/// between; resumes where a lost connection left off.
async fn replay_events(
    id: &str,
    v: Version,
    link: &mut Link,
    plan: &mut Plan,
    started: tokio::time::Instant,
    beat: Duration,
) -> Result<(), String> {
    let mut next_beat = tokio::time::Instant::now() + beat;
    while let Some(&(at, i, step)) = plan.events.get(plan.next) {
        let due = plan.due(at, started);
        while due > next_beat {
            tokio::time::sleep_until(next_beat).await;
            link.call("Heartbeat", json!({})).await?;
            next_beat += beat;
        }
        tokio::time::sleep_until(due).await;
        let s = &plan.sessions[i];
        let (evse, ts) = (s.connector, stamp(at));
        let base = *plan.register.get(&evse).unwrap_or(&0.0);
        match step {
            Step::Start => {
                link.stats.sessions_running.fetch_add(1, Ordering::Relaxed);
                plan.start_wh.insert(i, base);
                status(link, v, evse, "Occupied", &ts).await?;
                let tx = match v {
                    Version::V16 => {
                        let r = link
                            .call("StartTransaction", json!({"connectorId": evse, "idTag": format!("REPLAY-{id}"), "meterStart": base.round() as i64, "timestamp": ts}))
                            .await?;
                        r["transactionId"]
                            .as_i64()
                            .map(|t| t.to_string())
                            .ok_or("no transactionId")?
                    }
                    Version::V201 => {
                        // A start sent again after a lost connection keeps its transaction id,
                        // as a charger's offline queue does.
                        let tx = plan
                            .tx
                            .entry(i)
                            .or_insert_with(|| uuid::Uuid::new_v4().simple().to_string())
                            .clone();
                        let mut e = tx_event("Started", 0, &tx, base, true, &ts);
                        e["evse"]["id"] = json!(evse);
                        link.call("TransactionEvent", e).await?;
                        tx
                    }
                };
                plan.tx.insert(i, tx);
                plan.seq.insert(i, 0);
            }
            Step::Meter(_) | Step::Stop if plan.tx.contains_key(&i) => {
                let tx = plan.tx[&i].clone();
                let start_wh = plan.start_wh.get(&i).copied().unwrap_or(base);
                let total = match step {
                    Step::Meter(w) => w,
                    _ => s.wh,
                };
                let register = start_wh + total;
                let seq = plan.seq.entry(i).or_insert(0);
                *seq += 1;
                let seq = *seq;
                match (v, step) {
                    (Version::V16, Step::Meter(_)) => {
                        let tx: i64 = tx.parse().unwrap_or(0);
                        link.call("MeterValues", json!({"connectorId": evse, "transactionId": tx, "meterValue": [{"timestamp": ts, "sampledValue": [
                            {"value": format!("{:.0}", register), "unit": "Wh", "measurand": "Energy.Active.Import.Register", "context": "Sample.Periodic"}]}]})).await?;
                    }
                    (Version::V16, _) => {
                        let tx: i64 = tx.parse().unwrap_or(0);
                        link.call("StopTransaction", json!({"transactionId": tx, "meterStop": register.round() as i64, "timestamp": ts, "reason": "EVDisconnected"})).await?;
                    }
                    (Version::V201, _) => {
                        let kind = if step == Step::Stop {
                            "Ended"
                        } else {
                            "Updated"
                        };
                        let mut e = tx_event(kind, seq, &tx, register, false, &ts);
                        e["evse"]["id"] = json!(evse);
                        link.call("TransactionEvent", e).await?;
                    }
                }
                if step == Step::Stop {
                    plan.register.insert(evse, register);
                    status(link, v, evse, "Available", &ts).await?;
                    link.stats.sessions_running.fetch_sub(1, Ordering::Relaxed);
                    link.stats.sessions_done.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => {}
        }
        plan.next += 1;
    }
    Ok(())
}

/// One charging session, compressed into `session_secs` of wall time.
async fn session(
    cfg: &SimConfig,
    id: &str,
    v: Version,
    link: &mut Link,
    meter_wh: &mut f64,
) -> Result<(), String> {
    link.stats.sessions_running.fetch_add(1, Ordering::Relaxed);
    status(link, v, 1, "Occupied", &now()).await?;
    let tx_id = match v {
        Version::V16 => {
            let r = link
                .call("StartTransaction", json!({"connectorId": 1, "idTag": format!("SIM-{id}"), "meterStart": meter_wh.round() as i64, "timestamp": now()}))
                .await?;
            r["transactionId"]
                .as_i64()
                .map(|t| t.to_string())
                .ok_or("no transactionId")?
        }
        Version::V201 => {
            let tx = uuid::Uuid::new_v4().simple().to_string();
            link.call(
                "TransactionEvent",
                tx_event("Started", 0, &tx, *meter_wh, true, &now()),
            )
            .await?;
            tx
        }
    };
    let steps = (cfg.session_secs / cfg.meter_every_secs.max(1)).max(1);
    let wh_per_step = cfg.power_kw * 1000.0 * cfg.meter_every_secs.max(1) as f64 / 3600.0;
    for step in 1..=steps {
        tokio::time::sleep(Duration::from_secs(cfg.meter_every_secs.max(1))).await;
        *meter_wh += wh_per_step;
        match v {
            Version::V16 => {
                let tx: i64 = tx_id.parse().unwrap_or(0);
                link.call("MeterValues", json!({"connectorId": 1, "transactionId": tx, "meterValue": [{"timestamp": now(), "sampledValue": [
                    {"value": format!("{:.3}", *meter_wh / 1000.0), "unit": "kWh", "measurand": "Energy.Active.Import.Register", "context": "Sample.Periodic"},
                    {"value": format!("{:.1}", cfg.power_kw * 1000.0), "unit": "W", "measurand": "Power.Active.Import", "context": "Sample.Periodic"}
                ]}]})).await?;
            }
            Version::V201 => {
                link.call(
                    "TransactionEvent",
                    tx_event("Updated", step as i64, &tx_id, *meter_wh, false, &now()),
                )
                .await?;
            }
        }
    }
    match v {
        Version::V16 => {
            let tx: i64 = tx_id.parse().unwrap_or(0);
            link.call("StopTransaction", json!({"transactionId": tx, "meterStop": meter_wh.round() as i64, "timestamp": now(), "reason": "EVDisconnected"})).await?;
        }
        Version::V201 => {
            link.call(
                "TransactionEvent",
                tx_event("Ended", steps as i64 + 1, &tx_id, *meter_wh, false, &now()),
            )
            .await?;
        }
    }
    status(link, v, 1, "Available", &now()).await?;
    link.stats.sessions_running.fetch_sub(1, Ordering::Relaxed);
    link.stats.sessions_done.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

fn tx_event(kind: &str, seq: i64, tx: &str, wh: f64, with_token: bool, at: &str) -> Value {
    let mut e = json!({
        "eventType": kind, "timestamp": at, "seqNo": seq,
        "triggerReason": match kind { "Started" => "Authorized", "Ended" => "EVDeparted", _ => "MeterValuePeriodic" },
        "transactionInfo": {"transactionId": tx},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [{"timestamp": at, "sampledValue": [
            {"value": (wh / 1000.0 * 1000.0).round() / 1000.0, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "kWh"}}
        ]}]
    });
    if with_token {
        e["idToken"] = json!({"idToken": "SIM-TOKEN", "type": "ISO14443"});
    }
    if kind == "Ended" {
        e["transactionInfo"]["stoppedReason"] = json!("EVDisconnected");
    }
    e
}
