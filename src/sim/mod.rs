//! `ocpi-hub simulate`: N charge points (OCPP 1.6, 2.0.1 or a mix) against a hub. Each boots,
//! reports its connector Available, runs charging sessions with meter values (energy growing at
//! its power), sends heartbeats, answers the hub's calls (remote start/stop, profiles,
//! availability, reset, …), and reconnects with exponential back-off (1, 2, 4 … s, capped at
//! 60 s) when the hub goes away, booting again after each reconnect. Progress goes to stderr.

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
        match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err("connection closed".into()),
            Err(_) => Err(format!("{action}: no answer")),
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
    let progress = {
        let stats = stats.clone();
        let n = cfg.count;
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
    for n in 1..=cfg.count {
        let version = cfg.version.unwrap_or(if n % 2 == 1 {
            Version::V16
        } else {
            Version::V201
        });
        let cfg = cfg.clone();
        let stats = stats.clone();
        tasks.push(tokio::spawn(async move {
            charge_point(&cfg, format!("{}-{n}", cfg.prefix), version, stats, started).await
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    progress.abort();
    stats.summary(cfg.count)
}

async fn charge_point(
    cfg: &SimConfig,
    id: String,
    v: Version,
    stats: Arc<Stats>,
    started: tokio::time::Instant,
) {
    let end = tokio::time::Instant::now() + Duration::from_secs(cfg.duration_secs);
    let mut sessions_left = cfg.sessions;
    let mut meter_wh: f64 = 0.0;
    let mut backoff = 1u64;
    let mut first = true;
    while tokio::time::Instant::now() < end || sessions_left > 0 {
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
        )
        .await
        {
            Ok(()) => return,
            Err(e) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(charge_point = %id, error = %e, retry_in = backoff, "simulated charge point lost its connection");
                if tokio::time::Instant::now() + Duration::from_secs(backoff)
                    > end + Duration::from_secs(60)
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
    let (ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(ws_cfg), false)
        .await
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
        })
    };
    let mut link = Link {
        out,
        pending,
        next: 0,
        stats: stats.clone(),
    };
    let result = scenario(cfg, id, v, &mut link, end, sessions_left, meter_wh, started).await;
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
    status(link, v, "Available").await?;
    let beat = Duration::from_secs(cfg.heartbeat_secs.max(1));
    let mut next_beat = tokio::time::Instant::now() + beat;
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

async fn status(link: &mut Link, v: Version, s: &str) -> Result<(), String> {
    match v {
        Version::V16 => {
            let s16 = if s == "Occupied" { "Charging" } else { s };
            link.call("StatusNotification", json!({"connectorId": 1, "errorCode": "NoError", "status": s16, "timestamp": now()})).await?
        }
        Version::V201 => {
            link.call(
                "StatusNotification",
                json!({"timestamp": now(), "connectorStatus": s, "evseId": 1, "connectorId": 1}),
            )
            .await?
        }
    };
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
    status(link, v, "Occupied").await?;
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
                tx_event("Started", 0, &tx, *meter_wh, true),
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
                    tx_event("Updated", step as i64, &tx_id, *meter_wh, false),
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
                tx_event("Ended", steps as i64 + 1, &tx_id, *meter_wh, false),
            )
            .await?;
        }
    }
    status(link, v, "Available").await?;
    link.stats.sessions_running.fetch_sub(1, Ordering::Relaxed);
    link.stats.sessions_done.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

fn tx_event(kind: &str, seq: i64, tx: &str, wh: f64, with_token: bool) -> Value {
    let mut e = json!({
        "eventType": kind, "timestamp": now(), "seqNo": seq,
        "triggerReason": match kind { "Started" => "Authorized", "Ended" => "EVDeparted", _ => "MeterValuePeriodic" },
        "transactionInfo": {"transactionId": tx},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [{"timestamp": now(), "sampledValue": [
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
