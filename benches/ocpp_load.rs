//! Load benchmark of the OCPP gateway, with its own load generator.
//!
//! The hub runs as a child process (`target/release/ocpi-hub serve`, so that its memory is
//! measured apart from the generator's) on a fresh PostgreSQL database per run, with JSON-schema
//! validation (`HUB_OCPP_SCHEMA_DIR`) and the message log on. Each run has two parts:
//!
//! 1. **Boot storm**: `OCPP_LOAD_CONNECTIONS` (10,000) registered charge points connect (Basic
//!    auth, 1.6 and 2.0.1 alternating) and send BootNotification, at most
//!    `OCPP_LOAD_STORM_CONCURRENCY` (1,000) handshakes in flight. Reports the time until the
//!    last one is Accepted, the errors, when the database shows all of them connected, and the
//!    hub's VmRSS per idle connection (RSS connected and idle minus RSS before, over N). The hub
//!    is then stopped with SIGTERM while they are connected, and the database must show all of
//!    them disconnected (the writer is flushed on a clean stop).
//! 2. **Message rate**: `OCPP_LOAD_RATE_CPS` (1,000) OCPP 1.6 charge points, each with its own
//!    location and EVSE, boot and start a transaction, then send the mix `OCPP_LOAD_MIX`
//!    (`hsm`: Heartbeat, StatusNotification alternating Charging/Available, MeterValues, in
//!    turn). First closed loop (each charge point sends its next CALL when the previous one is
//!    answered: one outstanding CALL per connection, as OCPP requires) for `OCPP_LOAD_SECS`:
//!    the ceiling in msg/s. Then open loop at `OCPP_LOAD_RATE` msg/s (default: half the measured
//!    ceiling; the target asks for 20,000, half of 40,000): each CALL has a scheduled send time and its
//!    latency is measured from that time, so a slow answer delays (and is charged to) the ones
//!    after it. After a clean stop, the stored meter values and message log rows are counted.
//!
//! Run: `cargo bench --bench ocpp_load` (PostgreSQL from `TEST_DATABASE_URL`, else
//! `.ci/start-postgres`). `OCPP_LOAD_RUNS` (3) runs; medians are printed at the end.
//! `OCPP_LOAD_PART=storm|rate` runs one part only; `OCPP_LOAD_HUB` names another hub binary. The generator binds its sockets to
//! 127.1.x.y source addresses (no ephemeral-port exhaustion across runs) and raises its
//! open-files soft limit to the hard limit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::{Connection, ExpressionMethods, QueryDsl, RunQueryDsl};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use ocpi_hub::config::Settings;
use ocpi_hub::db::schema::{chargers, ocpp_messages, ocpp_meter_values};
use ocpi_hub::state::AppState;

const PASSWORD: &str = "bench-password-0123";

type Ws = WebSocketStream<TcpStream>;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Clone)]
struct Opts {
    connections: usize,
    storm_concurrency: usize,
    rate_cps: usize,
    secs: u64,
    rate: f64,
    mix: Vec<u8>,
    runs: usize,
    pool: u32,
    part: String,
    hub: PathBuf,
    schemas: PathBuf,
    pg: String,
}

// ---------------------------------------------------------------------------------------------
// Process plumbing: open-files limit, PostgreSQL, the hub child.

/// (soft, hard) open-files limit of this process, from /proc.
fn nofile() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.get(3)?.parse().ok()?, f.get(4)?.parse().ok()?))
        })
        .unwrap_or((1024, 1024))
}

/// Re-run this process with the soft open-files limit raised to the hard one (no libc needed:
/// the shell's `ulimit` does it).
fn raise_nofile(need: u64) {
    let (soft, hard) = nofile();
    if soft >= need || soft >= hard || std::env::var_os("OCPP_LOAD_REEXEC").is_some() {
        if soft < need {
            eprintln!("warning: open-files limit {soft} (hard {hard}) below the {need} needed");
        }
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let status = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n \"$1\" && shift && exec \"$@\"")
        .arg("sh")
        .arg(hard.to_string())
        .arg(exe)
        .args(std::env::args().skip(1))
        .env("OCPP_LOAD_REEXEC", "1")
        .status()
        .unwrap();
    std::process::exit(status.code().unwrap_or(1));
}

#[path = "common/cpu.rs"]
mod cpu;

fn postgres_url() -> String {
    if let Ok(u) = std::env::var("TEST_DATABASE_URL")
        && u.starts_with("postgres")
    {
        return u;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/start-postgres");
    let out = Command::new("bash").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A new, empty database on the server of `base`; its URL.
fn fresh_database(base: &str, name: &str) -> String {
    let mut c = diesel::PgConnection::establish(base).unwrap();
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut c)
        .unwrap();
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut c)
        .unwrap();
    let mut url = url::Url::parse(base).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

fn drop_database(base: &str, name: &str) {
    if let Ok(mut c) = diesel::PgConnection::establish(base) {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}")).execute(&mut c);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Hub {
    child: Child,
    ocpp: SocketAddr,
    log: PathBuf,
}

impl Hub {
    async fn start(o: &Opts, db_url: &str, log: PathBuf) -> Hub {
        let (http, ocpp) = (free_port(), free_port());
        let (_, hard) = nofile();
        let child = Command::new("sh")
            .arg("-c")
            .arg("ulimit -n \"$1\"; shift; exec \"$@\"")
            .arg("sh")
            .arg(hard.to_string())
            .arg(&o.hub)
            .arg("serve")
            .env("DATABASE_URL", db_url)
            .env("HUB_HTTP_ADDR", format!("127.0.0.1:{http}"))
            .env("HUB_OCPP_ADDR", format!("127.0.0.1:{ocpp}"))
            .env("HUB_LOG_LEVEL", "warn")
            .env("HUB_LOG_FORMAT", "json")
            .env("HUB_DB_POOL_SIZE", o.pool.to_string())
            .env("HUB_OCPP_SCHEMA_DIR", &o.schemas)
            .env("HUB_OCPP_AUTHORIZE", "accept")
            .env("HUB_OCPP_HEARTBEAT_SECS", "3600")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let health = format!("http://127.0.0.1:{http}/health");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(&health).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "hub did not start; see {log:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Hub {
            child,
            ocpp: ([127, 0, 0, 1], ocpp).into(),
            log,
        }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    }

    /// User + system CPU seconds used so far.
    fn cpu_secs(&self) -> f64 {
        cpu::cpu_secs(self.child.id())
    }

    /// SIGTERM (a clean stop) and wait for the exit.
    async fn stop(mut self) -> (std::process::ExitStatus, usize) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let status = tokio::task::spawn_blocking(move || self.child.wait().unwrap())
            .await
            .unwrap();
        let dropped = std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches("entry dropped")
            .count();
        (status, dropped)
    }
}

/// Schema, keys, charge points `{prefix}-{n}` (n from 1) and, with `sites`, one location with
/// EVSE `{prefix}-{n}-1` each.
async fn prepare(db_url: &str, prefix: &str, n: usize, sites: bool) -> Arc<AppState> {
    let settings = Settings {
        database_url: db_url.to_string(),
        db_pool_size: 4,
        ..Settings::default()
    };
    let state = tokio::task::spawn_blocking(move || {
        ocpi_hub::startup::build_state(settings, "http://127.0.0.1:1".into())
    })
    .await
    .unwrap()
    .map_err(|e| format!("{e:?}"))
    .unwrap();
    let state = Arc::new(state);
    let hash = ocpi_hub::ocpp::gateway::hash_password(PASSWORD);
    let prefix = prefix.to_string();
    let p = prefix.clone();
    state
        .db
        .write(move |c| {
            for i in 1..=n {
                let loc = sites.then(|| format!("SITE-{i}"));
                ocpi_hub::db::chargers::add(c, &format!("{p}-{i}"), Some(&hash), loc.as_deref())?;
            }
            Ok(())
        })
        .await
        .unwrap();
    if sites {
        let locations: Vec<Value> = (1..=n)
            .map(|i| {
                json!({
                    "country_code": "NL", "party_id": "HUB", "id": format!("SITE-{i}"), "publish": true,
                    "name": format!("Site {i}"), "address": "Stationsplein 1", "city": "Amsterdam",
                    "postal_code": "1012AB", "country": "NLD",
                    "coordinates": {"latitude": "52.379189", "longitude": "4.899431"},
                    "evses": [{"uid": format!("{prefix}-{i}-1"), "evse_id": format!("NL*HUB*E{i}"), "status": "AVAILABLE",
                               "connectors": [{"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                                               "power_type": "AC_3_PHASE", "max_voltage": 230, "max_amperage": 32,
                                               "last_updated": "2026-01-01T10:00:00Z"}],
                               "last_updated": "2026-01-01T10:00:00Z"}],
                    "time_zone": "Europe/Amsterdam", "last_updated": "2026-01-01T10:00:00Z"
                })
            })
            .collect();
        let report = ocpi_hub::ocpi::import::import_locations(&state, Value::Array(locations))
            .await
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        let report = serde_json::to_value(&report).unwrap();
        assert_eq!(report["created"], json!(n), "{report}");
    }
    state
}

async fn count_connected(state: &AppState) -> i64 {
    state
        .db
        .read(|c| {
            Ok(chargers::table
                .filter(chargers::connected.eq(true))
                .count()
                .get_result::<i64>(c)?)
        })
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// The generator's charge point: one WebSocket, one outstanding CALL.

async fn connect(hub: SocketAddr, k: usize, id: &str, proto: &str) -> Result<Ws, String> {
    let sock = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    // Spread over source addresses: 10k connections per run, several runs within TIME_WAIT.
    let src: SocketAddr = ([127, 1, (k / 250 % 250) as u8, (k % 250 + 1) as u8], 0).into();
    sock.bind(src).map_err(|e| e.to_string())?;
    let stream = sock.connect(hub).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut req = format!("ws://{hub}/ocpp/{id}")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{PASSWORD}"));
    let h = req.headers_mut();
    h.insert("Sec-WebSocket-Protocol", proto.parse().unwrap());
    h.insert("Authorization", format!("Basic {basic}").parse().unwrap());
    let mut cfg = WebSocketConfig::default();
    // A few KiB per connection: the default 128 KiB read buffer costs 1.3 GB at 10k.
    cfg.read_buffer_size = 4096;
    cfg.write_buffer_size = 0;
    let (ws, _) = tokio_tungstenite::client_async_with_config(req, stream, Some(cfg))
        .await
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// Send a CALL and wait for its answer: Ok(payload) for a CALLRESULT, Err for anything else.
async fn call(ws: &mut Ws, text: String) -> Result<Value, String> {
    ws.send(Message::Text(text.into()))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Err(_) => return Err("no answer in 30 s".into()),
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).map_err(|e| e.to_string())?;
                return if v[0] == 3 {
                    Ok(v[2].clone())
                } else {
                    Err(format!("answered {t}"))
                };
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(None) => return Err("closed".into()),
        }
    }
}

fn boot_frame(proto: &str) -> String {
    if proto == "ocpp1.6" {
        json!([2, "boot", "BootNotification", {"chargePointVendor": "ocpi-hub", "chargePointModel": "LoadGen", "firmwareVersion": "1.0"}])
    } else {
        json!([2, "boot", "BootNotification", {"reason": "PowerUp", "chargingStation": {"vendorName": "ocpi-hub", "model": "LoadGen"}}])
    }
    .to_string()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| !x.is_nan());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

// ---------------------------------------------------------------------------------------------
// Part 1: the boot storm and memory per idle connection.

#[derive(Debug, Clone, Default)]
struct StormResult {
    accepted: u64,
    errors: u64,
    all_accepted_s: f64,
    boot_p99_ms: f64,
    stored_s: f64,
    rss_before_kib: u64,
    rss_connected_kib: u64,
    per_connection_kib: f64,
    disconnects_stored: i64,
    clean_exit: bool,
}

async fn storm(o: &Opts, run: usize) -> StormResult {
    let name = format!("ocpp_load_storm_{run}");
    let db_url = fresh_database(&o.pg, &name);
    let n = o.connections;
    let state = prepare(&db_url, "STORM", n, false).await;
    let log = std::env::temp_dir().join(format!("ocpp_load_storm_{run}.log"));
    let hub = Hub::start(o, &db_url, log).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = hub.rss_kib();
    let sem = Arc::new(tokio::sync::Semaphore::new(o.storm_concurrency));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let accepted = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let last_ms = Arc::new(AtomicU64::new(0));
    let (lat_tx, mut lat_rx) = tokio::sync::mpsc::unbounded_channel::<Option<u64>>();
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for k in 0..n {
        let (sem, accepted, errors, last_ms, lat_tx) = (
            sem.clone(),
            accepted.clone(),
            errors.clone(),
            last_ms.clone(),
            lat_tx.clone(),
        );
        let mut stop = stop_rx.clone();
        let hub_addr = hub.ocpp;
        tasks.push(tokio::spawn(async move {
            let proto = if k % 2 == 0 { "ocpp1.6" } else { "ocpp2.0.1" };
            let id = format!("STORM-{}", k + 1);
            let permit = sem.acquire_owned().await.unwrap();
            let started = Instant::now();
            let ws = async {
                let mut ws = connect(hub_addr, k, &id, proto).await?;
                let r = call(&mut ws, boot_frame(proto)).await?;
                if r["status"] != "Accepted" {
                    return Err(format!("boot {r}"));
                }
                Ok::<_, String>(ws)
            }
            .await;
            drop(permit);
            let mut ws = match ws {
                Ok(ws) => ws,
                Err(e) => {
                    if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("  storm error: {e}");
                    }
                    let _ = lat_tx.send(None);
                    return;
                }
            };
            accepted.fetch_add(1, Ordering::Relaxed);
            last_ms.fetch_max(t0.elapsed().as_millis() as u64, Ordering::Relaxed);
            let _ = lat_tx.send(Some(started.elapsed().as_micros() as u64));
            // Idle: answer the hub's pings until told to stop or the hub closes.
            loop {
                tokio::select! {
                    m = ws.next() => match m {
                        Some(Ok(_)) => continue,
                        _ => return,
                    },
                    _ = stop.changed() => {
                        let _ = ws.close(None).await;
                        return;
                    }
                }
            }
        }));
    }
    drop(lat_tx);
    // One report per charge point: booted (its latency) or failed.
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        match lat_rx.recv().await {
            Some(Some(l)) => lat.push(l),
            Some(None) => {}
            None => break,
        }
    }
    let all_accepted_s = last_ms.load(Ordering::Relaxed) as f64 / 1000.0;
    lat.sort_unstable();
    let ok = accepted.load(Ordering::Relaxed);
    let errs = errors.load(Ordering::Relaxed);
    // Stored: the database shows them all connected.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut stored_s = f64::NAN;
    while Instant::now() < deadline {
        if count_connected(&state).await >= ok as i64 {
            stored_s = t0.elapsed().as_secs_f64();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Idle for a moment, then the hub's resident memory.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_connected = hub.rss_kib();
    // A clean stop while connected: every disconnect must be stored.
    let (status, _) = hub.stop().await;
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let disconnects_stored = ok as i64 - count_connected(&state).await;
    drop(state);
    drop_database(&o.pg, &name);
    StormResult {
        accepted: ok,
        errors: errs,
        all_accepted_s,
        boot_p99_ms: percentile(&lat, 0.99),
        stored_s,
        rss_before_kib: rss_before,
        rss_connected_kib: rss_connected,
        per_connection_kib: (rss_connected.saturating_sub(rss_before)) as f64 / ok.max(1) as f64,
        disconnects_stored,
        clean_exit: status.success(),
    }
}

// ---------------------------------------------------------------------------------------------
// Part 2: message rate.

struct Cp {
    ws: Ws,
    tx: i64,
    seq: u64,
    charging: bool,
}

impl Cp {
    fn next(&mut self, mix: &[u8]) -> (u8, String) {
        self.seq += 1;
        let kind = mix[(self.seq as usize) % mix.len()];
        let id = self.seq.to_string();
        let frame = match kind {
            b'h' => json!([2, id, "Heartbeat", {}]),
            b's' => {
                self.charging = !self.charging;
                let status = if self.charging {
                    "Charging"
                } else {
                    "Available"
                };
                json!([2, id, "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": status, "timestamp": now()}])
            }
            _ => {
                json!([2, id, "MeterValues", {"connectorId": 1, "transactionId": self.tx, "meterValue": [{"timestamp": now(), "sampledValue": [
                {"value": (self.seq * 10).to_string(), "unit": "Wh", "measurand": "Energy.Active.Import.Register", "context": "Sample.Periodic"}]}]}])
            }
        };
        (kind, frame.to_string())
    }
}

#[derive(Default)]
struct Load {
    ok: u64,
    errors: u64,
    meter_ok: u64,
    /// Microseconds, from the scheduled send time (open loop) or the send (closed loop).
    latencies: Vec<u64>,
    /// The same, per message kind of the mix (`h`, `s`, `m`).
    by_kind: std::collections::BTreeMap<u8, Vec<u64>>,
}

impl Load {
    /// p50 / p99 per message kind, for the report.
    fn kinds(&mut self) -> String {
        let mut out = Vec::new();
        for (k, v) in self.by_kind.iter_mut() {
            v.sort_unstable();
            out.push(format!(
                "{} p50 {:.2} / p99 {:.2} ms",
                *k as char,
                percentile(v, 0.5),
                percentile(v, 0.99)
            ));
        }
        out.join(", ")
    }
}

/// Every charge point sends its mix for `secs`: back to back (`rate` None) or at its share of
/// `rate` msg/s with latency from the scheduled time.
async fn drive(cps: Vec<Cp>, mix: &[u8], secs: u64, rate: Option<f64>) -> (Vec<Cp>, Load, f64) {
    let n = cps.len();
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let end = start + Duration::from_secs(secs);
    let mut tasks = Vec::with_capacity(n);
    for (i, mut cp) in cps.into_iter().enumerate() {
        let mix = mix.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut load = Load::default();
            let interval = rate.map(|r| Duration::from_secs_f64(n as f64 / r));
            let mut k: u32 = 0;
            tokio::time::sleep_until(start).await;
            loop {
                let scheduled = match interval {
                    Some(iv) => start + iv.mul_f64(i as f64 / n as f64) + iv * k,
                    None => tokio::time::Instant::now(),
                };
                if scheduled >= end {
                    break;
                }
                tokio::time::sleep_until(scheduled).await;
                k += 1;
                let (kind, frame) = cp.next(&mix);
                match call(&mut cp.ws, frame).await {
                    Ok(_) => {
                        load.ok += 1;
                        if kind == b'm' {
                            load.meter_ok += 1;
                        }
                        let us = scheduled.elapsed().as_micros() as u64;
                        load.latencies.push(us);
                        load.by_kind.entry(kind).or_default().push(us);
                    }
                    Err(e) => {
                        if load.errors < 3 {
                            eprintln!("  call error: {e}");
                        }
                        load.errors += 1;
                    }
                }
            }
            (cp, load)
        }));
    }
    let mut all = Load::default();
    let mut back = Vec::with_capacity(n);
    for t in tasks {
        let (cp, l) = t.await.unwrap();
        back.push(cp);
        all.ok += l.ok;
        all.errors += l.errors;
        all.meter_ok += l.meter_ok;
        all.latencies.extend(l.latencies);
        for (k, v) in l.by_kind {
            all.by_kind.entry(k).or_default().extend(v);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.latencies.sort_unstable();
    (back, all, elapsed)
}

#[derive(Debug, Clone, Default)]
struct RateResult {
    ceiling: f64,
    ceiling_errors: u64,
    ceiling_p50_ms: f64,
    ceiling_p99_ms: f64,
    hub_cpu_share: f64,
    generator_cpu_share: f64,
    postgres_cpu_share: f64,
    fixed_rate: f64,
    achieved: f64,
    fixed_errors: u64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
    /// Open-loop p50 / p99 per message kind.
    kinds: String,
    meter_sent: u64,
    meter_stored: i64,
    log_expected: u64,
    log_stored: i64,
    log_dropped: usize,
}

async fn rate(o: &Opts, run: usize) -> RateResult {
    let name = format!("ocpp_load_rate_{run}");
    let db_url = fresh_database(&o.pg, &name);
    let n = o.rate_cps;
    let state = prepare(&db_url, "RATE", n, true).await;
    let log = std::env::temp_dir().join(format!("ocpp_load_rate_{run}.log"));
    let hub = Hub::start(o, &db_url, log).await;
    // Connect, boot, start a transaction (OCPP 1.6: MeterValues belong to it).
    let mut setup = Vec::new();
    for k in 0..n {
        let addr = hub.ocpp;
        setup.push(tokio::spawn(async move {
            let id = format!("RATE-{}", k + 1);
            let mut ws = connect(addr, k, &id, "ocpp1.6").await?;
            call(&mut ws, boot_frame("ocpp1.6")).await?;
            let r = call(&mut ws, json!([2, "st", "StartTransaction", {"connectorId": 1, "idTag": "LOADGEN", "meterStart": 0, "timestamp": now()}]).to_string()).await?;
            let tx = r["transactionId"].as_i64().ok_or("no transactionId")?;
            Ok::<_, String>(Cp {
                ws,
                tx,
                seq: 0,
                charging: false,
            })
        }));
    }
    let mut cps = Vec::new();
    for s in setup {
        cps.push(s.await.unwrap().unwrap());
    }
    // Boot and StartTransaction.
    let setup_calls = 2 * n as u64;
    // Warm-up, then the ceiling (closed loop).
    let (c, warm, _) = drive(cps, &o.mix, 2, None).await;
    let postmaster = cpu::postmaster_of(&o.pg);
    let cpu0 = (
        hub.cpu_secs(),
        cpu::cpu_secs(0),
        cpu::postgres_cpu_secs(postmaster),
    );
    let (c, ceiling, secs) = drive(c, &o.mix, o.secs, None).await;
    let hub_cpu_share = (hub.cpu_secs() - cpu0.0) / secs;
    // The load generator is this process (its database handle is idle meanwhile).
    let generator_cpu_share = (cpu::cpu_secs(0) - cpu0.1) / secs;
    let postgres_cpu_share = (cpu::postgres_cpu_secs(postmaster) - cpu0.2) / secs;
    let ceiling_rate = ceiling.ok as f64 / secs;
    // Open loop at the fixed rate.
    let fixed_rate = if o.rate > 0.0 {
        o.rate
    } else {
        ceiling_rate / 2.0
    };
    let (c, mut fixed, secs) = drive(c, &o.mix, o.secs, Some(fixed_rate)).await;
    let achieved = fixed.ok as f64 / secs;
    let meter_sent = warm.meter_ok + ceiling.meter_ok + fixed.meter_ok;
    let calls =
        setup_calls + warm.ok + warm.errors + ceiling.ok + ceiling.errors + fixed.ok + fixed.errors;
    // A clean stop, then what was stored.
    let (_, dropped) = hub.stop().await;
    drop(c);
    let (meter_stored, log_stored) = state
        .db
        .read(|c| {
            let m = ocpp_meter_values::table.count().get_result::<i64>(c)?;
            let l = ocpp_messages::table.count().get_result::<i64>(c)?;
            Ok((m, l))
        })
        .await
        .unwrap();
    drop(state);
    drop_database(&o.pg, &name);
    RateResult {
        ceiling: ceiling_rate,
        ceiling_errors: ceiling.errors,
        ceiling_p50_ms: percentile(&ceiling.latencies, 0.5),
        ceiling_p99_ms: percentile(&ceiling.latencies, 0.99),
        hub_cpu_share,
        generator_cpu_share,
        postgres_cpu_share,
        fixed_rate,
        achieved,
        fixed_errors: fixed.errors,
        p50_ms: percentile(&fixed.latencies, 0.5),
        p99_ms: percentile(&fixed.latencies, 0.99),
        p999_ms: percentile(&fixed.latencies, 0.999),
        max_ms: percentile(&fixed.latencies, 1.0),
        kinds: fixed.kinds(),
        meter_sent,
        meter_stored,
        log_expected: 2 * calls,
        log_stored,
        log_dropped: dropped,
    }
}

/// The machine's 1-minute load average (other work on the shared cores skews the figures).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_string()
}

fn main() {
    // `cargo test --benches` runs bench targets without --bench: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let connections: usize = env_or("OCPP_LOAD_CONNECTIONS", 10_000);
    raise_nofile(connections as u64 + 1000);
    let o = Opts {
        connections,
        storm_concurrency: env_or("OCPP_LOAD_STORM_CONCURRENCY", 1000),
        rate_cps: env_or("OCPP_LOAD_RATE_CPS", 1000),
        secs: env_or("OCPP_LOAD_SECS", 10),
        rate: env_or("OCPP_LOAD_RATE", 0.0),
        mix: env_or("OCPP_LOAD_MIX", "hsm".to_string()).into_bytes(),
        runs: env_or("OCPP_LOAD_RUNS", 3),
        pool: env_or("OCPP_LOAD_POOL", 16),
        part: env_or("OCPP_LOAD_PART", "all".to_string()),
        hub: std::env::var("OCPP_LOAD_HUB")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(env!("CARGO_BIN_EXE_ocpi-hub"))),
        schemas: std::env::var("HUB_OCPP_SCHEMA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../shared/ref/ocpp-schemas"
                ))
            }),
        pg: postgres_url(),
    };
    assert!(
        o.schemas.join("v16").is_dir(),
        "OCPP schemas not found at {:?} (set HUB_OCPP_SCHEMA_DIR)",
        o.schemas
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (soft, hard) = nofile();
    println!(
        "ocpp_load: hub {:?}, pool {}, open files {soft}/{hard}, {} runs",
        o.hub, o.pool, o.runs
    );
    let mut storms = Vec::new();
    let mut rates = Vec::new();
    for run in 1..=o.runs {
        if o.part == "all" || o.part == "storm" {
            println!("run {run} storm: load average before {}", loadavg());
            let s = rt.block_on(storm(&o, run));
            println!(
                "run {run} storm: {} accepted, {} errors, all accepted after {:.2} s (boot p99 {:.0} ms), \
                 all stored connected after {:.2} s; hub RSS {} → {} KiB = {:.1} KiB per connection; \
                 clean stop {} with {} of {} disconnects stored",
                s.accepted,
                s.errors,
                s.all_accepted_s,
                s.boot_p99_ms,
                s.stored_s,
                s.rss_before_kib,
                s.rss_connected_kib,
                s.per_connection_kib,
                s.clean_exit,
                s.disconnects_stored,
                s.accepted
            );
            storms.push(s);
        }
        if o.part == "all" || o.part == "rate" {
            println!("run {run} rate: load average before {}", loadavg());
            let r = rt.block_on(rate(&o, run));
            println!(
                "run {run} rate: ceiling {:.0} msg/s ({} errors, p50 {:.1} ms, p99 {:.1} ms, CPU cores: hub {:.2}, \
                 PostgreSQL {:.2}, load generator {:.2}); \
                 open loop at {:.0} msg/s: achieved {:.0}, {} errors, p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.1} ms, max {:.1} ms ({}); \
                 stored after a clean stop: {}/{} meter values, {}/{} log rows ({} dropped)",
                r.ceiling,
                r.ceiling_errors,
                r.ceiling_p50_ms,
                r.ceiling_p99_ms,
                r.hub_cpu_share,
                r.postgres_cpu_share,
                r.generator_cpu_share,
                r.fixed_rate,
                r.achieved,
                r.fixed_errors,
                r.p50_ms,
                r.p99_ms,
                r.p999_ms,
                r.max_ms,
                r.kinds,
                r.meter_stored,
                r.meter_sent,
                r.log_stored,
                r.log_expected,
                r.log_dropped
            );
            rates.push(r);
        }
    }
    if !storms.is_empty() {
        let m = |f: fn(&StormResult) -> f64| median(storms.iter().map(f).collect());
        println!(
            "median storm ({} connections): all accepted {:.2} s (target ≤ 3 s), stored {:.2} s, \
             {:.1} KiB per idle connection (target ≤ 24 KiB), errors {}",
            o.connections,
            m(|s| s.all_accepted_s),
            m(|s| s.stored_s),
            m(|s| s.per_connection_kib),
            m(|s| s.errors as f64)
        );
    }
    if !rates.is_empty() {
        let m = |f: fn(&RateResult) -> f64| median(rates.iter().map(f).collect());
        println!(
            "median rate ({} charge points, mix {}): ceiling {:.0} msg/s (target ≥ 40,000; CPU \
             cores at the ceiling: hub {:.2}, PostgreSQL {:.2}, load generator {:.2}); \
             at {:.0} msg/s p99 {:.2} ms (target ≤ 10 ms), achieved {:.0} msg/s",
            o.rate_cps,
            String::from_utf8_lossy(&o.mix),
            m(|r| r.ceiling),
            m(|r| r.hub_cpu_share),
            m(|r| r.postgres_cpu_share),
            m(|r| r.generator_cpu_share),
            m(|r| r.fixed_rate),
            m(|r| r.p99_ms),
            m(|r| r.achieved)
        );
    }
}
