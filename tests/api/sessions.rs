//! Sessions and CDRs: from OCPP transactions (1.6 and 2.0.1, real WebSockets) to a session
//! pushed to the token's eMSP only and a priced CDR POSTed to it (wiremock eMSPs); the Sender
//! interfaces scoped to the caller; delivery through eMSP failures and a hub restart; CPO-pushed
//! sessions and CDRs forwarded; credit CDRs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::locations::{connector, drained};
use crate::ocpp::{PASSWORD, Ws, add_charger, ask, open};
use crate::support::{FakePartner, TestApp, body_json, spawn_app_with};

pub fn ok() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"status_code": 1000, "timestamp": "2026-01-01T00:00:00Z"}))
}

/// An eMSP whose sessions and CDRs receivers accept everything (CDRs with a `Location`).
async fn emsp(token: &str) -> FakePartner {
    let p = FakePartner::start(token).await;
    Mock::given(path_regex(
        "^/ocpi/emsp/2.2.1/(locations|tariffs|sessions)/.*",
    ))
    .respond_with(ok())
    .mount(&p.server)
    .await;
    let stored = format!("{}/ocpi/emsp/2.2.1/cdrs/stored/{token}", p.server.uri());
    Mock::given(method("POST"))
        .and(path("/ocpi/emsp/2.2.1/cdrs"))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("Location", stored.as_str())
                .set_body_json(json!({"status_code": 1000, "timestamp": "2026-01-01T00:00:00Z"})),
        )
        .mount(&p.server)
        .await;
    p
}

fn token(uid: &str, pid: &str) -> Value {
    json!({
        "country_code": "DE", "party_id": pid, "uid": uid, "type": "RFID",
        "contract_id": format!("DE-{pid}-{uid}"), "issuer": "Mobility", "valid": true,
        "whitelist": "ALWAYS", "last_updated": "2026-01-01T00:00:00Z"
    })
}

/// Tariff T1 of the hub (NL/HUB): 1.00 per session plus 0.30 per kWh, 20 % VAT.
fn tariff() -> Value {
    json!({"country_code": "NL", "party_id": "HUB", "id": "T1", "currency": "EUR",
           "elements": [{"price_components": [
               {"type": "FLAT", "price": 1.00, "vat": 20.0, "step_size": 1},
               {"type": "ENERGY", "price": 0.30, "vat": 20.0, "step_size": 1}]}],
           "last_updated": "2026-01-01T10:00:00Z"})
}

/// Location LOC-S of the hub with one EVSE per charge point (`{cp}-1`, connector 1, tariff T1).
fn location(chargers: &[&str]) -> Value {
    let evses: Vec<Value> = chargers
        .iter()
        .map(|cp| {
            let mut c = connector("1");
            c["tariff_ids"] = json!(["T1"]);
            json!({"uid": format!("{cp}-1"), "evse_id": format!("NL*HUB*E{cp}"), "status": "AVAILABLE",
                   "capabilities": ["CHARGING_PREFERENCES_CAPABLE", "RFID_READER"],
                   "connectors": [c], "last_updated": "2026-01-01T10:00:00Z"})
        })
        .collect();
    json!({
        "country_code": "NL", "party_id": "HUB", "id": "LOC-S", "publish": true,
        "name": "Hub Station", "address": "Hubweg 1", "city": "Utrecht", "postal_code": "3511AA",
        "country": "NLD", "coordinates": {"latitude": "52.09073", "longitude": "5.12142"},
        "evses": evses, "time_zone": "Europe/Amsterdam", "last_updated": "2026-01-01T10:00:00Z"
    })
}

pub struct Hub {
    pub app: TestApp,
    pub ems_c: String,
    pub ems: FakePartner,
    pub oth_c: String,
    pub oth: FakePartner,
}

/// A hub with two eMSPs (DE/EMS, DE/OTH), tariff T1, location LOC-S with `chargers`, and
/// token TOK-1 of DE/EMS (and TOK-2 of DE/OTH).
pub async fn hub(chargers: &[&str], tweak: impl FnOnce(&mut ocpi_hub::config::Settings)) -> Hub {
    let app = spawn_app_with(|s| {
        s.outbox_backoff_base_ms = 20;
        s.outbox_poll_ms = 50;
        tweak(s);
    })
    .await;
    let ems = emsp("ems-token").await;
    let ems_c = app.register_partner(&ems, "EMSP", "DE", "EMS").await;
    let oth = emsp("oth-token").await;
    let oth_c = app.register_partner(&oth, "EMSP", "DE", "OTH").await;
    let r = app.admin_post("/admin/tariffs", &tariff()).await;
    assert_eq!(r.status(), 200);
    let r = app
        .admin_post("/admin/locations", &location(chargers))
        .await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    for (uid, pid, c) in [("TOK-1", "EMS", &ems_c), ("TOK-2", "OTH", &oth_c)] {
        let r = app
            .send_json(
                Method::PUT,
                &format!("/ocpi/2.2.1/receiver/tokens/DE/{pid}/{uid}"),
                c,
                &token(uid, pid),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    for cp in chargers {
        add_charger(&app, cp, Some("LOC-S")).await;
    }
    Hub {
        app,
        ems_c,
        ems,
        oth_c,
        oth,
    }
}

/// Session and CDR requests a fake eMSP received: (method, path, body), in arrival order.
pub async fn received(p: &FakePartner) -> Vec<(String, String, Value)> {
    p.requests()
        .await
        .into_iter()
        .filter(|r| {
            let path = r.url.path();
            path.starts_with("/ocpi/emsp/2.2.1/sessions")
                || path.starts_with("/ocpi/emsp/2.2.1/cdrs")
        })
        .map(|r| {
            (
                r.method.to_string(),
                r.url.path().to_string(),
                serde_json::from_slice(&r.body).unwrap_or(Value::Null),
            )
        })
        .collect()
}

fn mv16(at: &str, wh: u32) -> Value {
    json!([{"timestamp": at, "sampledValue": [
        {"value": wh.to_string(), "measurand": "Energy.Active.Import.Register", "unit": "Wh", "context": "Sample.Periodic"}]}])
}

/// A 1.6 transaction on connector 1: 1,000 Wh at 10:00, 3,000 at 10:10, 6,000 at 10:20,
/// 11,000 at the stop at 10:30 (10 kWh).
async fn run_16(ws: &mut Ws, uid: &str) {
    let r = ask(
        ws,
        &json!([2, "s", "StartTransaction", {"connectorId": 1, "idTag": uid, "meterStart": 1000, "timestamp": "2026-03-02T10:00:00Z"}]).to_string(),
    )
    .await;
    assert_eq!(r[2]["idTagInfo"]["status"], "Accepted", "{r}");
    let tx = r[2]["transactionId"].as_i64().unwrap();
    for (i, (at, wh)) in [
        ("2026-03-02T10:10:00Z", 3000),
        ("2026-03-02T10:20:00Z", 6000),
    ]
    .into_iter()
    .enumerate()
    {
        let r = ask(
            ws,
            &json!([2, format!("m{i}"), "MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": mv16(at, wh)}]).to_string(),
        )
        .await;
        assert_eq!(r[0], 3, "{r}");
    }
    let r = ask(
        ws,
        &json!([2, "e", "StopTransaction", {"transactionId": tx, "meterStop": 11000, "timestamp": "2026-03-02T10:30:00Z", "reason": "EVDisconnected"}]).to_string(),
    )
    .await;
    assert_eq!(r[0], 3, "{r}");
}

fn te(seq: i64, event: &str, at: &str, wh: u32, extra: Value) -> String {
    let mut p = json!({"eventType": event, "timestamp": at, "triggerReason": "MeterValuePeriodic", "seqNo": seq,
        "transactionInfo": {"transactionId": "TX-201"}, "evse": {"id": 1, "connectorId": 1},
        "meterValue": [{"timestamp": at, "sampledValue": [{"value": wh, "measurand": "Energy.Active.Import.Register"}]}]});
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    json!([2, format!("t{seq}"), "TransactionEvent", p]).to_string()
}

/// A 2.0.1 transaction: 0 Wh at 10:00, 7,500 at 10:15, 15,000 at the end at 10:30 (15 kWh).
async fn run_201(ws: &mut Ws, uid: &str) {
    let started = te(
        0,
        "Started",
        "2026-03-02T10:00:00Z",
        0,
        json!({"triggerReason": "Authorized", "idToken": {"idToken": uid, "type": "ISO14443"}}),
    );
    let r = ask(ws, &started).await;
    assert_eq!(r[2]["idTokenInfo"]["status"], "Accepted", "{r}");
    let r = ask(
        ws,
        &te(1, "Updated", "2026-03-02T10:15:00Z", 7500, json!({})),
    )
    .await;
    assert_eq!(r[0], 3, "{r}");
    let ended = te(
        2,
        "Ended",
        "2026-03-02T10:30:00Z",
        15000,
        json!({"triggerReason": "EVCommunicationLost", "transactionInfo": {"transactionId": "TX-201", "stoppedReason": "EVDisconnected"}}),
    );
    let r = ask(ws, &ended).await;
    assert_eq!(r[0], 3, "{r}");
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The pushes of one session as the eMSP received them: a PUT, then PATCHes with growing kWh
/// ending COMPLETED, then one CDR POST; returns (final kWh from the periods, the CDR).
pub fn check_session_then_cdr(got: &[(String, String, Value)], session_path_part: &str) -> Value {
    let ids: Vec<&str> = got
        .iter()
        .filter(|(_, p, _)| p.contains(session_path_part))
        .filter_map(|(_, p, _)| p.rsplit('/').next())
        .collect();
    let mine: Vec<&(String, String, Value)> = got
        .iter()
        .filter(|(_, p, b)| {
            p.contains(session_path_part)
                || b["session_id"].as_str().is_some_and(|s| ids.contains(&s))
        })
        .collect();
    assert!(mine.len() >= 3, "{mine:#?}");
    assert_eq!(mine[0].0, "PUT", "{mine:#?}");
    let mut kwh = num(&mine[0].2["kwh"]);
    let mut periods: Vec<Value> = Vec::new();
    let mut status = mine[0].2["status"].as_str().unwrap().to_string();
    let last = mine.len() - 1;
    for (m, _, b) in &mine[1..last] {
        assert_eq!(m, "PATCH", "{mine:#?}");
        assert!(b["last_updated"].is_string());
        if let Some(k) = b.get("kwh") {
            assert!(num(k) >= kwh, "kWh never goes down: {mine:#?}");
            kwh = num(k);
        }
        if let Some(s) = b.get("status") {
            status = s.as_str().unwrap().to_string();
        }
        periods.extend(
            b["charging_periods"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
    }
    assert_eq!(status, "COMPLETED", "{mine:#?}");
    let energy: f64 = periods
        .iter()
        .flat_map(|p| p["dimensions"].as_array().unwrap().clone())
        .filter(|d| d["type"] == "ENERGY")
        .map(|d| num(&d["volume"]))
        .sum();
    assert!((energy - kwh).abs() < 1e-6, "periods {energy} vs kwh {kwh}");
    let (m, p, cdr) = mine[last];
    assert_eq!((m.as_str(), p.as_str()), ("POST", "/ocpi/emsp/2.2.1/cdrs"));
    assert!((num(&cdr["total_energy"]) - kwh).abs() < 1e-6);
    cdr.clone()
}

#[tokio::test]
async fn ocpp_transactions_become_sessions_and_priced_cdrs_at_the_tokens_emsp_only() {
    let h = hub(&["CPS16", "CPS201"], |_| {}).await;
    let (mut ws16, _) = open(&h.app, "CPS16", "ocpp1.6", Some(PASSWORD))
        .await
        .unwrap();
    run_16(&mut ws16, "TOK-1").await;
    let (mut ws201, _) = open(&h.app, "CPS201", "ocpp2.0.1", Some(PASSWORD))
        .await
        .unwrap();
    run_201(&mut ws201, "tok-1").await;
    drained(&h.app).await;

    let got = received(&h.ems).await;
    let sessions: Vec<String> = got
        .iter()
        .filter(|(m, _, _)| m == "PUT")
        .map(|(_, p, _)| p.clone())
        .collect();
    assert_eq!(sessions.len(), 2, "{got:#?}");
    assert!(
        sessions
            .iter()
            .all(|p| p.starts_with("/ocpi/emsp/2.2.1/sessions/NL/HUB/"))
    );
    for (path, kwh, excl, incl) in [
        (&sessions[0], 10.0, 4.00, 4.80),
        (&sessions[1], 15.0, 5.50, 6.60),
    ] {
        let cdr = check_session_then_cdr(&got, path);
        assert_eq!(num(&cdr["total_energy"]), kwh);
        assert_eq!(num(&cdr["total_cost"]["excl_vat"]), excl, "{cdr}");
        assert_eq!(num(&cdr["total_cost"]["incl_vat"]), incl, "{cdr}");
        assert_eq!(num(&cdr["total_time"]), 0.5);
        assert_eq!(cdr["cdr_token"]["party_id"], "EMS");
        assert_eq!(cdr["cdr_token"]["contract_id"], "DE-EMS-TOK-1");
        assert_eq!(cdr["auth_method"], "WHITELIST");
        assert_eq!(cdr["tariffs"][0]["id"], "T1");
        assert_eq!(cdr["cdr_location"]["id"], "LOC-S");
        assert!(
            cdr["cdr_location"]["evse_id"]
                .as_str()
                .unwrap()
                .starts_with("NL*HUB*ECPS")
        );
        assert_eq!(cdr["currency"], "EUR");
        assert!(
            cdr["charging_periods"][0]["dimensions"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["type"] != "POWER" && d["type"] != "CURRENT")
        );
    }
    // Routing headers name the token owner; the other eMSP saw nothing.
    let posted: Vec<_> = h
        .ems
        .requests()
        .await
        .into_iter()
        .filter(|r| r.url.path().starts_with("/ocpi/emsp/2.2.1/sessions"))
        .collect();
    assert!(posted.iter().all(
        |r| r.headers["ocpi-to-party-id"] == "EMS" && r.headers["ocpi-from-party-id"] == "HUB"
    ));
    assert!(received(&h.oth).await.is_empty());

    // The eMSP's Location of each CDR is kept.
    let kept = h
        .app
        .state
        .db
        .read(|c| {
            let q = ocpi_hub::db::PageQuery {
                limit: 10,
                ..Default::default()
            };
            ocpi_hub::db::cdrs::page(c, &q, Some(&[("DE".into(), "EMS".into())]))
        })
        .await
        .unwrap();
    assert_eq!(kept.len(), 2);
    assert!(kept.iter().all(|r| {
        r.emsp_location.as_deref()
            == Some(
                format!(
                    "{}/ocpi/emsp/2.2.1/cdrs/stored/ems-token",
                    h.ems.server.uri()
                )
                .as_str(),
            )
    }));

    // Sender interfaces: only the caller's own; sessions need date_from.
    let list = |token: String, path: &'static str| {
        let app = &h.app;
        async move {
            let r = app.get(path, &token).await;
            assert_eq!(r.status(), 200);
            let total = r.headers()["x-total-count"].to_str().unwrap().to_string();
            (total, body_json(r).await)
        }
    };
    let (total, v) = list(
        h.ems_c.clone(),
        "/ocpi/2.2.1/sender/sessions?date_from=2020-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(total, "2");
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "COMPLETED")
    );
    let (total, _) = list(
        h.oth_c.clone(),
        "/ocpi/2.2.1/sender/sessions?date_from=2020-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(total, "0");
    let r = h.app.get("/ocpi/2.2.1/sender/sessions", &h.ems_c).await;
    assert_eq!(body_json(r).await["status_code"], 2001);
    let (total, v) = list(h.ems_c.clone(), "/ocpi/2.2.1/sender/cdrs").await;
    assert_eq!(total, "2");
    assert_eq!(
        num(&v["data"][0]["total_energy"]) + num(&v["data"][1]["total_energy"]),
        25.0
    );
    let (total, _) = list(h.oth_c.clone(), "/ocpi/2.2.1/sender/cdrs").await;
    assert_eq!(total, "0");

    // Charging preferences: the owner's session only; over sessions are NOT_POSSIBLE.
    let sid = v["data"][0]["session_id"].as_str().unwrap().to_string();
    let prefs = json!({"profile_type": "CHEAP", "departure_time": "2026-03-02T18:00:00Z", "energy_need": 20});
    let r = h
        .app
        .send_json(
            Method::PUT,
            &format!("/ocpi/2.2.1/sender/sessions/{sid}/charging_preferences"),
            &h.oth_c,
            &prefs,
        )
        .await;
    assert_eq!(r.status(), 404);
    let r = h
        .app
        .send_json(
            Method::PUT,
            &format!("/ocpi/2.2.1/sender/sessions/{sid}/charging_preferences"),
            &h.ems_c,
            &prefs,
        )
        .await;
    assert_eq!(body_json(r).await["data"], "NOT_POSSIBLE");

    // Operator usage log and CSV export.
    let usage = h.app.admin_get("/api/chargers/CPS16/transactions").await;
    let row = &usage["data"][0];
    assert_eq!(num(&row["energy_kwh"]), 10.0);
    assert_eq!(num(&row["cost_excl_vat"]), 4.0);
    assert_eq!(row["duration_secs"], 1800);
    let csv = h
        .app
        .http
        .get(h.app.url("/api/transactions.csv"))
        .bearer_auth(&h.app.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines.iter().any(|l| l.starts_with(
            "CPS201,TX-201,1,1,2026-03-02T10:00:00Z,2026-03-02T10:30:00Z,1800,15,5.5,6.6,EUR,"
        )),
        "{csv}"
    );
}

#[tokio::test]
async fn a_running_session_takes_charging_preferences_and_a_second_emsp_sees_none_of_it() {
    let h = hub(&["CPP"], |_| {}).await;
    let (mut ws, _) = open(&h.app, "CPP", "ocpp1.6", Some(PASSWORD))
        .await
        .unwrap();
    let r = ask(
        &mut ws,
        &json!([2, "s", "StartTransaction", {"connectorId": 1, "idTag": "TOK-2", "meterStart": 0, "timestamp": "2026-03-02T10:00:00Z"}]).to_string(),
    )
    .await;
    assert_eq!(r[2]["idTagInfo"]["status"], "Accepted");
    drained(&h.app).await;
    let got = received(&h.oth).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].2["status"], "ACTIVE");
    assert_eq!(got[0].2["cdr_token"]["party_id"], "OTH");
    assert!(received(&h.ems).await.is_empty());
    let sid = got[0].2["id"].as_str().unwrap().to_string();
    let url = format!("/ocpi/2.2.1/sender/sessions/{sid}/charging_preferences");
    let r = h
        .app
        .send_json(
            Method::PUT,
            &url,
            &h.oth_c,
            &json!({"profile_type": "FAST"}),
        )
        .await;
    assert_eq!(body_json(r).await["data"], "ACCEPTED");
    let r = h
        .app
        .send_json(
            Method::PUT,
            &url,
            &h.oth_c,
            &json!({"profile_type": "SOMETIMES"}),
        )
        .await;
    assert_eq!(body_json(r).await["status_code"], 2001);
    // An eMSP pulling tokens gets its own only (CPO partners get all).
    let r = h.app.get("/ocpi/2.2.1/sender/tokens", &h.oth_c).await;
    assert_eq!(r.headers()["x-total-count"], "1");
    assert_eq!(body_json(r).await["data"][0]["uid"], "TOK-2");
    // Another eMSP cannot read it by id walking.
    let r = h
        .app
        .get(
            &format!("/ocpi/2.2.1/receiver/sessions/NL/HUB/{sid}"),
            &h.ems_c,
        )
        .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn pushes_survive_emsp_failures_and_a_hub_restart_in_order_and_once() {
    let h = hub(&["CPD"], |s| {
        s.outbox_lease_secs = 1;
    })
    .await;
    // The eMSP fails its first 4 session/CDR requests with 500.
    Mock::given(path_regex("^/ocpi/emsp/2.2.1/(sessions|cdrs).*"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(4)
        .with_priority(1)
        .mount(&h.ems.server)
        .await;
    let (mut ws, _) = open(&h.app, "CPD", "ocpp1.6", Some(PASSWORD))
        .await
        .unwrap();
    run_16(&mut ws, "TOK-1").await;
    drained(&h.app).await;
    let got = received(&h.ems).await;
    let delivered = &got[4..];
    check_session_then_cdr(delivered, "/ocpi/emsp/2.2.1/sessions/NL/HUB/");
    let bodies: Vec<String> = delivered
        .iter()
        .map(|(m, p, b)| format!("{m} {p} {b}"))
        .collect();
    let mut unique = bodies.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        bodies.len(),
        "a delivery arrived twice: {bodies:#?}"
    );

    // The hub stops while the eMSP is down and deliveries are pending; a new hub on the same
    // database delivers them once the eMSP is back: in order, once.
    drop(ws);
    let down = Arc::new(AtomicBool::new(true));
    Mock::given(path_regex("^/ocpi/emsp/2.2.1/(sessions|cdrs).*"))
        .respond_with(Switch(down.clone()))
        .with_priority(1)
        .mount(&h.ems.server)
        .await;
    let before = received(&h.ems).await.len();
    let (mut ws, _) = open(&h.app, "CPD", "ocpp1.6", Some(PASSWORD))
        .await
        .unwrap();
    run_16_again(&mut ws).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while received(&h.ems).await.len() < before + 2 {
        assert!(std::time::Instant::now() < deadline, "no delivery attempt");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.app.stop().await;
    drop(ws);
    let failed = received(&h.ems).await.len();
    down.store(false, Ordering::SeqCst);
    let url = h.app.database_url.clone();
    let again = spawn_app_with(move |s| {
        s.database_url = url;
        s.outbox_backoff_base_ms = 20;
        s.outbox_poll_ms = 50;
        s.outbox_lease_secs = 1;
    })
    .await;
    drained(&again).await;
    let got = received(&h.ems).await;
    let resumed = &got[failed..];
    check_session_then_cdr(resumed, "/ocpi/emsp/2.2.1/sessions/NL/HUB/");
    let bodies: Vec<String> = resumed
        .iter()
        .map(|(m, p, b)| format!("{m} {p} {b}"))
        .collect();
    let mut unique = bodies.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        bodies.len(),
        "a delivery arrived twice: {bodies:#?}"
    );
    let ids: std::collections::BTreeSet<&str> = got
        .iter()
        .filter(|(m, _, _)| m == "POST")
        .map(|(_, _, b)| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "two CDRs in all");
}

/// An eMSP that answers 503 while `down`, then accepts sessions (200) and CDRs (201).
struct Switch(Arc<AtomicBool>);

impl Respond for Switch {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        if self.0.load(Ordering::SeqCst) {
            ResponseTemplate::new(503)
        } else if r.url.path().starts_with("/ocpi/emsp/2.2.1/cdrs") {
            ResponseTemplate::new(201)
                .insert_header("Location", "http://emsp.example/cdrs/1")
                .set_body_json(json!({"status_code": 1000, "timestamp": "2026-01-01T00:00:00Z"}))
        } else {
            ok()
        }
    }
}

/// A second 1.6 transaction on the same connector (10 kWh), for the restart part.
async fn run_16_again(ws: &mut Ws) {
    let r = ask(
        ws,
        &json!([2, "s2", "StartTransaction", {"connectorId": 1, "idTag": "TOK-1", "meterStart": 20000, "timestamp": "2026-03-02T12:00:00Z"}]).to_string(),
    )
    .await;
    let tx = r[2]["transactionId"].as_i64().unwrap();
    let r = ask(
        ws,
        &json!([2, "e2", "StopTransaction", {"transactionId": tx, "meterStop": 30000, "timestamp": "2026-03-02T12:30:00Z"}]).to_string(),
    )
    .await;
    assert_eq!(r[0], 3);
}

fn cpo_session(id: &str, kwh: f64, status: &str) -> Value {
    json!({
        "country_code": "NL", "party_id": "CPO", "id": id, "start_date_time": "2026-03-02T09:00:00Z",
        "kwh": kwh, "cdr_token": {"country_code": "DE", "party_id": "EMS", "uid": "TOK-1", "type": "RFID", "contract_id": "DE-EMS-TOK-1"},
        "auth_method": "WHITELIST", "location_id": "R1", "evse_uid": "R1-1", "connector_id": "1",
        "currency": "EUR", "status": status, "last_updated": "2026-03-02T09:30:00Z",
        "charging_periods": [{"start_date_time": "2026-03-02T09:00:00Z", "dimensions": [{"type": "ENERGY", "volume": kwh}]}]
    })
}

fn cpo_cdr(id: &str) -> Value {
    json!({
        "country_code": "NL", "party_id": "CPO", "id": id, "start_date_time": "2026-03-02T09:00:00Z",
        "end_date_time": "2026-03-02T10:00:00Z", "session_id": "RS-1",
        "cdr_token": {"country_code": "DE", "party_id": "EMS", "uid": "TOK-1", "type": "RFID", "contract_id": "DE-EMS-TOK-1"},
        "auth_method": "WHITELIST",
        "cdr_location": {"id": "R1", "address": "Remote 1", "city": "Delft", "country": "NLD",
            "coordinates": {"latitude": "52.01160", "longitude": "4.35710"}, "evse_uid": "R1-1",
            "evse_id": "NL*CPO*ER1", "connector_id": "1", "connector_standard": "IEC_62196_T2",
            "connector_format": "SOCKET", "connector_power_type": "AC_3_PHASE"},
        "currency": "EUR",
        "charging_periods": [{"start_date_time": "2026-03-02T09:00:00Z", "dimensions": [{"type": "ENERGY", "volume": 12.5}, {"type": "TIME", "volume": 1}]}],
        "total_cost": {"excl_vat": 5.0, "incl_vat": 6.05}, "total_energy": 12.5, "total_time": 1.0,
        "last_updated": "2026-03-02T10:00:00Z"
    })
}

#[tokio::test]
async fn cpo_sessions_and_cdrs_are_forwarded_to_the_token_owner() {
    let h = hub(&[], |_| {}).await;
    let cpo = FakePartner::start("cpo-token").await;
    let cpo_c = h.app.register_partner(&cpo, "CPO", "NL", "CPO").await;
    let base = "/ocpi/2.2.1/receiver/sessions/NL/CPO";
    let r = h
        .app
        .send_json(
            Method::PUT,
            &format!("{base}/RS-1"),
            &cpo_c,
            &cpo_session("RS-1", 2.0, "ACTIVE"),
        )
        .await;
    assert_eq!(r.status(), 201);
    let patch = json!({"kwh": 12.5, "last_updated": "2026-03-02T10:00:00Z",
        "charging_periods": [{"start_date_time": "2026-03-02T09:30:00Z", "dimensions": [{"type": "ENERGY", "volume": 10.5}]}]});
    let r = h
        .app
        .send_json(Method::PATCH, &format!("{base}/RS-1"), &cpo_c, &patch)
        .await;
    assert_eq!(body_json(r).await["status_code"], 1000);
    // PATCH without last_updated, foreign party, id mismatch.
    let r = h
        .app
        .send_json(
            Method::PATCH,
            &format!("{base}/RS-1"),
            &cpo_c,
            &json!({"kwh": 1}),
        )
        .await;
    assert_eq!(body_json(r).await["status_code"], 2001);
    let r = h
        .app
        .send_json(
            Method::PUT,
            "/ocpi/2.2.1/receiver/sessions/DE/EMS/RS-1",
            &cpo_c,
            &cpo_session("RS-1", 2.0, "ACTIVE"),
        )
        .await;
    assert_eq!(r.status(), 404);
    let r = h
        .app
        .send_json(
            Method::PUT,
            &format!("{base}/RS-2"),
            &cpo_c,
            &cpo_session("RS-1", 2.0, "ACTIVE"),
        )
        .await;
    assert_eq!(body_json(r).await["status_code"], 2001);
    // The stored session has both periods (appended).
    let v = body_json(h.app.get(&format!("{base}/RS-1"), &cpo_c).await).await;
    assert_eq!(v["data"]["charging_periods"].as_array().unwrap().len(), 2);
    assert_eq!(num(&v["data"]["kwh"]), 12.5);

    // CDR: 201 + Location; the same POST again is 200 with the same Location, forwarded once.
    let r = h
        .app
        .send_json(
            Method::POST,
            "/ocpi/2.2.1/receiver/cdrs",
            &cpo_c,
            &cpo_cdr("RC-1"),
        )
        .await;
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.ends_with("/ocpi/2.2.1/receiver/cdrs/NL/CPO/RC-1"),
        "{location}"
    );
    let r = h
        .app
        .send_json(
            Method::POST,
            "/ocpi/2.2.1/receiver/cdrs",
            &cpo_c,
            &cpo_cdr("RC-1"),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["location"].to_str().unwrap(), location);
    let path = location.trim_start_matches(&h.app.address);
    let v = body_json(h.app.get(path, &cpo_c).await).await;
    assert_eq!(v["data"]["id"], "RC-1");
    assert_eq!(
        h.app.get(path, &h.ems_c).await.status(),
        404,
        "not the eMSP's URL"
    );
    let mut bad = cpo_cdr("RC-2");
    bad["charging_periods"][0]["dimensions"][0]["type"] = json!("POWER");
    let r = h
        .app
        .send_json(Method::POST, "/ocpi/2.2.1/receiver/cdrs", &cpo_c, &bad)
        .await;
    assert_eq!(body_json(r).await["status_code"], 2001);

    drained(&h.app).await;
    let got = received(&h.ems).await;
    let kinds: Vec<(String, String)> = got.iter().map(|(m, p, _)| (m.clone(), p.clone())).collect();
    assert_eq!(
        kinds,
        vec![
            ("PUT".into(), "/ocpi/emsp/2.2.1/sessions/NL/CPO/RS-1".into()),
            (
                "PATCH".into(),
                "/ocpi/emsp/2.2.1/sessions/NL/CPO/RS-1".into()
            ),
            ("POST".into(), "/ocpi/emsp/2.2.1/cdrs".into()),
        ]
    );
    assert_eq!(got[1].2, patch, "the PATCH goes on as sent");
    assert!(received(&h.oth).await.is_empty());
    let forwarded: Vec<_> = h
        .ems
        .requests()
        .await
        .into_iter()
        .filter(|r| r.url.path() == "/ocpi/emsp/2.2.1/cdrs")
        .collect();
    assert_eq!(forwarded[0].headers["ocpi-from-party-id"], "CPO");
    assert!(
        cpo.requests()
            .await
            .iter()
            .all(|r| !r.url.path().contains("cdrs"))
    );
    // Charging preferences for the CPO's session go to the CPO; its answer comes back.
    Mock::given(method("PUT"))
        .and(wiremock::matchers::path("/ocpi/cpo/2.2.1/sessions/RS-1/charging_preferences"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"status_code": 1000, "timestamp": "2026-01-01T00:00:00Z", "data": "DEPARTURE_REQUIRED"}),
        ))
        .mount(&cpo.server)
        .await;
    let r = h
        .app
        .send_json(
            Method::PUT,
            "/ocpi/2.2.1/sender/sessions/RS-1/charging_preferences",
            &h.ems_c,
            &json!({"profile_type": "GREEN"}),
        )
        .await;
    assert_eq!(body_json(r).await["data"], "DEPARTURE_REQUIRED");
    let relayed = cpo
        .requests()
        .await
        .into_iter()
        .find(|r| r.url.path().ends_with("/charging_preferences"))
        .unwrap();
    assert_eq!(relayed.headers["ocpi-from-party-id"], "EMS");
    assert_eq!(relayed.headers["ocpi-to-party-id"], "CPO");
    // The eMSP pulls the forwarded CDR from the hub too.
    let v = body_json(h.app.get("/ocpi/2.2.1/sender/cdrs", &h.ems_c).await).await;
    assert_eq!(v["data"][0]["id"], "RC-1");
}

#[tokio::test]
async fn a_cdr_is_corrected_by_a_credit_cdr_and_a_replacement() {
    let h = hub(&["CPC"], |_| {}).await;
    let (mut ws, _) = open(&h.app, "CPC", "ocpp1.6", Some(PASSWORD))
        .await
        .unwrap();
    run_16(&mut ws, "TOK-1").await;
    drained(&h.app).await;
    let got = received(&h.ems).await;
    let original = got.last().unwrap().2.clone();
    let id = original["id"].as_str().unwrap();
    let r = h
        .app
        .admin_post(
            &format!("/admin/cdrs/NL/HUB/{id}/credit"),
            &json!({"replacement": {"total_cost": {"excl_vat": 3.0, "incl_vat": 3.6}, "remark": "goodwill"}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v = body_json(r).await;
    assert_eq!(v["data"]["credit"]["id"], format!("{id}-C"));
    // Twice is refused; a credit cannot be credited.
    let r = h
        .app
        .admin_post(&format!("/admin/cdrs/NL/HUB/{id}/credit"), &json!({}))
        .await;
    assert_eq!(body_json(r).await["status_code"], 2001);
    let r = h
        .app
        .admin_post(&format!("/admin/cdrs/NL/HUB/{id}-C/credit"), &json!({}))
        .await;
    assert_eq!(body_json(r).await["status_code"], 2001);
    drained(&h.app).await;
    let got = received(&h.ems).await;
    let posts: Vec<&Value> = got
        .iter()
        .filter(|(m, _, _)| m == "POST")
        .map(|(_, _, b)| b)
        .collect();
    assert_eq!(posts.len(), 3);
    assert_eq!(posts[0]["id"], id);
    assert_eq!(posts[1]["credit"], true);
    assert_eq!(posts[1]["credit_reference_id"], id);
    assert_eq!(num(&posts[1]["total_cost"]["excl_vat"]), -4.0);
    assert_eq!(num(&posts[1]["total_cost"]["incl_vat"]), -4.8);
    assert_eq!(posts[1]["total_energy"], original["total_energy"]);
    assert!(posts[2].get("credit").is_none());
    assert_ne!(posts[2]["id"], id);
    assert_eq!(num(&posts[2]["total_cost"]["excl_vat"]), 3.0);
    assert_eq!(posts[2]["remark"], "goodwill");
}

#[tokio::test]
async fn a_cdr_keeps_the_start_time_tariff_and_the_signed_meter_values() {
    let h = hub(&["CPT"], |_| {}).await;
    let (mut ws, _) = open(&h.app, "CPT", "ocpp2.0.1", Some(PASSWORD))
        .await
        .unwrap();
    let signed = |at: &str, wh: u32, context: &str| {
        json!([{"timestamp": at, "sampledValue": [{"value": wh, "measurand": "Energy.Active.Import.Register", "context": context,
            "signedMeterValue": {"signedMeterData": format!("OCMF|{{\"RD\":[{{\"RV\":{wh}}}]}}|sig"), "signingMethod": "ECDSA-secp256r1-SHA256",
                "encodingMethod": "OCMF", "publicKey": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"}}]}])
    };
    let started = te(
        0,
        "Started",
        "2026-03-02T10:00:00Z",
        0,
        json!({"triggerReason": "Authorized", "idToken": {"idToken": "TOK-1", "type": "ISO14443"},
               "meterValue": signed("2026-03-02T10:00:00Z", 0, "Transaction.Begin")}),
    );
    let r = ask(&mut ws, &started).await;
    assert_eq!(r[2]["idTokenInfo"]["status"], "Accepted", "{r}");
    // The tariff changes during the session: the session keeps the one it started with.
    let mut dearer = tariff();
    dearer["elements"][0]["price_components"][1]["price"] = json!(1.0);
    dearer["last_updated"] = json!("2026-03-02T10:05:00Z");
    assert_eq!(
        h.app.admin_post("/admin/tariffs", &dearer).await.status(),
        200
    );
    let ended = te(
        1,
        "Ended",
        "2026-03-02T10:30:00Z",
        10000,
        json!({"triggerReason": "EVDeparted", "transactionInfo": {"transactionId": "TX-201", "stoppedReason": "EVDisconnected"},
               "meterValue": signed("2026-03-02T10:30:00Z", 10000, "Transaction.End")}),
    );
    let r = ask(&mut ws, &ended).await;
    assert_eq!(r[0], 3, "{r}");
    drained(&h.app).await;
    let got = received(&h.ems).await;
    let cdr = &got.last().unwrap().2;
    assert_eq!(cdr["total_energy"], 10.0);
    assert_eq!(
        num(&cdr["total_cost"]["excl_vat"]),
        4.0,
        "1.00 + 10 × 0.30: {cdr}"
    );
    assert_eq!(
        cdr["tariffs"][0]["elements"][0]["price_components"][1]["price"],
        0.3
    );
    let sd = &cdr["signed_data"];
    assert_eq!(sd["encoding_method"], "OCMF");
    assert_eq!(sd["public_key"], "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE");
    let natures: Vec<&str> = sd["signed_values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["nature"].as_str().unwrap())
        .collect();
    assert_eq!(natures, ["Start", "End"]);
    assert!(
        sd["signed_values"][1]["signed_data"]
            .as_str()
            .unwrap()
            .contains("10000")
    );
}

/// MeterValues and TransactionEvent Updated are stored in batches: many of them from several
/// charge points at once (1.6 and 2.0.1, so batches mix transactions and each transaction spans
/// batches) are all stored, answered only once stored, in order, and each session's kWh is the
/// last reading's.
#[tokio::test]
async fn batched_meter_values_are_all_stored_in_order_and_the_session_follows_the_last_reading() {
    const CPS: [&str; 4] = ["CPB1", "CPB2", "CPB3", "CPB4"];
    const READINGS: u32 = 60;
    let h = hub(&CPS, |_| {}).await;
    let mut tasks = Vec::new();
    for (k, cp) in CPS.into_iter().enumerate() {
        let v201 = k % 2 == 1;
        let (mut ws, _) = open(
            &h.app,
            cp,
            if v201 { "ocpp2.0.1" } else { "ocpp1.6" },
            Some(PASSWORD),
        )
        .await
        .unwrap();
        tasks.push(tokio::spawn(async move {
            let at = |i: u32| format!("2026-03-02T10:{:02}:{:02}Z", i / 60, i % 60);
            let tx = if v201 {
                let r = ask(
                    &mut ws,
                    &te(0, "Started", &at(0), 0, json!({"triggerReason": "Authorized", "transactionInfo": {"transactionId": format!("TX-{cp}")}, "idToken": {"idToken": "TOK-1", "type": "ISO14443"}})),
                )
                .await;
                assert_eq!(r[2]["idTokenInfo"]["status"], "Accepted", "{r}");
                format!("TX-{cp}")
            } else {
                let r = ask(
                    &mut ws,
                    &json!([2, "s", "StartTransaction", {"connectorId": 1, "idTag": "TOK-1", "meterStart": 0, "timestamp": at(0)}]).to_string(),
                )
                .await;
                assert_eq!(r[2]["idTagInfo"]["status"], "Accepted", "{r}");
                r[2]["transactionId"].as_i64().unwrap().to_string()
            };
            for i in 1..=READINGS {
                let wh = i * 100;
                let frame = if v201 {
                    te(i64::from(i), "Updated", &at(i), wh, json!({"transactionInfo": {"transactionId": tx}}))
                } else {
                    json!([2, format!("m{i}"), "MeterValues", {"connectorId": 1, "transactionId": tx.parse::<i64>().unwrap(), "meterValue": mv16(&at(i), wh)}]).to_string()
                };
                let r = ask(&mut ws, &frame).await;
                assert_eq!(r[0], 3, "{r}");
            }
            // A duplicate seqNo (2.0.1) is acknowledged and ignored.
            if v201 {
                let r = ask(&mut ws, &te(1, "Updated", &at(1), 100, json!({"transactionInfo": {"transactionId": tx}}))).await;
                assert_eq!(r[0], 3, "{r}");
            }
            (cp.to_string(), tx)
        }));
    }
    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await.unwrap());
    }
    // Answered means stored: no flush needed before reading.
    for (cp, tx) in done {
        let (values, events, session) = h
            .app
            .state
            .db
            .read(move |c| {
                let t = ocpi_hub::db::transactions::get(c, &cp, &tx)?.unwrap();
                let values = ocpi_hub::db::transactions::meter_values(c, t.id)?;
                let events = ocpi_hub::db::transactions::event_payloads(c, t.id)?;
                let session = ocpi_hub::db::sessions::of_transaction(c, t.id)?;
                Ok((values, events, session))
            })
            .await
            .unwrap();
        let readings: Vec<String> = values
            .iter()
            .filter(|v| v.measurand == "Energy.Active.Import.Register")
            .map(|v| v.value.clone())
            .collect();
        let want: Vec<String> = (0..=READINGS).map(|i| (i * 100).to_string()).collect();
        // 2.0.1: the Started event's reading too; 1.6: the meter start is not a sample.
        let want = if readings.len() == want.len() {
            want
        } else {
            want[1..].to_vec()
        };
        assert_eq!(readings, want, "every reading stored, in order");
        // The messages in arrival order: start, then each reading once.
        assert_eq!(events.len(), 1 + READINGS as usize, "{events:#?}");
        for (i, e) in events.iter().skip(1).enumerate() {
            let expected_wh = (i as u32 + 1) * 100;
            assert!(
                e.contains(&format!("\"value\":{expected_wh}"))
                    || e.contains(&format!("\"value\":\"{expected_wh}\"")),
                "event {i} out of order: {e}"
            );
        }
        let session: Value = serde_json::from_str(&session.unwrap().object).unwrap();
        assert!(
            (num(&session["kwh"]) - f64::from(READINGS * 100) / 1000.0).abs() < 1e-9,
            "{session}"
        );
    }
}
