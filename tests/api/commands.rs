//! Commands: an eMSP (wiremock) starts, stops, reserves and unlocks at the hub's charge points
//! (real WebSockets, OCPP 1.6 and 2.0.1) and at a remote CPO's location (wiremock CPO).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

use crate::ocpp::{PASSWORD, Ws, ask, open};
use crate::sessions::{Hub, hub, ok, received};
use crate::support::{FakePartner, body_json};

/// A token of DE/EMS that is not in the hub's token store (commands carry their own).
fn token(uid: &str) -> Value {
    json!({"country_code": "DE", "party_id": "EMS", "uid": uid, "type": "APP_USER",
           "contract_id": format!("DE-EMS-{uid}"), "issuer": "EMS", "valid": true,
           "whitelist": "NEVER", "last_updated": "2026-01-01T00:00:00Z"})
}

/// The state of eMSP DE/EMS's reservation `id`.
async fn reservation_state(h: &Hub, id: &'static str) -> String {
    h.app
        .state
        .db
        .read(move |c| ocpi_hub::db::commands::reservation_of(c, "DE", "EMS", id))
        .await
        .unwrap()
        .unwrap()
        .state
}

pub async fn commands_hub(chargers: &[&str]) -> Hub {
    let h = hub(chargers, |s| {
        s.ocpp_call_timeout_secs = 1;
        s.command_timeout_secs = 2;
    })
    .await;
    Mock::given(method("POST"))
        .and(path_regex("^/results/.*"))
        .respond_with(ok())
        .mount(&h.ems.server)
        .await;
    h
}

pub fn url(h: &Hub, id: &str) -> String {
    format!("{}/results/{id}", h.ems.server.uri())
}

pub async fn command(h: &Hub, token: &str, name: &str, body: &Value) -> Value {
    let r = h
        .app
        .send_json(
            Method::POST,
            &format!("/ocpi/2.2.1/receiver/commands/{name}"),
            token,
            body,
        )
        .await;
    assert_eq!(r.status(), 200);
    body_json(r).await
}

/// The CommandResult POSTed to `/results/{id}`, waited for.
pub async fn result_at(h: &Hub, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = h
            .ems
            .requests()
            .await
            .into_iter()
            .find(|r| r.url.path() == format!("/results/{id}"));
        if let Some(r) = got {
            return serde_json::from_slice(&r.body).unwrap();
        }
        assert!(Instant::now() < deadline, "no CommandResult for {id}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait for the hub's next CALL, answer it with `answer` (None: stay silent), return it.
async fn on_call(ws: &mut Ws, answer: Option<Value>) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a call from the hub")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v[0] == 2 {
                if let Some(a) = answer {
                    ws.send(Message::Text(json!([3, v[1], a]).to_string().into()))
                        .await
                        .unwrap();
                }
                return v;
            }
        }
    }
}

pub fn start(h: &Hub, id: &str, evse: &str, uid: &str) -> Value {
    json!({"response_url": url(h, id), "token": token(uid), "location_id": "LOC-S",
           "evse_uid": evse, "authorization_reference": format!("AR-{id}")})
}

#[tokio::test]
async fn start_session_succeeds_only_when_the_transaction_starts() {
    let h = commands_hub(&["CA16", "CB201"]).await;
    let (mut ws16, _) = open(&h.app, "CA16", "ocpp1.6", Some(PASSWORD))
        .await
        .unwrap();
    let (mut ws201, _) = open(&h.app, "CB201", "ocpp2.0.1", Some(PASSWORD))
        .await
        .unwrap();

    // 1.6: RemoteStartTransaction with the token and connector, then the transaction starts.
    let v = command(
        &h,
        &h.ems_c,
        "START_SESSION",
        &start(&h, "s16", "CA16-1", "APP-1"),
    )
    .await;
    assert_eq!(v["data"]["result"], "ACCEPTED", "{v}");
    assert_eq!(v["data"]["timeout"], 2);
    let call = on_call(&mut ws16, Some(json!({"status": "Accepted"}))).await;
    assert_eq!(call[2], "RemoteStartTransaction");
    assert_eq!(call[3], json!({"idTag": "APP-1", "connectorId": 1}));
    let r = ask(
        &mut ws16,
        &json!([2, "st", "StartTransaction", {"connectorId": 1, "idTag": "APP-1", "meterStart": 0, "timestamp": "2026-03-02T10:00:00Z"}]).to_string(),
    )
    .await;
    assert_eq!(
        r[2]["idTagInfo"]["status"], "Accepted",
        "the command's token is trusted"
    );
    assert_eq!(result_at(&h, "s16").await["result"], "ACCEPTED");

    // 2.0.1: RequestStartTransaction with a remoteStartId.
    let v = command(
        &h,
        &h.ems_c,
        "START_SESSION",
        &start(&h, "s201", "CB201-1", "APP-2"),
    )
    .await;
    assert_eq!(v["data"]["result"], "ACCEPTED");
    let call = on_call(&mut ws201, Some(json!({"status": "Accepted"}))).await;
    assert_eq!(call[2], "RequestStartTransaction");
    assert_eq!(
        call[3]["idToken"],
        json!({"idToken": "APP-2", "type": "Central"})
    );
    assert_eq!(call[3]["evseId"], 1);
    let rsid = call[3]["remoteStartId"].as_i64().unwrap();
    let r = ask(
        &mut ws201,
        &json!([2, "te", "TransactionEvent", {"eventType": "Started", "timestamp": "2026-03-02T10:00:00Z", "triggerReason": "RemoteStart", "seqNo": 0,
            "transactionInfo": {"transactionId": "T-201", "remoteStartId": rsid}, "idToken": {"idToken": "APP-2", "type": "Central"}, "evse": {"id": 1, "connectorId": 1}}]).to_string(),
    )
    .await;
    assert_eq!(r[2]["idTokenInfo"]["status"], "Accepted", "{r}");
    assert_eq!(result_at(&h, "s201").await["result"], "ACCEPTED");

    // The sessions carry the command's token, COMMAND and the reference, at the eMSP.
    crate::locations::drained(&h.app).await;
    let puts: Vec<Value> = received(&h.ems)
        .await
        .into_iter()
        .filter(|(m, _, _)| m == "PUT")
        .map(|(_, _, b)| b)
        .collect();
    assert_eq!(puts.len(), 2);
    for (s, uid, reference) in [
        (&puts[0], "APP-1", "AR-s16"),
        (&puts[1], "APP-2", "AR-s201"),
    ] {
        assert_eq!(s["auth_method"], "COMMAND");
        assert_eq!(s["authorization_reference"], reference);
        assert_eq!(s["cdr_token"]["uid"], uid);
        assert_eq!(s["cdr_token"]["type"], "APP_USER");
    }

    // STOP_SESSION: unknown session, another eMSP's session, then the owner's.
    let sid = puts[0]["id"].as_str().unwrap().to_string();
    let v = command(
        &h,
        &h.ems_c,
        "STOP_SESSION",
        &json!({"response_url": url(&h, "x1"), "session_id": "NOPE"}),
    )
    .await;
    assert_eq!(v["data"]["result"], "UNKNOWN_SESSION");
    let v = command(
        &h,
        &h.oth_c,
        "STOP_SESSION",
        &json!({"response_url": url(&h, "x2"), "session_id": sid}),
    )
    .await;
    assert_eq!(v["data"]["result"], "REJECTED");
    let v = command(
        &h,
        &h.ems_c,
        "STOP_SESSION",
        &json!({"response_url": url(&h, "stop"), "session_id": sid}),
    )
    .await;
    assert_eq!(v["data"]["result"], "ACCEPTED");
    let call = on_call(&mut ws16, Some(json!({"status": "Accepted"}))).await;
    assert_eq!(call[2], "RemoteStopTransaction");
    assert!(call[3]["transactionId"].is_i64());
    assert_eq!(result_at(&h, "stop").await["result"], "ACCEPTED");
    // Tokens of another eMSP cannot be used.
    let mut foreign = start(&h, "f", "CA16-1", "APP-3");
    foreign["token"]["party_id"] = json!("OTH");
    let v = command(&h, &h.ems_c, "START_SESSION", &foreign).await;
    assert_eq!(v["data"]["result"], "REJECTED");
}

#[tokio::test]
async fn refused_offline_silent_and_late_starts_give_the_right_results() {
    let h = commands_hub(&["CR", "CS", "CO"]).await;
    let (mut ws, _) = open(&h.app, "CR", "ocpp1.6", Some(PASSWORD)).await.unwrap();
    // Refused by the charge point.
    let v = command(
        &h,
        &h.ems_c,
        "START_SESSION",
        &start(&h, "rej", "CR-1", "APP-1"),
    )
    .await;
    assert_eq!(v["data"]["result"], "ACCEPTED");
    on_call(&mut ws, Some(json!({"status": "Rejected"}))).await;
    assert_eq!(result_at(&h, "rej").await["result"], "REJECTED");
    // Accepted, but no transaction starts within the command timeout; one that starts later
    // is still recorded and pushed.
    command(
        &h,
        &h.ems_c,
        "START_SESSION",
        &start(&h, "late", "CR-1", "APP-4"),
    )
    .await;
    on_call(&mut ws, Some(json!({"status": "Accepted"}))).await;
    assert_eq!(result_at(&h, "late").await["result"], "TIMEOUT");
    let r = ask(
        &mut ws,
        &json!([2, "st", "StartTransaction", {"connectorId": 1, "idTag": "APP-4", "meterStart": 0, "timestamp": "2026-03-02T10:00:00Z"}]).to_string(),
    )
    .await;
    assert_eq!(r[2]["idTagInfo"]["status"], "Accepted");
    crate::locations::drained(&h.app).await;
    assert!(
        received(&h.ems)
            .await
            .iter()
            .any(|(m, _, b)| m == "PUT" && b["cdr_token"]["uid"] == "APP-4")
    );
    // A charge point that never answers: TIMEOUT after the call timeout.
    let (mut silent, _) = open(&h.app, "CS", "ocpp2.0.1", Some(PASSWORD))
        .await
        .unwrap();
    command(
        &h,
        &h.ems_c,
        "START_SESSION",
        &start(&h, "silent", "CS-1", "APP-5"),
    )
    .await;
    on_call(&mut silent, None).await;
    assert_eq!(result_at(&h, "silent").await["result"], "TIMEOUT");
    // Offline: refused at once, no result follows.
    let v = command(
        &h,
        &h.ems_c,
        "START_SESSION",
        &start(&h, "off", "CO-1", "APP-6"),
    )
    .await;
    assert_eq!(v["data"]["result"], "REJECTED");
    // Unknown location / EVSE: 2003 with REJECTED.
    let mut bad = start(&h, "u", "CR-1", "APP-7");
    bad["location_id"] = json!("NOWHERE");
    let v = command(&h, &h.ems_c, "START_SESSION", &bad).await;
    assert_eq!(v["status_code"], 2003);
    assert_eq!(v["data"]["result"], "REJECTED");
    let v = command(
        &h,
        &h.ems_c,
        "START_SESSION",
        &start(&h, "u2", "CR-9", "APP-7"),
    )
    .await;
    assert_eq!(v["status_code"], 2003);
    // Body that does not fit the command; unknown command.
    let v = command(
        &h,
        &h.ems_c,
        "START_SESSION",
        &json!({"response_url": url(&h, "b")}),
    )
    .await;
    assert_eq!(v["status_code"], 2001);
    let r = h
        .app
        .send_json(
            Method::POST,
            "/ocpi/2.2.1/receiver/commands/DANCE",
            &h.ems_c,
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), 404);
    // UNLOCK_CONNECTOR.
    let v = command(&h, &h.ems_c, "UNLOCK_CONNECTOR", &json!({"response_url": url(&h, "unl"), "location_id": "LOC-S", "evse_uid": "CR-1", "connector_id": "1"})).await;
    assert_eq!(v["data"]["result"], "ACCEPTED");
    let call = on_call(&mut ws, Some(json!({"status": "Unlocked"}))).await;
    assert_eq!(call[2], "UnlockConnector");
    assert_eq!(call[3], json!({"connectorId": 1}));
    assert_eq!(result_at(&h, "unl").await["result"], "ACCEPTED");
    let v = command(&h, &h.ems_c, "UNLOCK_CONNECTOR", &json!({"response_url": url(&h, "unl2"), "location_id": "LOC-S", "evse_uid": "CR-1", "connector_id": "1"})).await;
    assert_eq!(v["data"]["result"], "ACCEPTED");
    on_call(&mut ws, Some(json!({"status": "UnlockFailed"}))).await;
    assert_eq!(result_at(&h, "unl2").await["result"], "FAILED");
}

async fn evse_status(h: &Hub, uid: &str) -> String {
    let v = body_json(
        h.app
            .get(
                &format!("/ocpi/2.2.1/sender/locations/LOC-S/{uid}"),
                &h.ems_c,
            )
            .await,
    )
    .await;
    v["data"]["status"].as_str().unwrap_or_default().to_string()
}

async fn wait_status(h: &Hub, uid: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while evse_status(h, uid).await != want {
        assert!(Instant::now() < deadline, "{uid} never became {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn reserve(h: &Hub, id: &str, rid: &str, uid: &str, secs: i64) -> Value {
    let expiry = (chrono::Utc::now() + chrono::Duration::seconds(secs))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    json!({"response_url": url(h, id), "token": token(uid), "expiry_date": expiry,
           "reservation_id": rid, "location_id": "LOC-S", "evse_uid": "CV-1"})
}

#[tokio::test]
async fn reservations_hold_the_evse_until_expiry_cancel_or_use() {
    let h = commands_hub(&["CV"]).await;
    let (mut ws, _) = open(&h.app, "CV", "ocpp2.0.1", Some(PASSWORD))
        .await
        .unwrap();
    // Occupied EVSE.
    command(
        &h,
        &h.ems_c,
        "RESERVE_NOW",
        &reserve(&h, "occ", "R0", "APP-1", 600),
    )
    .await;
    on_call(&mut ws, Some(json!({"status": "Occupied"}))).await;
    assert_eq!(result_at(&h, "occ").await["result"], "EVSE_OCCUPIED");
    assert_eq!(evse_status(&h, "CV-1").await, "AVAILABLE");

    // Accepted: RESERVED for everyone until it expires.
    let v = command(
        &h,
        &h.ems_c,
        "RESERVE_NOW",
        &reserve(&h, "r1", "R1", "APP-1", 2),
    )
    .await;
    assert_eq!(v["data"]["result"], "ACCEPTED");
    let call = on_call(&mut ws, Some(json!({"status": "Accepted"}))).await;
    assert_eq!(call[2], "ReserveNow");
    assert_eq!(call[3]["evseId"], 1);
    assert_eq!(call[3]["idToken"]["idToken"], "APP-1");
    assert_ne!(
        call[3]["id"], "R1",
        "the charge point gets the hub's own id"
    );
    assert_eq!(result_at(&h, "r1").await["result"], "ACCEPTED");
    assert_eq!(evse_status(&h, "CV-1").await, "RESERVED");
    let body = body_json(
        h.app
            .get("/ocpi/2.2.1/sender/locations/LOC-S/CV-1", &h.oth_c)
            .await,
    )
    .await;
    assert_eq!(body["data"]["status"], "RESERVED", "every eMSP sees it");
    wait_status(&h, "CV-1", "AVAILABLE").await;

    // Reserved again; another token is refused at the EVSE; the reserving token uses it.
    command(
        &h,
        &h.ems_c,
        "RESERVE_NOW",
        &reserve(&h, "r2", "R2", "APP-2", 600),
    )
    .await;
    on_call(&mut ws, Some(json!({"status": "Accepted"}))).await;
    assert_eq!(result_at(&h, "r2").await["result"], "ACCEPTED");
    let started = |seq: i64, tx: &str, uid: &str| {
        json!([2, format!("t{seq}"), "TransactionEvent", {"eventType": "Started", "timestamp": "2026-03-02T10:00:00Z", "triggerReason": "Authorized", "seqNo": 0,
            "transactionInfo": {"transactionId": tx}, "idToken": {"idToken": uid, "type": "ISO14443"}, "evse": {"id": 1, "connectorId": 1}}]).to_string()
    };
    // TOK-1 is a stored, valid ALWAYS token of DE/EMS: refused only because of the reservation.
    let r = ask(&mut ws, &started(1, "TX-A", "TOK-1")).await;
    assert_eq!(r[2]["idTokenInfo"]["status"], "Blocked", "{r}");
    assert_eq!(evse_status(&h, "CV-1").await, "RESERVED");
    let cancel_unknown = json!({"response_url": url(&h, "cu"), "reservation_id": "NOPE"});
    command(&h, &h.ems_c, "CANCEL_RESERVATION", &cancel_unknown).await;
    assert_eq!(result_at(&h, "cu").await["result"], "UNKNOWN_RESERVATION");
    // The owner's token: from the command the reservation came with, trusted as well.
    let cmd = json!({"response_url": url(&h, "s"), "token": token("APP-2"), "location_id": "LOC-S", "evse_uid": "CV-1"});
    command(&h, &h.ems_c, "START_SESSION", &cmd).await;
    on_call(&mut ws, Some(json!({"status": "Accepted"}))).await;
    let r = ask(&mut ws, &started(2, "TX-B", "APP-2")).await;
    assert_eq!(r[2]["idTokenInfo"]["status"], "Accepted", "{r}");
    assert_eq!(result_at(&h, "s").await["result"], "ACCEPTED");
    assert_eq!(reservation_state(&h, "R2").await, "USED");

    // Cancel: CancelReservation with the hub's id, EVSE free again.
    command(
        &h,
        &h.ems_c,
        "RESERVE_NOW",
        &reserve(&h, "r3", "R3", "APP-3", 600),
    )
    .await;
    let call = on_call(&mut ws, Some(json!({"status": "Accepted"}))).await;
    let hub_id = call[3]["id"].clone();
    assert_eq!(result_at(&h, "r3").await["result"], "ACCEPTED");
    // Another eMSP cannot cancel it (its ids are its own).
    command(
        &h,
        &h.oth_c,
        "CANCEL_RESERVATION",
        &json!({"response_url": url(&h, "co"), "reservation_id": "R3"}),
    )
    .await;
    assert_eq!(result_at(&h, "co").await["result"], "UNKNOWN_RESERVATION");
    command(
        &h,
        &h.ems_c,
        "CANCEL_RESERVATION",
        &json!({"response_url": url(&h, "c3"), "reservation_id": "R3"}),
    )
    .await;
    let call = on_call(&mut ws, Some(json!({"status": "Accepted"}))).await;
    assert_eq!(call[2], "CancelReservation");
    assert_eq!(call[3]["reservationId"], hub_id);
    assert_eq!(result_at(&h, "c3").await["result"], "ACCEPTED");
    wait_status(&h, "CV-1", "AVAILABLE").await;

    // The eMSP saw each reservation as a session: RESERVATION, then COMPLETED when it expired
    // or was cancelled, ACTIVE (the same session) when its token started charging.
    crate::locations::drained(&h.app).await;
    let got = received(&h.ems).await;
    let reserved: Vec<String> = got
        .iter()
        .filter(|(m, _, b)| m == "PUT" && b["status"] == "RESERVATION")
        .map(|(_, p, _)| p.clone())
        .collect();
    assert_eq!(reserved.len(), 3, "{got:#?}");
    let last_status = |p: &str| {
        got.iter()
            .filter(|(_, q, b)| q == p && b.get("status").is_some())
            .map(|(_, _, b)| b["status"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(last_status(&reserved[0]), ["RESERVATION", "COMPLETED"]);
    assert_eq!(last_status(&reserved[1]), ["RESERVATION", "ACTIVE"]);
    assert_eq!(last_status(&reserved[2]), ["RESERVATION", "COMPLETED"]);
    let activated = got
        .iter()
        .find(|(m, p, b)| m == "PATCH" && *p == reserved[1] && b["status"] == "ACTIVE")
        .unwrap();
    assert_eq!(activated.2["start_date_time"], "2026-03-02T10:00:00Z");
}

#[tokio::test]
async fn commands_for_a_remote_cpo_are_forwarded_and_results_relayed() {
    let h = commands_hub(&[]).await;
    let cpo = FakePartner::start("cpo-token").await;
    Mock::given(method("POST"))
        .and(path("/ocpi/cpo/2.2.1/commands/START_SESSION"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"status_code": 1000, "timestamp": "2026-01-01T00:00:00Z", "data": {"result": "ACCEPTED", "timeout": 30}}),
        ))
        .mount(&cpo.server)
        .await;
    Mock::given(path_regex("^/ocpi/emsp/2.2.1/locations/.*"))
        .respond_with(ok())
        .mount(&h.oth.server)
        .await;
    let cpo_c = h.app.register_partner(&cpo, "CPO", "NL", "CPO").await;
    let mut loc = crate::locations::location("R1", "52.0116000", "4.3571000");
    loc["id"] = json!("R1");
    let r = h
        .app
        .send_json(
            Method::PUT,
            "/ocpi/2.2.1/receiver/locations/NL/CPO/R1",
            &cpo_c,
            &loc,
        )
        .await;
    assert_eq!(r.status(), 201);
    let mut cmd = start(&h, "remote", "R1-1", "APP-1");
    cmd["location_id"] = json!("R1");
    let v = command(&h, &h.ems_c, "START_SESSION", &cmd).await;
    assert_eq!(v["data"], json!({"result": "ACCEPTED", "timeout": 30}));
    let forwarded = cpo
        .requests()
        .await
        .into_iter()
        .find(|r| r.url.path() == "/ocpi/cpo/2.2.1/commands/START_SESSION")
        .unwrap();
    let body: Value = serde_json::from_slice(&forwarded.body).unwrap();
    let hub_url = body["response_url"].as_str().unwrap().to_string();
    assert!(
        hub_url.starts_with(&h.app.address),
        "the CPO never sees the eMSP's URL: {hub_url}"
    );
    assert_eq!(body["token"]["uid"], "APP-1");
    assert_eq!(forwarded.headers["ocpi-from-party-id"], "EMS");
    assert_eq!(forwarded.headers["ocpi-to-party-id"], "CPO");
    // Only the CPO it went to may answer; its result reaches the eMSP's own URL.
    let result_path = hub_url.trim_start_matches(&h.app.address).to_string();
    let r = h
        .app
        .send_json(
            Method::POST,
            &result_path,
            &h.oth_c,
            &json!({"result": "ACCEPTED"}),
        )
        .await;
    assert_eq!(r.status(), 404);
    let r = h
        .app
        .send_json(
            Method::POST,
            &result_path,
            &cpo_c,
            &json!({"result": "ACCEPTED"}),
        )
        .await;
    assert_eq!(body_json(r).await["status_code"], 1000);
    let got = result_at(&h, "remote").await;
    assert_eq!(got["result"], "ACCEPTED");
    // The CPO's refusal is relayed as it is.
    Mock::given(method("POST"))
        .and(path("/ocpi/cpo/2.2.1/commands/START_SESSION"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"status_code": 1000, "timestamp": "2026-01-01T00:00:00Z", "data": {"result": "REJECTED", "timeout": 0}}),
        ))
        .with_priority(1)
        .mount(&cpo.server)
        .await;
    let mut cmd = start(&h, "remote2", "R1-1", "APP-1");
    cmd["location_id"] = json!("R1");
    let v = command(&h, &h.ems_c, "START_SESSION", &cmd).await;
    assert_eq!(v["data"]["result"], "REJECTED", "{v}");
}

#[tokio::test]
async fn stop_unlock_on_2_0_1_and_reserve_on_1_6() {
    let h = commands_hub(&["CX201", "CY16"]).await;
    let (mut ws2, _) = open(&h.app, "CX201", "ocpp2.0.1", Some(PASSWORD))
        .await
        .unwrap();
    let (mut ws1, _) = open(&h.app, "CY16", "ocpp1.6", Some(PASSWORD))
        .await
        .unwrap();
    // A 2.0.1 session on a stored token, stopped by its eMSP: RequestStopTransaction.
    let r = ask(
        &mut ws2,
        &json!([2, "te", "TransactionEvent", {"eventType": "Started", "timestamp": "2026-03-02T10:00:00Z", "triggerReason": "Authorized", "seqNo": 0,
            "transactionInfo": {"transactionId": "T-X"}, "idToken": {"idToken": "TOK-1", "type": "ISO14443"}, "evse": {"id": 1, "connectorId": 1}}]).to_string(),
    )
    .await;
    assert_eq!(r[2]["idTokenInfo"]["status"], "Accepted");
    crate::locations::drained(&h.app).await;
    let sid = received(&h.ems).await[0].2["id"]
        .as_str()
        .unwrap()
        .to_string();
    let v = command(
        &h,
        &h.ems_c,
        "STOP_SESSION",
        &json!({"response_url": url(&h, "stop2"), "session_id": sid}),
    )
    .await;
    assert_eq!(v["data"]["result"], "ACCEPTED");
    let call = on_call(&mut ws2, Some(json!({"status": "Rejected"}))).await;
    assert_eq!(call[2], "RequestStopTransaction");
    assert_eq!(call[3], json!({"transactionId": "T-X"}));
    assert_eq!(result_at(&h, "stop2").await["result"], "REJECTED");
    // UnlockConnector on 2.0.1 carries the EVSE and connector.
    command(&h, &h.ems_c, "UNLOCK_CONNECTOR", &json!({"response_url": url(&h, "u2"), "location_id": "LOC-S", "evse_uid": "CX201-1", "connector_id": "1"})).await;
    let call = on_call(
        &mut ws2,
        Some(json!({"status": "OngoingAuthorizedTransaction"})),
    )
    .await;
    assert_eq!(call[3], json!({"evseId": 1, "connectorId": 1}));
    assert_eq!(result_at(&h, "u2").await["result"], "REJECTED");
    // ReserveNow on 1.6: connectorId, idTag and the hub's reservationId; Faulted → inoperative.
    let expiry = (chrono::Utc::now() + chrono::Duration::seconds(600))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let body = |id: &str, rid: &str| {
        json!({"response_url": url(&h, id), "token": token("APP-9"), "expiry_date": expiry,
               "reservation_id": rid, "location_id": "LOC-S", "evse_uid": "CY16-1"})
    };
    command(&h, &h.ems_c, "RESERVE_NOW", &body("rf", "RF")).await;
    on_call(&mut ws1, Some(json!({"status": "Faulted"}))).await;
    assert_eq!(result_at(&h, "rf").await["result"], "EVSE_INOPERATIVE");
    command(&h, &h.ems_c, "RESERVE_NOW", &body("ra", "RA")).await;
    let call = on_call(&mut ws1, Some(json!({"status": "Accepted"}))).await;
    assert_eq!(call[2], "ReserveNow");
    assert_eq!(call[3]["connectorId"], 1);
    assert_eq!(call[3]["idTag"], "APP-9");
    assert!(call[3]["reservationId"].is_i64());
    assert_eq!(result_at(&h, "ra").await["result"], "ACCEPTED");
    assert_eq!(evse_status(&h, "CY16-1").await, "RESERVED");
    // Another token on the reserved 1.6 connector is refused.
    let r = ask(
        &mut ws1,
        &json!([2, "st", "StartTransaction", {"connectorId": 1, "idTag": "TOK-1", "meterStart": 0, "timestamp": "2026-03-02T10:00:00Z"}]).to_string(),
    )
    .await;
    assert_eq!(r[2]["idTagInfo"]["status"], "Blocked", "{r}");
    // A reservation for a stored token (no command behind the start): its StartTransaction
    // on the 1.6 connector takes over the reservation's session.
    let cancel = json!({"response_url": url(&h, "ca"), "reservation_id": "RA"});
    command(&h, &h.ems_c, "CANCEL_RESERVATION", &cancel).await;
    on_call(&mut ws1, Some(json!({"status": "Accepted"}))).await;
    assert_eq!(result_at(&h, "ca").await["result"], "ACCEPTED");
    let mut rt = body("rt", "RT");
    rt["token"] = token("TOK-1");
    command(&h, &h.ems_c, "RESERVE_NOW", &rt).await;
    on_call(&mut ws1, Some(json!({"status": "Accepted"}))).await;
    assert_eq!(result_at(&h, "rt").await["result"], "ACCEPTED");
    let r = ask(
        &mut ws1,
        &json!([2, "s2", "StartTransaction", {"connectorId": 1, "idTag": "TOK-1", "meterStart": 0, "timestamp": "2026-03-02T11:00:00Z"}]).to_string(),
    )
    .await;
    assert_eq!(r[2]["idTagInfo"]["status"], "Accepted", "{r}");
    crate::locations::drained(&h.app).await;
    let got = received(&h.ems).await;
    let reserved = got
        .iter()
        .filter(|(m, _, b)| m == "PUT" && b["status"] == "RESERVATION" && b["evse_uid"] == "CY16-1")
        .map(|(_, p, _)| p.clone())
        .next_back()
        .unwrap();
    let statuses: Vec<&str> = got
        .iter()
        .filter(|(_, q, b)| *q == reserved && b.get("status").is_some())
        .map(|(_, _, b)| b["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["RESERVATION", "ACTIVE"], "{got:#?}");
    assert_eq!(reservation_state(&h, "RT").await, "USED");
}
