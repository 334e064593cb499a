//! End-to-end benchmark of sessions and CDRs: OCPP 1.6 transactions in, OCPI session pushes
//! and CDR POSTs out to an eMSP.
//!
//! Everything runs on loopback. The hub is a child process (`target/release/ocpi-hub serve`, or
//! `E2E_HUB`) on a fresh PostgreSQL database per run, with JSON-schema validation and the message
//! log on, and is set up only through its public interfaces: the admin API (`POST /admin/parties`,
//! `/admin/tariffs`, `/admin/locations`, `/api/chargers`), the OCPI credentials handshake of the
//! eMSP and a token PUT on the tokens Receiver. The eMSP is a small actix-web server in this
//! process that records each request's arrival time and fails `E2E_FAIL_PCT` % of the session
//! and CDR requests with HTTP 500. The charge points are OCPP 1.6 WebSocket clients in this
//! process; each runs transactions of StartTransaction, `E2E_METER_VALUES` (3) MeterValues and
//! StopTransaction, with register readings that make every push identifiable: the PUT by its
//! EVSE and start time, each PATCH by its session and `kwh`, the final PATCH by `COMPLETED`, the
//! CDR by its `session_id`. Latency is the push's first successful arrival at the eMSP minus the
//! moment the OCPP message was written to the socket (one clock, one process).
//!
//! Parts (`E2E_PART=latency|ceiling|drain|saturate|all`, default all = the first three), each
//! `E2E_RUNS` (3) times with a fresh hub and database:
//!
//! - **latency**: open loop at `E2E_RATE` (200) transaction events/s spread over `E2E_CPS` (100)
//!   charge points for `E2E_SECS` (30), once with no eMSP failures and once with `E2E_FAIL_PCT`
//!   (1) % failures. Reports p50/p99 from the OCPP message to the session push (PUT and PATCHes)
//!   and to the CDR POST, the OCPP answer time, and checks that every expected push arrived, in
//!   order per session, and that the outbox holds no PENDING or DEAD delivery at the end.
//!   Messages sent in the first `E2E_WARMUP_SECS` (2) are checked but left out of the
//!   latencies (the hub's database connections are still cold: the first statements of each
//!   connection load its catalog caches); `E2E_WARMUP_SECS=0` counts everything, and
//!   `E2E_TIMELINE=1` prints the worst session push of each second.
//! - **ceiling**: open loop at each of `E2E_CEILING_RATES` (200,300,400,600,800) messages/s over
//!   `E2E_CEILING_CPS` (200) charge points for `E2E_CEILING_SECS` (15) on one hub: session
//!   pushes/s arriving while the charge points send, and the backlog of pushes not yet arrived
//!   when they stop (a sustained rate keeps it near zero).
//! - **saturate** (only when asked): closed loop, each charge point sending its next message as
//!   soon as the previous one is answered (transactions of 20 meter values).
//! - **drain**: the outbox alone. The eMSP holds every session request until
//!   `E2E_DRAIN_EVENTS` (10,000) events have been ingested, then answers: the rate at which the
//!   backlog of session pushes reaches it.
//!
//! Run: `cargo bench --bench sessions_e2e` (PostgreSQL from `TEST_DATABASE_URL`, else
//! `.ci/start-postgres`; `E2E_KEEP_DB=1` keeps each run's database for inspection). The child
//! inherits the bench's environment, so other `HUB_*` settings can be tried without a rebuild.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use diesel::{Connection, RunQueryDsl};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const PASSWORD: &str = "e2e-bench-password-01";
const EMSP_TOKEN: &str = "e2e-emsp-token";
/// A fixed master secret, so that `ocpi-hub admin-token` mints tokens the hub accepts.
const SIGNING_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

type Ws = WebSocketStream<TcpStream>;

#[path = "common/cpu.rs"]
mod cpu;
use cpu::{cpu_secs, postgres_cpu_secs};

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Clone)]
struct Opts {
    rate: f64,
    cps: usize,
    secs: u64,
    meter_values: usize,
    fail_pct: f64,
    ceiling_cps: usize,
    ceiling_secs: u64,
    ceiling_rates: Vec<f64>,
    drain_events: usize,
    runs: usize,
    part: String,
    hub: PathBuf,
    schemas: PathBuf,
    pg: String,
    pg_pid: u32,
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL, the hub child, CPU accounting.

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

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

struct Hub {
    child: Child,
    http: String,
    ocpp: SocketAddr,
    admin: String,
    client: reqwest::Client,
}

impl Hub {
    async fn start(o: &Opts, db_url: &str, log: PathBuf, extra: &[(&str, String)]) -> Hub {
        let (http, ocpp) = (free_port(), free_port());
        let mut cmd = Command::new(&o.hub);
        cmd.arg("serve")
            .env("DATABASE_URL", db_url)
            .env("HUB_HTTP_ADDR", format!("127.0.0.1:{http}"))
            .env("HUB_OCPP_ADDR", format!("127.0.0.1:{ocpp}"))
            .env("HUB_SIGNING_KEY", SIGNING_KEY)
            .env("HUB_ALLOW_PRIVATE_TARGETS", "true")
            .env("HUB_OCPP_SCHEMA_DIR", &o.schemas)
            .env("HUB_OCPP_HEARTBEAT_SECS", "3600")
            .env("HUB_LOG_FORMAT", "json");
        if std::env::var_os("HUB_LOG_LEVEL").is_none() {
            cmd.env("HUB_LOG_LEVEL", "warn");
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{http}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{base}/health")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "hub did not start; see {log:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let out = Command::new(&o.hub)
            .arg("admin-token")
            .arg("--subject")
            .arg("e2e-bench")
            .env("DATABASE_URL", db_url)
            .env("HUB_SIGNING_KEY", SIGNING_KEY)
            .env("HUB_LOG_LEVEL", "error")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "admin-token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let admin = String::from_utf8(out.stdout).unwrap().trim().to_string();
        Hub {
            child,
            http: base,
            ocpp: ([127, 0, 0, 1], ocpp).into(),
            admin,
            client,
        }
    }

    async fn admin_post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.http))
            .bearer_auth(&self.admin)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Deliveries of the outbox in `state` (at most 1,000).
    async fn outbox(&self, state: &str) -> Vec<Value> {
        let r = self
            .client
            .get(format!(
                "{}/admin/outbox?state={state}&limit=1000",
                self.http
            ))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        v["data"].as_array().cloned().unwrap_or_default()
    }

    async fn ocpi(
        &self,
        m: reqwest::Method,
        path: &str,
        token: &str,
        body: &Value,
    ) -> (u16, Value) {
        let auth = format!(
            "Token {}",
            base64::engine::general_purpose::STANDARD.encode(token)
        );
        let r = self
            .client
            .request(m, format!("{}{path}", self.http))
            .header("Authorization", auth)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = tokio::task::spawn_blocking(move || self.child.wait())
            .await
            .unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The mock eMSP.

struct Rec {
    at: Instant,
    method: String,
    path: String,
    body: web::Bytes,
    status: u16,
}

struct Emsp {
    base: String,
    /// Failures in basis points (1 % = 100) of the session and CDR requests.
    fail_bp: AtomicU64,
    /// While true, session and CDR requests wait (the drain part).
    held: AtomicBool,
    release: tokio::sync::Notify,
    recs: Mutex<Vec<Rec>>,
    others: AtomicU64,
}

fn envelope(data: Value) -> Value {
    json!({"data": data, "status_code": 1000, "timestamp": "2026-01-01T00:00:00Z"})
}

async fn emsp_handle(req: HttpRequest, body: web::Bytes, e: web::Data<Emsp>) -> HttpResponse {
    let path = req.path().to_string();
    let method = req.method().as_str().to_string();
    let base = &e.base;
    if method == "GET" && path == "/ocpi/versions" {
        return HttpResponse::Ok().json(envelope(json!([
            {"version": "2.2.1", "url": format!("{base}/ocpi/2.2.1")}
        ])));
    }
    if method == "GET" && path == "/ocpi/2.2.1" {
        let ep =
            |id: &str, role: &str, url: String| json!({"identifier": id, "role": role, "url": url});
        return HttpResponse::Ok().json(envelope(json!({
            "version": "2.2.1",
            "endpoints": [
                ep("credentials", "SENDER", format!("{base}/ocpi/2.2.1/credentials")),
                ep("locations", "RECEIVER", format!("{base}/ocpi/emsp/2.2.1/locations")),
                ep("tariffs", "RECEIVER", format!("{base}/ocpi/emsp/2.2.1/tariffs")),
                ep("sessions", "RECEIVER", format!("{base}/ocpi/emsp/2.2.1/sessions")),
                ep("cdrs", "RECEIVER", format!("{base}/ocpi/emsp/2.2.1/cdrs")),
            ]
        })));
    }
    let is_session = path.starts_with("/ocpi/emsp/2.2.1/sessions");
    let is_cdr = path.starts_with("/ocpi/emsp/2.2.1/cdrs");
    if !(is_session || is_cdr) {
        e.others.fetch_add(1, Ordering::Relaxed);
        return HttpResponse::Ok().json(envelope(Value::Null));
    }
    while e.held.load(Ordering::Acquire) {
        let notified = e.release.notified();
        if !e.held.load(Ordering::Acquire) {
            break;
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), notified).await;
    }
    let at = Instant::now();
    let bp = e.fail_bp.load(Ordering::Relaxed);
    let fail = bp > 0 && rand::thread_rng().gen_range(0..10_000u64) < bp;
    let status = if fail {
        500
    } else if is_cdr {
        201
    } else {
        200
    };
    e.recs.lock().unwrap().push(Rec {
        at,
        method,
        path,
        body,
        status,
    });
    if fail {
        return HttpResponse::InternalServerError().body("injected failure");
    }
    if is_cdr {
        return HttpResponse::Created()
            .insert_header(("Location", format!("{base}/ocpi/emsp/2.2.1/cdrs/stored")))
            .json(envelope(Value::Null));
    }
    HttpResponse::Ok().json(envelope(Value::Null))
}

async fn start_emsp() -> (web::Data<Emsp>, actix_web::dev::ServerHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let data = web::Data::new(Emsp {
        base: format!("http://127.0.0.1:{port}"),
        fail_bp: AtomicU64::new(0),
        held: AtomicBool::new(false),
        release: tokio::sync::Notify::new(),
        recs: Mutex::new(Vec::with_capacity(100_000)),
        others: AtomicU64::new(0),
    });
    let d = data.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(d.clone())
            .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
            .default_service(web::to(emsp_handle))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (data, handle)
}

// ---------------------------------------------------------------------------------------------
// Setup through the public interfaces.

fn cp_id(run: &str, c: usize) -> String {
    format!("{run}-{c}")
}

fn tariff() -> Value {
    json!({"country_code": "NL", "party_id": "HUB", "id": "T1", "currency": "EUR",
           "elements": [{"price_components": [
               {"type": "FLAT", "price": 1.00, "vat": 20.0, "step_size": 1},
               {"type": "ENERGY", "price": 0.30, "vat": 20.0, "step_size": 1}]}],
           "last_updated": "2026-01-01T10:00:00Z"})
}

fn location(cp: &str, n: usize) -> Value {
    json!({
        "country_code": "NL", "party_id": "HUB", "id": format!("LOC-{cp}"), "publish": true,
        "name": format!("Site {n}"), "address": "Stationsplein 1", "city": "Utrecht",
        "postal_code": "3511AA", "country": "NLD",
        "coordinates": {"latitude": "52.09073", "longitude": "5.12142"},
        "evses": [{"uid": format!("{cp}-1"), "evse_id": format!("NL*HUB*E{n}"), "status": "AVAILABLE",
                   "capabilities": ["RFID_READER"],
                   "connectors": [{"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                                   "power_type": "AC_3_PHASE", "max_voltage": 230, "max_amperage": 32,
                                   "max_electric_power": 22000, "tariff_ids": ["T1"],
                                   "last_updated": "2026-01-01T10:00:00Z"}],
                   "last_updated": "2026-01-01T10:00:00Z"}],
        "time_zone": "Europe/Amsterdam", "last_updated": "2026-01-01T10:00:00Z"
    })
}

/// The eMSP DE/EMS registered, tariff T1, one location, charge point and token per charge
/// point; returns when the outbox has delivered the setup pushes (locations, tariffs).
async fn setup(hub: &Hub, emsp: &Emsp, run: &str, n: usize) {
    let (s, v) = hub
        .admin_post(
            "/admin/parties",
            &json!({"role": "EMSP", "country_code": "DE", "party_id": "EMS", "name": "EMS Ltd"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let token_a = v["data"]["token_a"].as_str().unwrap().to_string();
    let (s, v) = hub
        .ocpi(
            reqwest::Method::POST,
            "/ocpi/2.2.1/credentials",
            &token_a,
            &json!({"token": EMSP_TOKEN, "url": format!("{}/ocpi/versions", emsp.base),
                    "roles": [{"role": "EMSP", "country_code": "DE", "party_id": "EMS",
                               "business_details": {"name": "EMS Mobility"}}]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let token_c = v["data"]["token"].as_str().unwrap().to_string();
    let (s, v) = hub.admin_post("/admin/tariffs", &tariff()).await;
    assert_eq!(s, 200, "{v}");
    for c in 0..n {
        let cp = cp_id(run, c);
        let (s, v) = hub.admin_post("/admin/locations", &location(&cp, c)).await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = hub
            .admin_post(
                "/api/chargers",
                &json!({"id": cp, "password": PASSWORD, "location_id": format!("LOC-{cp}")}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        let uid = format!("TOK-{c}");
        let (s, v) = hub
            .ocpi(
                reqwest::Method::PUT,
                &format!("/ocpi/2.2.1/receiver/tokens/DE/EMS/{uid}"),
                &token_c,
                &json!({"country_code": "DE", "party_id": "EMS", "uid": uid, "type": "RFID",
                        "contract_id": format!("DE-EMS-C{c}"), "issuer": "EMS Mobility",
                        "valid": true, "whitelist": "ALWAYS",
                        "last_updated": "2026-01-01T00:00:00Z"}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
    }
    wait_outbox_empty(hub, Duration::from_secs(120)).await;
}

/// Wait until no delivery is PENDING; false on timeout.
async fn wait_outbox_empty(hub: &Hub, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if hub.outbox("PENDING").await.is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

// ---------------------------------------------------------------------------------------------
// The charge points.

async fn connect(hub: SocketAddr, id: &str) -> Ws {
    let stream = TcpStream::connect(hub).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut req = format!("ws://{hub}/ocpp/{id}")
        .into_client_request()
        .unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{PASSWORD}"));
    let h = req.headers_mut();
    h.insert("Sec-WebSocket-Protocol", "ocpp1.6".parse().unwrap());
    h.insert("Authorization", format!("Basic {basic}").parse().unwrap());
    let mut cfg = WebSocketConfig::default();
    cfg.read_buffer_size = 4096;
    cfg.write_buffer_size = 0;
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(req, stream, Some(cfg))
        .await
        .unwrap();
    let boot = json!([2, "boot", "BootNotification",
        {"chargePointVendor": "ocpi-hub", "chargePointModel": "E2EBench"}]);
    let (r, _) = call(&mut ws, boot.to_string()).await;
    assert_eq!(r["status"], "Accepted", "{r}");
    ws
}

/// Send a CALL; returns the CALLRESULT payload and the instant the frame was written.
async fn call(ws: &mut Ws, text: String) -> (Value, Instant) {
    let sent = Instant::now();
    ws.send(Message::Text(text.into())).await.unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(60), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                assert_eq!(v[0], 3, "{t}");
                return (v[2].clone(), sent);
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("charge point: {other:?}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Start,
    /// The k-th meter value (1-based): the PATCH with `kwh` = k.
    Meter(u32),
    Stop,
}

/// One transaction message a charge point sent.
#[derive(Debug, Clone)]
struct Sent {
    cp: usize,
    /// (charge point, start time in ms of the virtual clock): the session's key.
    start_ms: i64,
    kind: Kind,
    scheduled: Instant,
    sent: Instant,
    answered: Instant,
}

/// Virtual time of a charge point's message: each message is one minute after the previous
/// one, so readings never share a timestamp however fast the messages go.
fn vtime(step: i64) -> (String, i64) {
    let base = chrono::DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let t = base + chrono::Duration::minutes(step);
    (
        t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        t.timestamp_millis(),
    )
}

/// A charge point that runs transactions of `mv` meter values. `next_at(j)` is when its j-th
/// message is due (None: send as soon as the previous one is answered); it starts no new
/// transaction once `until` has passed (or `stop` is set) and always finishes the one it runs.
#[allow(clippy::too_many_arguments)]
async fn charge_point(
    hub: SocketAddr,
    run: String,
    c: usize,
    mv: usize,
    schedule: Option<(Instant, Duration, Duration)>,
    until: Instant,
    stop: Arc<AtomicBool>,
    finish_transactions: bool,
    epoch: i64,
    out: tokio::sync::mpsc::UnboundedSender<Sent>,
) {
    let id = cp_id(&run, c);
    let mut ws = connect(hub, &id).await;
    let mut j: u32 = 0;
    // Virtual minutes: each session of the charge point starts at a new time, also across
    // calls (`epoch`), or the hub would take a StartTransaction for a repeated one.
    let mut step: i64 = epoch;
    loop {
        let due = |j: u32| schedule.map(|(t0, offset, every)| t0 + offset + every * j);
        let now = Instant::now();
        let first = due(j).unwrap_or(now);
        if first >= until || stop.load(Ordering::Relaxed) {
            break;
        }
        // One transaction.
        let (ts, start_ms) = vtime(step);
        step += 1;
        let mut tx_id: i64 = 0;
        for k in 0..=mv + 1 {
            let (kind, text) = if k == 0 {
                (
                    Kind::Start,
                    json!([2, format!("s{j}"), "StartTransaction",
                        {"connectorId": 1, "idTag": format!("TOK-{c}"), "meterStart": 0, "timestamp": ts}])
                    .to_string(),
                )
            } else {
                let (ts, _) = vtime(step);
                step += 1;
                if k <= mv {
                    let wh = (k * 1000).to_string();
                    (
                        Kind::Meter(k as u32),
                        json!([2, format!("m{j}"), "MeterValues",
                            {"connectorId": 1, "transactionId": tx_id, "meterValue": [{"timestamp": ts,
                             "sampledValue": [{"value": wh, "measurand": "Energy.Active.Import.Register",
                                               "unit": "Wh", "context": "Sample.Periodic"}]}]}])
                        .to_string(),
                    )
                } else {
                    (
                        Kind::Stop,
                        json!([2, format!("e{j}"), "StopTransaction",
                            {"transactionId": tx_id, "meterStop": (mv + 1) * 1000, "timestamp": ts,
                             "reason": "EVDisconnected"}])
                        .to_string(),
                    )
                }
            };
            let scheduled = match due(j) {
                Some(at) => {
                    tokio::time::sleep_until(at.into()).await;
                    at
                }
                None => Instant::now(),
            };
            j += 1;
            let (r, sent) = call(&mut ws, text).await;
            let answered = Instant::now();
            if kind == Kind::Start {
                assert_eq!(r["idTagInfo"]["status"], "Accepted", "{r}");
                tx_id = r["transactionId"].as_i64().unwrap();
            }
            let _ = out.send(Sent {
                cp: c,
                start_ms,
                kind,
                scheduled,
                sent,
                answered,
            });
            if !finish_transactions && stop.load(Ordering::Relaxed) {
                let _ = ws.close(None).await;
                return;
            }
        }
    }
    let _ = ws.close(None).await;
}

// ---------------------------------------------------------------------------------------------
// Matching pushes to messages.

#[derive(Debug, Default, Clone)]
struct Check {
    expected: usize,
    lost: usize,
    out_of_order: usize,
    duplicates: usize,
    unmatched: usize,
    failed_requests: usize,
    session_lat_us: Vec<u64>,
    cdr_lat_us: Vec<u64>,
    answer_us: Vec<u64>,
    lag_us: Vec<u64>,
    /// Latency by message: StartTransaction → PUT, MeterValues → PATCH, StopTransaction →
    /// the COMPLETED PATCH; and from that PATCH's arrival to the CDR's.
    put_us: Vec<u64>,
    meter_us: Vec<u64>,
    stop_us: Vec<u64>,
    cdr_after_patch_us: Vec<u64>,
    /// From the OCPP answer to the push's arrival (the outbox's share).
    after_answer_us: Vec<u64>,
    /// OCPP answer time by message: StartTransaction, MeterValues, StopTransaction.
    answer_start_us: Vec<u64>,
    answer_meter_us: Vec<u64>,
    answer_stop_us: Vec<u64>,
    /// The worst session push latency of each second of the run (when the message was sent).
    worst_by_second: std::collections::BTreeMap<u64, u64>,
}

/// A push: (session (charge point, start), the message that caused it, is it the CDR).
type PushKey = ((usize, i64), Kind, bool);

/// Which message a successful session/CDR request answers: (session key, kind).
fn classify(r: &Rec, sessions: &HashMap<String, (usize, i64)>) -> Option<PushKey> {
    let body: Value = serde_json::from_slice(&r.body).ok()?;
    if r.path.starts_with("/ocpi/emsp/2.2.1/cdrs") {
        let sid = body["session_id"].as_str()?;
        return Some((*sessions.get(sid)?, Kind::Stop, true));
    }
    let sid = r.path.rsplit('/').next()?;
    let key = *sessions.get(sid)?;
    if r.method == "PUT" {
        return Some((key, Kind::Start, false));
    }
    if body["status"] == "COMPLETED" {
        return Some((key, Kind::Stop, false));
    }
    let kwh = body["kwh"].as_f64()?;
    Some((key, Kind::Meter(kwh.round() as u32), false))
}

fn check(sent: &[Sent], recs: &[Rec], run: &str) -> Check {
    // Session id → (charge point, start) from the PUTs (EVSE `{cp}-1`, start time).
    let mut sessions: HashMap<String, (usize, i64)> = HashMap::new();
    let prefix = format!("{run}-");
    for r in recs.iter().filter(|r| r.method == "PUT") {
        let Ok(body) = serde_json::from_slice::<Value>(&r.body) else {
            continue;
        };
        let cp = body["evse_uid"]
            .as_str()
            .and_then(|e| e.strip_prefix(&prefix))
            .and_then(|e| e.strip_suffix("-1"))
            .and_then(|c| c.parse::<usize>().ok());
        let start = body["start_date_time"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.timestamp_millis());
        if let (Some(cp), Some(start), Some(id)) = (cp, start, r.path.rsplit('/').next()) {
            sessions.insert(id.to_string(), (cp, start));
        }
    }
    // First successful arrival (index, time) of each (session, kind, is_cdr), and how often.
    let mut arrivals: HashMap<PushKey, (usize, Instant, usize)> = HashMap::new();
    let mut out = Check::default();
    for (i, r) in recs.iter().enumerate() {
        if r.status >= 300 {
            out.failed_requests += 1;
            continue;
        }
        match classify(r, &sessions) {
            Some(k) => {
                arrivals
                    .entry(k)
                    .and_modify(|e| e.2 += 1)
                    .or_insert((i, r.at, 1));
            }
            None => out.unmatched += 1,
        }
    }
    out.duplicates = arrivals.values().map(|a| a.2 - 1).sum();
    // Per session, the arrival order must follow the message order.
    let mut last_index: HashMap<(usize, i64), usize> = HashMap::new();
    let first_sent = sent.iter().map(|s| s.sent).min();
    // Messages sent in the first `E2E_WARMUP_SECS` (2) are checked like all others but left
    // out of the latencies: the hub's connections and caches are still cold then.
    let warmup = Duration::from_secs_f64(env_or("E2E_WARMUP_SECS", 2.0));
    for s in sent {
        let key = (s.cp, s.start_ms);
        let measured = first_sent.is_none_or(|t0| s.sent >= t0 + warmup);
        let answer = s.answered.duration_since(s.sent).as_micros() as u64;
        if measured {
            out.answer_us.push(answer);
            match s.kind {
                Kind::Start => out.answer_start_us.push(answer),
                Kind::Meter(_) => out.answer_meter_us.push(answer),
                Kind::Stop => out.answer_stop_us.push(answer),
            }
            out.lag_us
                .push(s.sent.saturating_duration_since(s.scheduled).as_micros() as u64);
        }
        let mut wanted = vec![(s.kind, false)];
        if s.kind == Kind::Stop {
            wanted.push((Kind::Stop, true));
        }
        for (kind, is_cdr) in wanted {
            out.expected += 1;
            match arrivals.get(&(key, kind, is_cdr)) {
                None => out.lost += 1,
                Some((idx, at, _)) => {
                    let lat = at.saturating_duration_since(s.sent).as_micros() as u64;
                    if let Some(t0) = first_sent
                        && !is_cdr
                    {
                        let second = s.sent.saturating_duration_since(t0).as_secs();
                        let worst = out.worst_by_second.entry(second).or_default();
                        *worst = (*worst).max(lat);
                    }
                    if measured && is_cdr {
                        out.cdr_lat_us.push(lat);
                        if let Some((_, patch_at, _)) = arrivals.get(&(key, Kind::Stop, false)) {
                            out.cdr_after_patch_us
                                .push(at.saturating_duration_since(*patch_at).as_micros() as u64);
                        }
                    } else if measured {
                        out.session_lat_us.push(lat);
                        out.after_answer_us
                            .push(at.saturating_duration_since(s.answered).as_micros() as u64);
                        match kind {
                            Kind::Start => out.put_us.push(lat),
                            Kind::Meter(_) => out.meter_us.push(lat),
                            Kind::Stop => out.stop_us.push(lat),
                        }
                    }
                    let prev = last_index.insert(key, *idx);
                    if prev.is_some_and(|p| p > *idx) {
                        out.out_of_order += 1;
                    }
                }
            }
        }
    }
    out.session_lat_us.sort_unstable();
    out.cdr_lat_us.sort_unstable();
    out.answer_us.sort_unstable();
    out.lag_us.sort_unstable();
    for v in [
        &mut out.put_us,
        &mut out.meter_us,
        &mut out.stop_us,
        &mut out.cdr_after_patch_us,
        &mut out.after_answer_us,
        &mut out.answer_start_us,
        &mut out.answer_meter_us,
        &mut out.answer_stop_us,
    ] {
        v.sort_unstable();
    }
    out
}

/// `p50/p99` of a sorted list of microseconds, in ms.
fn p50_99(v: &[u64]) -> String {
    format!("{:.1}/{:.1}", pct(v, 0.5), pct(v, 0.99))
}

fn pct(sorted: &[u64], p: f64) -> f64 {
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
// Parts.

#[derive(Debug, Clone, Default)]
struct LatencyResult {
    events: usize,
    achieved_rate: f64,
    session_p50: f64,
    session_p99: f64,
    session_max: f64,
    cdr_p50: f64,
    cdr_p99: f64,
    answer_p50: f64,
    answer_p99: f64,
    lag_p99: f64,
    expected: usize,
    lost: usize,
    out_of_order: usize,
    duplicates: usize,
    unmatched: usize,
    failed_requests: usize,
    dead: usize,
    pending: usize,
    hub_cpu: f64,
    pg_cpu: f64,
    bench_cpu: f64,
    load: String,
    breakdown: String,
}

struct Rig {
    hub: Hub,
    emsp: web::Data<Emsp>,
    emsp_handle: actix_web::dev::ServerHandle,
    db: String,
    run: String,
}

async fn rig(o: &Opts, name: &str, cps: usize, extra: &[(&str, String)]) -> Rig {
    let db_name = format!("e2e_{}", name.to_ascii_lowercase());
    let db_url = fresh_database(&o.pg, &db_name);
    let (emsp, emsp_handle) = start_emsp().await;
    let log = std::env::temp_dir().join(format!("sessions_e2e_{name}.log"));
    let hub = Hub::start(o, &db_url, log, extra).await;
    let run = name.to_ascii_uppercase();
    setup(&hub, &emsp, &run, cps).await;
    Rig {
        hub,
        emsp,
        emsp_handle,
        db: db_name,
        run,
    }
}

impl Rig {
    async fn finish(self, o: &Opts) {
        self.hub.stop().await;
        self.emsp_handle.stop(false).await;
        if std::env::var_os("E2E_KEEP_DB").is_none() {
            drop_database(&o.pg, &self.db);
        }
    }

    /// `cps` charge points sending back to back (20 meter values per transaction) until
    /// `stop`, reporting what they sent on `out`.
    fn closed_loop(
        &self,
        cps: usize,
        stop: &Arc<AtomicBool>,
        out: &tokio::sync::mpsc::UnboundedSender<Sent>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let far = Instant::now() + Duration::from_secs(3600);
        (0..cps)
            .map(|c| {
                tokio::spawn(charge_point(
                    self.hub.ocpp,
                    self.run.clone(),
                    c,
                    20,
                    None,
                    far,
                    stop.clone(),
                    true,
                    0,
                    out.clone(),
                ))
            })
            .collect()
    }

    fn take_recs(&self) -> Vec<Rec> {
        std::mem::take(&mut *self.emsp.recs.lock().unwrap())
    }
}

async fn latency(o: &Opts, run: usize, fail_pct: f64) -> LatencyResult {
    let name = format!("lat{}_{run}", (fail_pct * 100.0) as u64);
    let rig = rig(o, &name, o.cps, &[]).await;
    rig.take_recs();
    rig.emsp
        .fail_bp
        .store((fail_pct * 100.0).round() as u64, Ordering::Relaxed);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    // Connect first (boot), then start the clock a moment later.
    let t0 = Instant::now() + Duration::from_millis(500 + 20 * o.cps as u64);
    let until = t0 + Duration::from_secs(o.secs);
    let every = Duration::from_secs_f64(o.cps as f64 / o.rate);
    let (cpu_hub0, cpu_pg0, cpu_me0) = (
        cpu_secs(rig.hub.child.id()),
        postgres_cpu_secs(o.pg_pid),
        cpu_secs(0),
    );
    let mut tasks = Vec::new();
    for c in 0..o.cps {
        let offset = Duration::from_secs_f64(c as f64 / o.rate);
        tasks.push(tokio::spawn(charge_point(
            rig.hub.ocpp,
            rig.run.clone(),
            c,
            o.meter_values,
            Some((t0, offset, every)),
            until,
            stop.clone(),
            true,
            0,
            tx.clone(),
        )));
    }
    drop(tx);
    for t in tasks {
        t.await.unwrap();
    }
    let mut sent = Vec::new();
    while let Some(s) = rx.recv().await {
        sent.push(s);
    }
    let last_sent = sent.iter().map(|s| s.sent).max().unwrap_or(t0);
    let drained = wait_outbox_empty(&rig.hub, Duration::from_secs(120)).await;
    if !drained {
        eprintln!("  warning: outbox not empty after 120 s");
    }
    let (cpu_hub, cpu_pg, cpu_me) = (
        cpu_secs(rig.hub.child.id()) - cpu_hub0,
        postgres_cpu_secs(o.pg_pid) - cpu_pg0,
        cpu_secs(0) - cpu_me0,
    );
    let dead = rig.hub.outbox("DEAD").await.len();
    let pending = rig.hub.outbox("PENDING").await.len();
    let load = loadavg();
    let recs = rig.take_recs();
    let c = check(&sent, &recs, &rig.run);
    let events = sent.len();
    let span = last_sent.duration_since(t0).as_secs_f64().max(0.001);
    rig.finish(o).await;
    let per_k = 1000.0 / events.max(1) as f64;
    LatencyResult {
        events,
        achieved_rate: events as f64 / span,
        session_p50: pct(&c.session_lat_us, 0.50),
        session_p99: pct(&c.session_lat_us, 0.99),
        session_max: pct(&c.session_lat_us, 1.0),
        cdr_p50: pct(&c.cdr_lat_us, 0.50),
        cdr_p99: pct(&c.cdr_lat_us, 0.99),
        answer_p50: pct(&c.answer_us, 0.50),
        answer_p99: pct(&c.answer_us, 0.99),
        lag_p99: pct(&c.lag_us, 0.99),
        expected: c.expected,
        lost: c.lost,
        out_of_order: c.out_of_order,
        duplicates: c.duplicates,
        unmatched: c.unmatched,
        failed_requests: c.failed_requests,
        dead,
        pending,
        hub_cpu: cpu_hub * per_k,
        pg_cpu: cpu_pg * per_k,
        bench_cpu: cpu_me * per_k,
        load,
        breakdown: format!(
            "p50/p99 ms: PUT {} PATCH {} COMPLETED {} CDR after COMPLETED {} push after OCPP answer {}; \
             OCPP answer to Start {} MeterValues {} Stop {}",
            p50_99(&c.put_us),
            p50_99(&c.meter_us),
            p50_99(&c.stop_us),
            p50_99(&c.cdr_after_patch_us),
            p50_99(&c.after_answer_us),
            p50_99(&c.answer_start_us),
            p50_99(&c.answer_meter_us),
            p50_99(&c.answer_stop_us)
        ) + &timeline(&c),
    }
}

/// With `E2E_TIMELINE=1`: the worst session push latency (ms) of each second of the run, to
/// tell a start-up transient or a stall from a spread-out tail.
fn timeline(c: &Check) -> String {
    if std::env::var("E2E_TIMELINE").is_err() {
        return String::new();
    }
    let worst: Vec<String> = c
        .worst_by_second
        .iter()
        .map(|(s, us)| format!("{s}:{}", us / 1000))
        .collect();
    format!(
        "\n    worst session push per second (s:ms): {}",
        worst.join(" ")
    )
}

#[derive(Debug, Clone, Default)]
struct CeilingResult {
    events_per_s: f64,
    pushes_per_s: f64,
    backlog_at_end: i64,
    lost: usize,
    dead: usize,
    hub_cpu_pct: f64,
    pg_cpu_pct: f64,
    bench_cpu_pct: f64,
    load: String,
}

/// Closed loop: events/s ingested and session pushes/s arriving, in the window after a warm-up.
async fn saturate(o: &Opts, run: usize) -> CeilingResult {
    let name = format!("ceil_{run}");
    let rig = rig(o, &name, o.ceiling_cps, &[]).await;
    rig.take_recs();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = rig.closed_loop(o.ceiling_cps, &stop, &tx);
    drop(tx);
    let answered = Arc::new(AtomicU64::new(0));
    let a = answered.clone();
    let collector = tokio::spawn(async move {
        let mut v = Vec::new();
        while let Some(s) = rx.recv().await {
            a.fetch_add(1, Ordering::Relaxed);
            v.push(s);
        }
        v
    });
    let count_pushes = |rig: &Rig| {
        rig.emsp
            .recs
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.status < 300 && r.path.starts_with("/ocpi/emsp/2.2.1/sessions"))
            .count() as i64
    };
    let warmup = Duration::from_secs(3);
    tokio::time::sleep(warmup + Duration::from_millis(20 * o.ceiling_cps as u64)).await;
    let (e0, p0, w0) = (
        answered.load(Ordering::Relaxed) as i64,
        count_pushes(&rig),
        Instant::now(),
    );
    let (cpu_hub0, cpu_pg0, cpu_me0) = (
        cpu_secs(rig.hub.child.id()),
        postgres_cpu_secs(o.pg_pid),
        cpu_secs(0),
    );
    tokio::time::sleep(Duration::from_secs(o.ceiling_secs)).await;
    let (e1, p1, w1) = (
        answered.load(Ordering::Relaxed) as i64,
        count_pushes(&rig),
        Instant::now(),
    );
    let window = w1.duration_since(w0).as_secs_f64();
    let (cpu_hub, cpu_pg, cpu_me) = (
        cpu_secs(rig.hub.child.id()) - cpu_hub0,
        postgres_cpu_secs(o.pg_pid) - cpu_pg0,
        cpu_secs(0) - cpu_me0,
    );
    let load = loadavg();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let sent = collector.await.unwrap();
    // Session pushes the eMSP should still get at the end of the window: one per message
    // answered, minus the ones arrived.
    let backlog_at_end = e1 - p1;
    wait_outbox_empty(&rig.hub, Duration::from_secs(300)).await;
    let dead = rig.hub.outbox("DEAD").await.len();
    let recs = rig.take_recs();
    let c = check(&sent, &recs, &rig.run);
    rig.finish(o).await;
    CeilingResult {
        events_per_s: (e1 - e0) as f64 / window,
        pushes_per_s: (p1 - p0) as f64 / window,
        backlog_at_end,
        lost: c.lost,
        dead,
        hub_cpu_pct: 100.0 * cpu_hub / window,
        pg_cpu_pct: 100.0 * cpu_pg / window,
        bench_cpu_pct: 100.0 * cpu_me / window,
        load,
    }
}

#[derive(Debug, Clone, Default)]
struct StepResult {
    events_per_s: f64,
    pushes_per_s: f64,
    backlog_at_end: i64,
    drain_s: f64,
    session_p99: f64,
    hub_cpu_pct: f64,
    pg_cpu_pct: f64,
    load: String,
}

/// Open loop at rising rates on one hub: session pushes/s arriving while the charge points
/// send, and the backlog of session pushes not yet arrived when they stop.
async fn sweep(o: &Opts, run: usize) -> Vec<StepResult> {
    let name = format!("sweep_{run}");
    let cps = o.ceiling_cps;
    let rig = rig(o, &name, cps, &[]).await;
    rig.take_recs();
    let mut out = Vec::new();
    for (step_no, &rate) in o.ceiling_rates.iter().enumerate() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let t0 = Instant::now() + Duration::from_millis(500 + 10 * cps as u64);
        let until = t0 + Duration::from_secs(o.ceiling_secs);
        let every = Duration::from_secs_f64(cps as f64 / rate);
        let mut tasks = Vec::new();
        for c in 0..cps {
            let offset = Duration::from_secs_f64(c as f64 / rate);
            tasks.push(tokio::spawn(charge_point(
                rig.hub.ocpp,
                rig.run.clone(),
                c,
                o.meter_values,
                Some((t0, offset, every)),
                until,
                stop.clone(),
                true,
                1_000_000 * (1 + step_no as i64),
                tx.clone(),
            )));
        }
        drop(tx);
        tokio::time::sleep_until(t0.into()).await;
        let (cpu_hub0, cpu_pg0) = (cpu_secs(rig.hub.child.id()), postgres_cpu_secs(o.pg_pid));
        tokio::time::sleep_until(until.into()).await;
        let (cpu_hub, cpu_pg) = (
            cpu_secs(rig.hub.child.id()) - cpu_hub0,
            postgres_cpu_secs(o.pg_pid) - cpu_pg0,
        );
        let load = loadavg();
        let in_window = |at: Instant| at >= t0 && at < until;
        let (pushes, pushed_by_end) = {
            let recs = rig.emsp.recs.lock().unwrap();
            let ok = || {
                recs.iter()
                    .filter(|r| r.status < 300 && r.path.starts_with("/ocpi/emsp/2.2.1/sessions"))
            };
            (
                ok().filter(|r| in_window(r.at)).count(),
                ok().filter(|r| r.at < until).count(),
            )
        };
        for t in tasks {
            t.await.unwrap();
        }
        let mut sent = Vec::new();
        while let Some(s) = rx.recv().await {
            sent.push(s);
        }
        let answered_by_end = sent.iter().filter(|s| s.answered < until).count();
        let events = sent.iter().filter(|s| in_window(s.sent)).count();
        let d0 = Instant::now();
        wait_outbox_empty(&rig.hub, Duration::from_secs(600)).await;
        let drain_s = d0.elapsed().as_secs_f64();
        let recs = rig.take_recs();
        let c = check(&sent, &recs, &rig.run);
        if c.lost > 0 {
            eprintln!("  warning: {} pushes lost at {rate}/s", c.lost);
        }
        let secs = o.ceiling_secs as f64;
        out.push(StepResult {
            events_per_s: events as f64 / secs,
            pushes_per_s: pushes as f64 / secs,
            backlog_at_end: answered_by_end as i64 - pushed_by_end as i64,
            drain_s,
            session_p99: pct(&c.session_lat_us, 0.99),
            hub_cpu_pct: 100.0 * cpu_hub / secs,
            pg_cpu_pct: 100.0 * cpu_pg / secs,
            load,
        });
        let r = out.last().unwrap();
        println!(
            "  sweep run {run} at {rate}/s: {:.0} events/s sent, {:.0} session pushes/s arrived, backlog at end {}, \
             drained in {:.1} s, session p99 {:.1} ms; CPU hub {:.0}% pg {:.0}%; load {}",
            r.events_per_s,
            r.pushes_per_s,
            r.backlog_at_end,
            r.drain_s,
            r.session_p99,
            r.hub_cpu_pct,
            r.pg_cpu_pct,
            r.load
        );
    }
    rig.finish(o).await;
    out
}

#[derive(Debug, Clone, Default)]
struct DrainResult {
    backlog: usize,
    pushes_per_s: f64,
    lost: usize,
    hub_cpu_pct: f64,
    pg_cpu_pct: f64,
    load: String,
}

/// The outbox alone: ingest with the eMSP holding its answers, then release and time the drain.
async fn drain(o: &Opts, run: usize) -> DrainResult {
    let name = format!("drain_{run}");
    let cps = o.ceiling_cps;
    let rig = rig(
        o,
        &name,
        cps,
        &[
            ("HUB_OUTBOUND_TIMEOUT_SECS", "300".to_string()),
            ("HUB_OUTBOX_LEASE_SECS", "600".to_string()),
        ],
    )
    .await;
    rig.take_recs();
    rig.emsp.held.store(true, Ordering::Release);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = rig.closed_loop(cps, &stop, &tx);
    drop(tx);
    let mut sent = Vec::new();
    while let Some(s) = rx.recv().await {
        sent.push(s);
        if sent.len() >= o.drain_events {
            stop.store(true, Ordering::Relaxed);
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Every CP finished its transaction: one session push per message, one CDR per stop.
    let expected_sessions = sent.len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (cpu_hub0, cpu_pg0) = (cpu_secs(rig.hub.child.id()), postgres_cpu_secs(o.pg_pid));
    let t0 = Instant::now();
    rig.emsp.held.store(false, Ordering::Release);
    rig.emsp.release.notify_waiters();
    let arrived = |rig: &Rig| {
        rig.emsp
            .recs
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.status < 300 && r.path.starts_with("/ocpi/emsp/2.2.1/sessions"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    while arrived(&rig) < expected_sessions && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The time of the last session push's arrival.
    let last = rig
        .emsp
        .recs
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path.starts_with("/ocpi/emsp/2.2.1/sessions"))
        .map(|r| r.at)
        .max()
        .unwrap_or(t0);
    let secs = last.duration_since(t0).as_secs_f64().max(0.001);
    let (cpu_hub, cpu_pg) = (
        cpu_secs(rig.hub.child.id()) - cpu_hub0,
        postgres_cpu_secs(o.pg_pid) - cpu_pg0,
    );
    let load = loadavg();
    wait_outbox_empty(&rig.hub, Duration::from_secs(120)).await;
    let recs = rig.take_recs();
    let c = check(&sent, &recs, &rig.run);
    rig.finish(o).await;
    DrainResult {
        backlog: expected_sessions,
        pushes_per_s: expected_sessions as f64 / secs,
        lost: c.lost,
        hub_cpu_pct: 100.0 * cpu_hub / secs,
        pg_cpu_pct: 100.0 * cpu_pg / secs,
        load,
    }
}

// ---------------------------------------------------------------------------------------------

fn print_latency(label: &str, rs: &[LatencyResult]) {
    for (i, r) in rs.iter().enumerate() {
        println!(
            "  {label} run {i}: {} events at {:.1}/s; session p50 {:.2} ms p99 {:.2} ms max {:.1} ms; \
             CDR p50 {:.2} ms p99 {:.2} ms; OCPP answer p50 {:.2} p99 {:.2} ms; send lag p99 {:.2} ms; \
             expected {} lost {} out-of-order {} duplicates {} unmatched {} failed requests {}; \
             outbox DEAD {} PENDING {}; CPU s per 1k events hub {:.2} pg {:.2} bench {:.2}; load {}",
            r.events,
            r.achieved_rate,
            r.session_p50,
            r.session_p99,
            r.session_max,
            r.cdr_p50,
            r.cdr_p99,
            r.answer_p50,
            r.answer_p99,
            r.lag_p99,
            r.expected,
            r.lost,
            r.out_of_order,
            r.duplicates,
            r.unmatched,
            r.failed_requests,
            r.dead,
            r.pending,
            r.hub_cpu,
            r.pg_cpu,
            r.bench_cpu,
            r.load
        );
        println!("    {}", r.breakdown);
    }
    let m = |f: fn(&LatencyResult) -> f64| median(rs.iter().map(f).collect());
    let sum = |f: fn(&LatencyResult) -> usize| rs.iter().map(f).sum::<usize>();
    println!(
        "  {label} MEDIAN of {}: rate {:.1}/s; session p50 {:.2} ms p99 {:.2} ms; CDR p50 {:.2} ms p99 {:.2} ms; \
         OCPP answer p50 {:.2} ms p99 {:.2} ms; CPU s/1k events hub {:.2} pg {:.2} bench {:.2}; \
         TOTAL expected {} lost {} out-of-order {} DEAD {} PENDING {} failed requests {}",
        rs.len(),
        m(|r| r.achieved_rate),
        m(|r| r.session_p50),
        m(|r| r.session_p99),
        m(|r| r.cdr_p50),
        m(|r| r.cdr_p99),
        m(|r| r.answer_p50),
        m(|r| r.answer_p99),
        m(|r| r.hub_cpu),
        m(|r| r.pg_cpu),
        m(|r| r.bench_cpu),
        sum(|r| r.expected),
        sum(|r| r.lost),
        sum(|r| r.out_of_order),
        sum(|r| r.dead),
        sum(|r| r.pending),
        sum(|r| r.failed_requests),
    );
}

#[tokio::main]
async fn main() {
    let o = Opts {
        rate: env_or("E2E_RATE", 200.0),
        cps: env_or("E2E_CPS", 100),
        secs: env_or("E2E_SECS", 30),
        meter_values: env_or("E2E_METER_VALUES", 3),
        fail_pct: env_or("E2E_FAIL_PCT", 1.0),
        ceiling_cps: env_or("E2E_CEILING_CPS", 200),
        ceiling_secs: env_or("E2E_CEILING_SECS", 15),
        ceiling_rates: std::env::var("E2E_CEILING_RATES")
            .unwrap_or_else(|_| "200,300,400,600,800".into())
            .split(',')
            .filter_map(|r| r.trim().parse().ok())
            .collect(),
        drain_events: env_or("E2E_DRAIN_EVENTS", 10_000),
        runs: env_or("E2E_RUNS", 3),
        part: std::env::var("E2E_PART").unwrap_or_else(|_| "all".into()),
        hub: std::env::var("E2E_HUB")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(env!("CARGO_BIN_EXE_ocpi-hub"))),
        schemas: std::env::var("E2E_SCHEMAS")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../shared/ref/ocpp-schemas"
                ))
            }),
        pg: String::new(),
        pg_pid: 0,
    };
    let mut o = o;
    o.pg = postgres_url();
    o.pg_pid = cpu::postmaster_of(&o.pg);
    // `cargo bench` passes `--bench`; nothing else to parse.
    println!(
        "sessions_e2e: hub {:?}, rate {}/s over {} charge points, {} meter values per transaction, \
         {} s, {} % eMSP failures, {} run(s), load {}",
        o.hub,
        o.rate,
        o.cps,
        o.meter_values,
        o.secs,
        o.fail_pct,
        o.runs,
        loadavg()
    );
    let part = o.part.as_str();
    if part == "all" || part == "latency" {
        let mut fails = vec![0.0];
        if o.fail_pct > 0.0 {
            fails.push(o.fail_pct);
        }
        for fail in fails {
            let mut rs = Vec::new();
            for run in 0..o.runs {
                rs.push(latency(&o, run, fail).await);
            }
            print_latency(&format!("latency {fail}% failures"), &rs);
        }
    }
    if part == "all" || part == "ceiling" {
        let mut steps: Vec<Vec<StepResult>> = Vec::new();
        for run in 0..o.runs {
            steps.push(sweep(&o, run).await);
        }
        for (i, rate) in o.ceiling_rates.iter().enumerate() {
            let at: Vec<&StepResult> = steps.iter().filter_map(|s| s.get(i)).collect();
            let m = |f: fn(&StepResult) -> f64| median(at.iter().map(|r| f(r)).collect());
            println!(
                "  sweep MEDIAN at {rate}/s: {:.0} events/s sent, {:.0} session pushes/s arrived, backlog at end {:.0}, \
                 drain {:.1} s, session p99 {:.1} ms, CPU hub {:.0}% pg {:.0}%",
                m(|r| r.events_per_s),
                m(|r| r.pushes_per_s),
                m(|r| r.backlog_at_end as f64),
                m(|r| r.drain_s),
                m(|r| r.session_p99),
                m(|r| r.hub_cpu_pct),
                m(|r| r.pg_cpu_pct),
            );
        }
    }
    if part == "saturate" {
        let mut rs = Vec::new();
        for run in 0..o.runs {
            let r = saturate(&o, run).await;
            println!(
                "  saturate run {run}: {:.0} events/s in, {:.0} session pushes/s out, backlog at end {}, \
                 lost {} DEAD {}; CPU hub {:.0}% pg {:.0}% bench {:.0}%; load {}",
                r.events_per_s,
                r.pushes_per_s,
                r.backlog_at_end,
                r.lost,
                r.dead,
                r.hub_cpu_pct,
                r.pg_cpu_pct,
                r.bench_cpu_pct,
                r.load
            );
            rs.push(r);
        }
        println!(
            "  saturate MEDIAN of {}: {:.0} events/s in, {:.0} session pushes/s out",
            rs.len(),
            median(rs.iter().map(|r| r.events_per_s).collect()),
            median(rs.iter().map(|r| r.pushes_per_s).collect()),
        );
    }
    if part == "all" || part == "drain" {
        let mut rs = Vec::new();
        for run in 0..o.runs {
            let r = drain(&o, run).await;
            println!(
                "  drain run {run}: backlog {} session pushes drained at {:.0}/s, lost {}; CPU hub {:.0}% pg {:.0}%; load {}",
                r.backlog, r.pushes_per_s, r.lost, r.hub_cpu_pct, r.pg_cpu_pct, r.load
            );
            rs.push(r);
        }
        println!(
            "  drain MEDIAN of {}: {:.0} session pushes/s",
            rs.len(),
            median(rs.iter().map(|r| r.pushes_per_s).collect()),
        );
    }
}
