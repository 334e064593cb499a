//! The OCPP gateway over real WebSockets: subprotocols, Basic auth, framing errors of each
//! version, Boot/Heartbeat/StatusNotification, EVSE status reaching eMSPs, newest connection wins.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::locations::{drained, hub_with_partners, pushes};
use crate::support::{TestApp, body_json, spawn_app};

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub const PASSWORD: &str = "0123456789abcdef-pw";

pub async fn add_charger(app: &TestApp, id: &str, location: Option<&str>) {
    let r = app
        .admin_post(
            "/api/chargers",
            &json!({"id": id, "password": PASSWORD, "location_id": location}),
        )
        .await;
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
}

/// Open a WebSocket as charge point `id`; returns the socket and the negotiated subprotocol, or
/// the HTTP status of a refused handshake.
pub async fn open(
    app: &TestApp,
    id: &str,
    protocols: &str,
    password: Option<&str>,
) -> Result<(Ws, String), u16> {
    let mut req = format!("{}/ocpp/{id}", app.ocpp_address)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", protocols.parse().unwrap());
    if let Some(pw) = password {
        use base64::Engine;
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{pw}"));
        req.headers_mut()
            .insert("Authorization", format!("Basic {b}").parse().unwrap());
    }
    let mut config = WebSocketConfig::default();
    config.read_buffer_size = 4096;
    match tokio_tungstenite::connect_async_with_config(req, Some(config), false).await {
        Ok((ws, resp)) => {
            let proto = resp
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            Ok((ws, proto))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

/// Wait until the gateway's writer has stored every state change enqueued so far (connects,
/// boots and heartbeats are answered before they are written).
pub async fn settled(app: &TestApp) {
    app.state.ocpp_log.flush().await.unwrap();
}

/// Send a text frame and wait for the next text frame back.
pub async fn ask(ws: &mut Ws, text: &str) -> Value {
    ws.send(Message::Text(text.to_string().into()))
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn subprotocols_and_basic_auth() {
    let app = spawn_app().await;
    add_charger(&app, "CP-1", None).await;
    let (_, p) = open(&app, "CP-1", "ocpp2.0.1, ocpp1.6", Some(PASSWORD))
        .await
        .unwrap();
    assert_eq!(p, "ocpp2.0.1", "the client's first choice");
    let (_, p) = open(&app, "CP-1", "ocpp1.5, ocpp1.6", Some(PASSWORD))
        .await
        .unwrap();
    assert_eq!(p, "ocpp1.6");
    assert_eq!(
        open(&app, "CP-1", "ocpp1.6", Some("wrong-password-0000"))
            .await
            .err(),
        Some(401)
    );
    assert_eq!(open(&app, "CP-1", "ocpp1.6", None).await.err(), Some(401));
    assert_eq!(
        open(&app, "CP-UNKNOWN", "ocpp1.6", Some(PASSWORD))
            .await
            .err(),
        Some(404)
    );

    // No supported subprotocol: the handshake completes without one and the hub closes.
    let addr = app.ocpp_address.trim_start_matches("ws://").to_string();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("CP-1:{PASSWORD}"));
    let req = format!(
        "GET /ocpp/CP-1 HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: ocpp1.2\r\nAuthorization: Basic {auth}\r\n\r\n"
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    // Read until the close frame (opcode 0x8) follows the 101 response.
    loop {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), sock.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n")
            && got.len() > end + 4
        {
            break;
        }
    }
    let text = String::from_utf8_lossy(&got).to_string();
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    assert!(
        !text.to_ascii_lowercase().contains("sec-websocket-protocol"),
        "{text}"
    );
    let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(got[end] & 0x0f, 0x8, "a close frame follows");
}

#[tokio::test]
async fn framing_errors_answer_with_each_versions_codes_and_the_connection_stays() {
    let app = spawn_app().await;
    add_charger(&app, "CP-F", None).await;
    for (proto, format, occurrence) in [
        ("ocpp1.6", "FormationViolation", "ProtocolError"),
        ("ocpp2.0.1", "FormatViolation", "ProtocolError"),
    ] {
        let (mut ws, _) = open(&app, "CP-F", proto, Some(PASSWORD)).await.unwrap();
        let r = ask(&mut ws, "{not json").await;
        assert_eq!(r, json!([4, "-1", format, r[3], {}]));
        let r = ask(&mut ws, r#"[2, "m1", "Heartbeat"]"#).await;
        assert_eq!((r[1].clone(), r[2].clone()), (json!("m1"), json!(format)));
        let r = ask(&mut ws, r#"[2, "m2", "FancyNewAction", {}]"#).await;
        assert_eq!(r[2], "NotImplemented");
        let boot_missing = if proto == "ocpp1.6" {
            json!({"chargePointVendor": "V"})
        } else {
            json!({"reason": "PowerUp"})
        };
        let r = ask(
            &mut ws,
            &json!([2, "m3", "BootNotification", boot_missing]).to_string(),
        )
        .await;
        assert_eq!(r[2], occurrence, "{r}");
        let bad_enum = if proto == "ocpp1.6" {
            json!({"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"})
        } else {
            json!({"timestamp": "2026-01-01T00:00:00Z", "connectorStatus": "Sleeping", "evseId": 1, "connectorId": 1})
        };
        let r = ask(
            &mut ws,
            &json!([2, "m4", "StatusNotification", bad_enum]).to_string(),
        )
        .await;
        assert_eq!(r[2], "PropertyConstraintViolation", "{r}");
        let wrong_type = if proto == "ocpp1.6" {
            json!({"connectorId": "one", "errorCode": "NoError", "status": "Available"})
        } else {
            json!({"timestamp": "2026-01-01T00:00:00Z", "connectorStatus": "Available", "evseId": "one", "connectorId": 1})
        };
        let r = ask(
            &mut ws,
            &json!([2, "m5", "StatusNotification", wrong_type]).to_string(),
        )
        .await;
        assert_eq!(r[2], "TypeConstraintViolation", "{r}");
        if proto == "ocpp2.0.1" {
            let r = ask(&mut ws, r#"[7, "m6", "Heartbeat", {}]"#).await;
            assert_eq!(r[2], "MessageTypeNotSupported");
        }
        // Still open and serving.
        let r = ask(&mut ws, r#"[2, "m7", "Heartbeat", {}]"#).await;
        assert_eq!(r[0], 3);
        assert_eq!(r[1], "m7");
        assert!(r[2]["currentTime"].as_str().unwrap().ends_with('Z'));
    }
}

#[tokio::test]
async fn payloads_are_validated_against_the_oca_schemas() {
    use ocpi_hub::ocpp::frame::Version;
    use ocpi_hub::ocpp::schema::{Direction, Schemas};
    let Some(dir) = crate::support::shared_ocpp_schemas() else {
        eprintln!("../shared/ref/ocpp-schemas absent: schema validation not compared");
        return;
    };
    let schemas = Schemas::load(&dir).unwrap();
    let app = spawn_app().await;
    add_charger(&app, "CP-S", None).await;
    let now = "2026-01-01T00:00:00Z";
    // (version, action, payload); the hub's verdict must be the schema's.
    let cases: Vec<(Version, &str, Value)> = vec![
        (Version::V16, "Heartbeat", json!({})),
        (Version::V16, "Heartbeat", json!({"extra": 1})),
        (
            Version::V16,
            "BootNotification",
            json!({"chargePointVendor": "V", "chargePointModel": "M", "iccid": "x".repeat(21)}),
        ),
        (
            Version::V16,
            "BootNotification",
            json!({"chargePointVendor": "V", "chargePointModel": "M", "meterSerialNumber": "S-1"}),
        ),
        (
            Version::V16,
            "StatusNotification",
            json!({"connectorId": 1.5, "errorCode": "NoError", "status": "Available"}),
        ),
        (
            Version::V16,
            "StatusNotification",
            json!({"connectorId": 1, "errorCode": "Overheat", "status": "Available"}),
        ),
        (
            Version::V16,
            "StatusNotification",
            json!({"connectorId": 1, "errorCode": "NoError", "status": "Available", "info": "x".repeat(51)}),
        ),
        (Version::V16, "Authorize", json!({"idTag": "x".repeat(21)})),
        (
            Version::V16,
            "DataTransfer",
            json!({"vendorId": "acme", "messageId": "m", "data": "d"}),
        ),
        (
            Version::V16,
            "DataTransfer",
            json!({"vendorId": "x".repeat(256)}),
        ),
        (
            Version::V16,
            "DiagnosticsStatusNotification",
            json!({"status": "Exploded"}),
        ),
        (
            Version::V16,
            "FirmwareStatusNotification",
            json!({"status": "Installed"}),
        ),
        (Version::V201, "Heartbeat", json!({})),
        (
            Version::V201,
            "BootNotification",
            json!({"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V", "modem": {"iccid": "x".repeat(21)}}}),
        ),
        (
            Version::V201,
            "BootNotification",
            json!({"reason": "Kicked", "chargingStation": {"model": "M", "vendorName": "V"}}),
        ),
        (
            Version::V201,
            "BootNotification",
            json!({"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}),
        ),
        (
            Version::V201,
            "StatusNotification",
            json!({"timestamp": now, "connectorStatus": "Available", "evseId": 1, "connectorId": 1, "customData": {"vendorId": "acme", "x": 1}}),
        ),
        (
            Version::V201,
            "NotifyEvent",
            json!({"generatedAt": now, "seqNo": 0, "eventData": []}),
        ),
        (
            Version::V201,
            "NotifyEvent",
            json!({"generatedAt": now, "seqNo": 0, "eventData": [{"eventId": 1, "timestamp": now, "trigger": "Alerting", "actualValue": "on", "eventNotificationType": "HardWiredNotification", "component": {"name": "C"}, "variable": {"name": "V"}}]}),
        ),
        (
            Version::V201,
            "SecurityEventNotification",
            json!({"type": "x".repeat(51), "timestamp": now}),
        ),
        (
            Version::V201,
            "Authorize",
            json!({"idToken": {"idToken": "T", "type": "Telepathy"}}),
        ),
    ];
    let mut checked = 0;
    for (v, proto) in [(Version::V16, "ocpp1.6"), (Version::V201, "ocpp2.0.1")] {
        let (mut ws, _) = open(&app, "CP-S", proto, Some(PASSWORD)).await.unwrap();
        for (i, (_, action, payload)) in cases.iter().filter(|c| c.0 == v).enumerate() {
            let id = format!("s{i}");
            let r = ask(&mut ws, &json!([2, id, action, payload]).to_string()).await;
            assert_eq!(r[1], json!(id));
            match schemas.check(v, Direction::Request, action, payload) {
                Ok(()) => assert_eq!(r[0], 3, "{action} {payload}: {r}"),
                Err(e) => {
                    assert_eq!(r[0], 4, "{action} {payload}: {r}");
                    assert_eq!(r[2], e.kind.code(v), "{action} {payload}: {r}");
                }
            }
            checked += 1;
        }
        // A transaction message that breaks its schema is still stored and accepted.
        let tx = if v == Version::V16 {
            json!([2, "t1", "StartTransaction", {"connectorId": 1, "idTag": "TAG", "meterStart": 10, "timestamp": now, "vendorNote": "x"}])
        } else {
            json!([2, "t1", "TransactionEvent", {"eventType": "Started", "timestamp": now, "triggerReason": "Authorized", "seqNo": 0, "transactionInfo": {"transactionId": "TX-S"}, "vendorNote": "x"}])
        };
        assert!(
            schemas
                .check(v, Direction::Request, tx[2].as_str().unwrap(), &tx[3])
                .is_err()
        );
        let r = ask(&mut ws, &tx.to_string()).await;
        assert_eq!(r[0], 3, "{r}");
    }
    assert_eq!(checked, cases.len());
    let tx = app.admin_get("/api/chargers/CP-S").await;
    assert!(tx["data"].is_object(), "{tx}");

    // An operator call that breaks the schema is refused before it reaches the charge point.
    let (ws, _) = open(&app, "CP-S", "ocpp1.6", Some(PASSWORD)).await.unwrap();
    let mut calls = serve_calls(ws, |_| Some(json!({"status": "Accepted"})));
    let v = body_json(
        app.admin_post(
            "/api/chargers/CP-S/call",
            &json!({"action": "Reset", "payload": {"type": "Gentle"}}),
        )
        .await,
    )
    .await;
    assert_eq!(v["status_code"], 2001, "{v}");
    assert!(
        v["status_message"].as_str().unwrap().contains("/type"),
        "{v}"
    );
    let v = body_json(
        app.admin_post(
            "/api/chargers/CP-S/call",
            &json!({"action": "Reset", "payload": {"type": "Soft"}}),
        )
        .await,
    )
    .await;
    assert_eq!(v["data"]["response"], json!({"status": "Accepted"}), "{v}");
    assert_eq!(
        calls.recv().await.unwrap(),
        ("Reset".to_string(), json!({"type": "Soft"}))
    );
}

#[tokio::test]
async fn boot_heartbeat_and_status_drive_ocpi_evse_status() {
    let (app, _cpo, _emsp_c, emsp) = hub_with_partners(|_| {}).await;
    // An own location declaring the EVSEs of charge points CP-A (1.6) and CP-B (2.0.1).
    let mut loc = crate::locations::location("SITE", "52.3791300", "4.9001500");
    loc["party_id"] = json!("HUB");
    loc["evses"] = json!([
        crate::locations::evse("CP-A-1"),
        crate::locations::evse("CP-B-2")
    ]);
    let v = body_json(app.admin_post("/admin/locations", &loc).await).await;
    assert_eq!(v["data"]["created"], 1, "{v}");
    add_charger(&app, "CP-A", Some("SITE")).await;
    add_charger(&app, "CP-B", Some("SITE")).await;

    let (mut a, _) = open(&app, "CP-A", "ocpp1.6", Some(PASSWORD)).await.unwrap();
    let r = ask(&mut a, &json!([2, "1", "BootNotification", {"chargePointVendor": "ACME", "chargePointModel": "AC22", "firmwareVersion": "1.2.3"}]).to_string()).await;
    assert_eq!(r[2]["status"], "Accepted");
    assert_eq!(r[2]["interval"], 300);
    let r = ask(&mut a, r#"[2, "2", "Heartbeat", {}]"#).await;
    assert!(r[2]["currentTime"].is_string());
    let r = ask(&mut a, &json!([2, "3", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": "2026-03-01T10:00:00Z"}]).to_string()).await;
    assert_eq!(r, json!([3, "3", {}]));

    let (mut b, _) = open(&app, "CP-B", "ocpp2.0.1", Some(PASSWORD))
        .await
        .unwrap();
    let r = ask(&mut b, &json!([2, "b1", "BootNotification", {"reason": "PowerUp", "chargingStation": {"model": "DC150", "vendorName": "ACME"}}]).to_string()).await;
    assert_eq!(r[2]["status"], "Accepted");
    let r = ask(&mut b, &json!([2, "b2", "StatusNotification", {"timestamp": "2026-03-01T10:05:00Z", "connectorStatus": "Faulted", "evseId": 2, "connectorId": 1}]).to_string()).await;
    assert_eq!(r, json!([3, "b2", {}]));

    // The OCPI view and the eMSP both have the new statuses (written after the answer).
    settled(&app).await;
    let r = app
        .http
        .get(app.url("/api/locations/search?lat=52.37913&lon=4.90015"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    let hits = body_json(r).await["data"].as_array().unwrap().clone();
    let status_of = |uid: &str| {
        hits.iter()
            .find(|h| h["evse_uid"] == uid)
            .map(|h| h["status"].clone())
    };
    assert_eq!(status_of("CP-A-1"), Some(json!("CHARGING")));
    assert_eq!(status_of("CP-B-2"), Some(json!("OUTOFORDER")));
    drained(&app).await;
    let patches: Vec<(String, Value)> = pushes(&emsp)
        .await
        .into_iter()
        .filter(|(m, _, _)| m == "PATCH")
        .map(|(_, p, b)| (p, b))
        .collect();
    assert!(
        patches.contains(&(
            "/ocpi/emsp/2.2.1/locations/NL/HUB/SITE/CP-A-1".to_string(),
            json!({"status": "CHARGING", "last_updated": "2026-03-01T10:00:00Z"})
        )),
        "{patches:?}"
    );
    assert!(
        patches
            .iter()
            .any(|(p, b)| p.ends_with("/SITE/CP-B-2") && b["status"] == "OUTOFORDER")
    );

    // The operator API shows both online with their protocol and boot data.
    settled(&app).await;
    let v = app.admin_get("/api/chargers").await;
    let a_view = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "CP-A")
        .unwrap()
        .clone();
    assert_eq!(a_view["online"], true);
    assert_eq!(a_view["protocol"], "ocpp1.6");
    assert_eq!(a_view["vendor"], "ACME");
    assert!(a_view["last_heartbeat_at"].is_string());
    let r = app.http.get(app.url("/api/chargers")).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn newest_connection_wins_and_states_are_logged() {
    let app = spawn_app().await;
    add_charger(&app, "CP-R", None).await;
    let (mut first, _) = open(&app, "CP-R", "ocpp1.6", Some(PASSWORD)).await.unwrap();
    let (mut second, _) = open(&app, "CP-R", "ocpp1.6", Some(PASSWORD)).await.unwrap();
    // The first one is closed by the hub.
    let closed = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), first.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break true,
            Some(Ok(_)) => continue,
        }
    };
    assert!(closed);
    let r = ask(&mut second, r#"[2, "x", "Heartbeat", {}]"#).await;
    assert_eq!(r[1], "x");
    settled(&app).await;
    let v = app.admin_get("/api/chargers/CP-R").await;
    assert_eq!(v["data"]["online"], true);
    let events: Vec<String> = v["data"]["connection_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        events,
        vec!["reconnected", "connected"],
        "newest first; the replaced socket logs no disconnect"
    );
    // Closing the live one is logged and the charger goes offline.
    second.close(None).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let v = app.admin_get("/api/chargers/CP-R").await;
        if v["data"]["online"] == false && v["data"]["connection_log"][0]["event"] == "disconnected"
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{v}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Invalid registrations are refused, naming the rule.
    let v = body_json(
        app.admin_post(
            "/api/chargers",
            &json!({"id": "CP:X", "password": PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(v["status_code"], 2001);
    let v = body_json(
        app.admin_post("/api/chargers", &json!({"id": "CP-S", "password": "short"}))
            .await,
    )
    .await;
    assert!(v["status_message"].as_str().unwrap().contains("password"));
    let v = body_json(
        app.admin_post(
            "/api/chargers",
            &json!({"id": "CP-R", "password": PASSWORD}),
        )
        .await,
    )
    .await;
    assert!(v["status_message"].as_str().unwrap().contains("exists"));
}

#[tokio::test]
async fn connects_boots_and_heartbeats_of_many_charge_points_are_stored_in_batches() {
    let app = spawn_app().await;
    let ids: Vec<String> = (1..=40).map(|n| format!("CP-BATCH-{n}")).collect();
    for id in &ids {
        add_charger(&app, id, None).await;
    }
    // All at once, so that the writer folds several charge points into one batch.
    let storm = ids.iter().enumerate().map(|(n, id)| {
        let app = &app;
        async move {
            let proto = if n % 2 == 0 { "ocpp1.6" } else { "ocpp2.0.1" };
            let (mut ws, _) = open(app, id, proto, Some(PASSWORD)).await.unwrap();
            let boot = if n % 2 == 0 {
                json!([2, "b", "BootNotification", {"chargePointVendor": "ACME", "chargePointModel": format!("M{}", n % 3), "firmwareVersion": "1.0"}])
            } else {
                json!([2, "b", "BootNotification", {"reason": "PowerUp", "chargingStation": {"model": format!("M{}", n % 3), "vendorName": "ACME"}}])
            };
            let r = ask(&mut ws, &boot.to_string()).await;
            assert_eq!(r[2]["status"], "Accepted");
            let r = ask(&mut ws, r#"[2, "h", "Heartbeat", {}]"#).await;
            assert!(r[2]["currentTime"].is_string());
            ws
        }
    });
    let sockets = futures_util::future::join_all(storm).await;
    // Answered before stored; a flush returns once all of it is written.
    settled(&app).await;
    let stored = app
        .state
        .db
        .read(ocpi_hub::db::chargers::list)
        .await
        .unwrap();
    for (n, id) in ids.iter().enumerate() {
        let c = stored.iter().find(|c| &c.id == id).unwrap();
        assert!(c.connected, "{id}");
        let proto = if n % 2 == 0 { "ocpp1.6" } else { "ocpp2.0.1" };
        assert_eq!(c.protocol.as_deref(), Some(proto), "{id}");
        assert_eq!(c.vendor.as_deref(), Some("ACME"));
        assert_eq!(c.model.as_deref(), Some(format!("M{}", n % 3).as_str()));
        let firmware = (n % 2 == 0).then_some("1.0");
        assert_eq!(c.firmware.as_deref(), firmware, "{id}");
        assert!(
            c.last_boot_at.is_some() && c.last_heartbeat_at.is_some(),
            "{id}"
        );
        let cid = id.clone();
        let log = app
            .state
            .db
            .read(move |c| ocpi_hub::db::chargers::connection_log(c, &cid, 10))
            .await
            .unwrap();
        let events: Vec<&str> = log.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(events, ["booted", "connected"], "{id}");
        assert_eq!(
            log[0].detail.as_deref(),
            Some(format!("ACME M{}", n % 3).as_str())
        );
    }
    drop(sockets);
}

pub async fn transactions(
    app: &TestApp,
    charger: &str,
) -> Vec<ocpi_hub::db::transactions::Transaction> {
    let id = charger.to_string();
    app.state
        .db
        .read(move |c| ocpi_hub::db::transactions::of_charger(c, &id))
        .await
        .unwrap()
}

async fn meter_values(app: &TestApp, tx: i64) -> Vec<(String, String, String)> {
    app.state
        .db
        .read(move |c| ocpi_hub::db::transactions::meter_values(c, tx))
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.measurand, m.value, m.unit))
        .collect()
}

#[tokio::test]
async fn ocpp16_transaction_is_stored_with_normalised_meter_values() {
    // Storage is under test here; tokens are decided in the tokens tests.
    let app = crate::support::spawn_app_with(|s| {
        s.ocpp_authorize = ocpi_hub::config::AuthorizePolicy::AcceptAll
    })
    .await;
    add_charger(&app, "CP-T16", None).await;
    let (mut ws, _) = open(&app, "CP-T16", "ocpp1.6", Some(PASSWORD))
        .await
        .unwrap();
    let r = ask(
        &mut ws,
        &json!([2, "a", "Authorize", {"idTag": "TAG-1"}]).to_string(),
    )
    .await;
    assert_eq!(r[2], json!({"idTagInfo": {"status": "Accepted"}}));
    let start = json!([2, "s1", "StartTransaction", {"connectorId": 1, "idTag": "TAG-1", "meterStart": 1000, "timestamp": "2026-02-01T09:00:00"}]);
    let r = ask(&mut ws, &start.to_string()).await;
    let tx = r[2]["transactionId"].as_i64().unwrap();
    assert_eq!(r[2]["idTagInfo"]["status"], "Accepted");
    // The charger did not get our answer and sends it again: same transaction id.
    let r = ask(&mut ws, &start.to_string().replace("\"s1\"", "\"s2\"")).await;
    assert_eq!(r[2]["transactionId"], tx);
    let mv = json!([2, "m1", "MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [
    {"timestamp": "2026-02-01T09:15:00Z", "sampledValue": [
        {"value": "3.5", "unit": "kWh", "measurand": "Energy.Active.Import.Register", "context": "Sample.Periodic"},
        {"value": "11.0", "unit": "kW", "measurand": "Power.Active.Import"},
        {"value": "broken"}
    ]}]}]);
    assert_eq!(ask(&mut ws, &mv.to_string()).await, json!([3, "m1", {}]));
    let stop = json!([2, "e1", "StopTransaction", {"transactionId": tx, "meterStop": 9000, "timestamp": "2026-02-01T10:00:00Z", "reason": "EVDisconnected",
        "transactionData": [{"timestamp": "2026-02-01T10:00:00Z", "sampledValue": [{"value": "9000", "measurand": "Energy.Active.Import.Register"}]}]}]);
    assert_eq!(ask(&mut ws, &stop.to_string()).await, json!([3, "e1", {}]));
    // A stop for a transaction the hub never saw is stored and accepted too.
    let r = ask(&mut ws, &json!([2, "e2", "StopTransaction", {"transactionId": 999999, "meterStop": 5, "timestamp": "2026-02-01T11:00:00Z"}]).to_string()).await;
    assert_eq!(r[0], 3);

    let txs = transactions(&app, "CP-T16").await;
    assert_eq!(txs.len(), 2);
    let t = &txs[0];
    assert_eq!(t.transaction_id, tx.to_string());
    assert_eq!(t.state, "ENDED");
    assert_eq!(t.meter_start_wh.as_deref(), Some("1000"));
    assert_eq!(t.meter_stop_wh.as_deref(), Some("9000"));
    assert_eq!(t.stop_reason.as_deref(), Some("EVDisconnected"));
    assert_eq!(t.started_at.unwrap().to_string(), "2026-02-01 09:00:00");
    assert_eq!(
        meter_values(&app, t.id).await,
        vec![
            (
                "Energy.Active.Import.Register".to_string(),
                "3500".to_string(),
                "Wh".to_string()
            ),
            (
                "Power.Active.Import".to_string(),
                "11000".to_string(),
                "W".to_string()
            ),
            (
                "Energy.Active.Import.Register".to_string(),
                "9000".to_string(),
                "Wh".to_string()
            ),
        ]
    );
    assert_eq!(txs[1].transaction_id, "999999");
    assert_eq!(txs[1].state, "ENDED");
}

#[tokio::test]
async fn ocpp201_transaction_events_out_of_order_and_duplicated() {
    // Storage is under test here; tokens are decided in the tokens tests.
    let app = crate::support::spawn_app_with(|s| {
        s.ocpp_authorize = ocpi_hub::config::AuthorizePolicy::AcceptAll
    })
    .await;
    add_charger(&app, "CP-T201", None).await;
    let (mut ws, _) = open(&app, "CP-T201", "ocpp2.0.1", Some(PASSWORD))
        .await
        .unwrap();
    let ev = |msg: &str, kind: &str, seq: i64, at: &str, kwh: f64| {
        json!([2, msg, "TransactionEvent", {
            "eventType": kind, "timestamp": at, "triggerReason": "MeterValuePeriodic", "seqNo": seq,
            "transactionInfo": {"transactionId": "TX-77", "stoppedReason": if kind == "Ended" { json!("EVDisconnected") } else { Value::Null }},
            "evse": {"id": 2, "connectorId": 1},
            "idToken": {"idToken": "TOKEN-9", "type": "ISO14443"},
            "meterValue": [{"timestamp": at, "sampledValue": [
                {"value": kwh, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "kWh"}}
            ]}]
        }])
        .to_string()
        .replace(",\"stoppedReason\":null", "")
    };
    let r = ask(&mut ws, &ev("1", "Started", 0, "2026-02-01T09:00:00Z", 1.0)).await;
    assert_eq!(r[2], json!({"idTokenInfo": {"status": "Accepted"}}));
    // Ended arrives before Updated; Updated is then sent twice.
    assert_eq!(
        ask(&mut ws, &ev("2", "Ended", 2, "2026-02-01T10:00:00Z", 12.0)).await[0],
        3
    );
    assert_eq!(
        ask(&mut ws, &ev("3", "Updated", 1, "2026-02-01T09:30:00Z", 6.0)).await[0],
        3
    );
    assert_eq!(
        ask(&mut ws, &ev("4", "Updated", 1, "2026-02-01T09:30:00Z", 6.0)).await[0],
        3
    );

    let txs = transactions(&app, "CP-T201").await;
    assert_eq!(txs.len(), 1);
    let t = &txs[0];
    assert_eq!(
        (t.transaction_id.as_str(), t.state.as_str()),
        ("TX-77", "ENDED")
    );
    assert_eq!(t.evse_id, Some(2));
    assert_eq!(t.last_seq_no, Some(2));
    assert_eq!(t.meter_start_wh.as_deref(), Some("1000"));
    assert_eq!(t.meter_stop_wh.as_deref(), Some("12000"));
    assert_eq!(t.stop_reason.as_deref(), Some("EVDisconnected"));
    assert_eq!(t.stopped_at.unwrap().to_string(), "2026-02-01 10:00:00");
    let values: Vec<String> = meter_values(&app, t.id)
        .await
        .into_iter()
        .map(|(_, v, _)| v)
        .collect();
    assert_eq!(
        values,
        vec!["1000", "6000", "12000"],
        "the duplicate added nothing; ordered by time"
    );
}

/// Run a charge point that records the hub's calls and answers them with `answer(action)`
/// (None: stays silent). Before answering the first call it sends a Heartbeat of its own and
/// waits for the hub's answer: calls crossing in both directions.
fn serve_calls(
    mut ws: Ws,
    answer: fn(&str) -> Option<Value>,
) -> tokio::sync::mpsc::UnboundedReceiver<(String, Value)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut crossed = false;
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Text(t) = msg else { continue };
            let v: Value = serde_json::from_str(&t).unwrap();
            if v[0] != 2 {
                continue;
            }
            let action = v[2].as_str().unwrap().to_string();
            let _ = tx.send((action.clone(), v[3].clone()));
            if !crossed {
                crossed = true;
                let r = ask(&mut ws, r#"[2, "cross-1", "Heartbeat", {}]"#).await;
                assert_eq!(
                    r[1], "cross-1",
                    "the hub answers while its own call is outstanding"
                );
            }
            match answer(&action) {
                Some(Value::String(code)) => {
                    let _ = ws
                        .send(Message::Text(
                            json!([4, v[1], code, "refused", {}]).to_string().into(),
                        ))
                        .await;
                }
                Some(payload) => {
                    let _ = ws
                        .send(Message::Text(json!([3, v[1], payload]).to_string().into()))
                        .await;
                }
                None => {}
            }
        }
    });
    rx
}

#[tokio::test]
async fn operator_commands_reach_charge_points_of_both_versions() {
    // Generous: a loaded CI machine must not turn an answer into a timeout.
    let app = crate::support::spawn_app_with(|s| s.ocpp_call_timeout_secs = 5).await;
    add_charger(&app, "CMD16", None).await;
    add_charger(&app, "CMD201", None).await;
    let post = |path: String, body: Value| {
        let app = &app;
        async move { body_json(app.admin_post(&path, &body).await).await }
    };
    // Not connected: 4003.
    let v = post(
        "/api/chargers/CMD16/start".into(),
        json!({"idToken": "TAG-1"}),
    )
    .await;
    assert_eq!(v["status_code"], 4003);

    let (ws16, _) = open(&app, "CMD16", "ocpp1.6", Some(PASSWORD))
        .await
        .unwrap();
    let mut calls16 = serve_calls(ws16, |_| Some(json!({"status": "Accepted"})));
    let v = post(
        "/api/chargers/CMD16/start".into(),
        json!({"idToken": "TAG-1", "evseId": 2}),
    )
    .await;
    assert_eq!(v["data"]["response"], json!({"status": "Accepted"}), "{v}");
    assert_eq!(
        calls16.recv().await.unwrap(),
        (
            "RemoteStartTransaction".to_string(),
            json!({"idTag": "TAG-1", "connectorId": 2})
        )
    );
    let v = post(
        "/api/chargers/CMD16/stop".into(),
        json!({"transactionId": "42"}),
    )
    .await;
    assert_eq!(v["data"]["action"], "RemoteStopTransaction");
    assert_eq!(
        calls16.recv().await.unwrap().1,
        json!({"transactionId": 42})
    );
    let v = post(
        "/api/chargers/CMD16/stop".into(),
        json!({"transactionId": "TX-A"}),
    )
    .await;
    assert_eq!(v["status_code"], 2001);
    post("/api/chargers/CMD16/reset".into(), json!({"type": "Hard"})).await;
    assert_eq!(
        calls16.recv().await.unwrap(),
        ("Reset".to_string(), json!({"type": "Hard"}))
    );
    post(
        "/api/chargers/CMD16/availability".into(),
        json!({"evseId": 1, "operative": false}),
    )
    .await;
    assert_eq!(
        calls16.recv().await.unwrap().1,
        json!({"connectorId": 1, "type": "Inoperative"})
    );

    let (ws201, _) = open(&app, "CMD201", "ocpp2.0.1", Some(PASSWORD))
        .await
        .unwrap();
    let mut calls201 = serve_calls(ws201, |a| match a {
        "Reset" => Some(json!("NotSupported")),
        "ChangeAvailability" => None,
        _ => Some(json!({"status": "Accepted"})),
    });
    let v = post(
        "/api/chargers/CMD201/start".into(),
        json!({"idToken": "APP-7"}),
    )
    .await;
    assert_eq!(v["data"]["action"], "RequestStartTransaction", "{v}");
    let (_, p) = calls201.recv().await.unwrap();
    assert_eq!(p["idToken"], json!({"idToken": "APP-7", "type": "Central"}));
    assert!(p["remoteStartId"].is_u64());
    let r = app
        .http
        .patch(app.url("/api/chargers/CMD201/power"))
        .bearer_auth(&app.admin_token)
        .json(&json!({"maxPowerKw": 11}))
        .send()
        .await
        .unwrap();
    assert_eq!(body_json(r).await["data"]["response"]["status"], "Accepted");
    let (a, p) = calls201.recv().await.unwrap();
    assert_eq!(a, "SetChargingProfile");
    assert_eq!(
        p["chargingProfile"]["chargingProfilePurpose"],
        "ChargingStationMaxProfile"
    );
    assert_eq!(
        p["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"],
        11000.0
    );
    // A CALLERROR answer and a charge point that never answers.
    let v = post("/api/chargers/CMD201/reset".into(), json!({})).await;
    assert_eq!(v["status_code"], 4000);
    assert!(
        v["status_message"]
            .as_str()
            .unwrap()
            .contains("NotSupported")
    );
    let v = post(
        "/api/chargers/CMD201/availability".into(),
        json!({"operative": true}),
    )
    .await;
    assert_eq!(v["status_code"], 4002, "{v}");
    // The next call still works once the silent one timed out.
    let v = post(
        "/api/chargers/CMD201/stop".into(),
        json!({"transactionId": "TX-A"}),
    )
    .await;
    assert_eq!(v["data"]["response"]["status"], "Accepted", "{v}");
    let r = app
        .http
        .post(app.url("/api/chargers/CMD201/stop"))
        .json(&json!({"transactionId": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn notifications_are_acknowledged_and_every_message_is_logged() {
    let app = spawn_app().await;
    add_charger(&app, "CP-LOG", None).await;
    let (mut ws, _) = open(&app, "CP-LOG", "ocpp2.0.1", Some(PASSWORD))
        .await
        .unwrap();
    let r = ask(&mut ws, r#"[2, "n1", "NotifyEvent", {"generatedAt": "2026-01-01T00:00:00Z", "seqNo": 0, "eventData": [{"eventId": 1, "timestamp": "2026-01-01T00:00:00Z", "trigger": "Alerting", "actualValue": "on", "eventNotificationType": "HardWiredNotification", "component": {"name": "C"}, "variable": {"name": "V"}}]}]"#).await;
    assert_eq!(r, json!([3, "n1", {}]));
    let r = ask(
        &mut ws,
        r#"[2, "n2", "DataTransfer", {"vendorId": "acme"}]"#,
    )
    .await;
    assert_eq!(r[2]["status"], "UnknownVendorId");
    let r = ask(&mut ws, "garbage").await;
    assert_eq!(r[2], "FormatViolation");
    // The log is written off the socket loop: wait until all six entries are there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let v = loop {
        let v = app
            .admin_get("/api/chargers/CP-LOG/messages?limit=50")
            .await;
        if v["data"].as_array().unwrap().len() >= 6 {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "{v}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let rows: Vec<(String, i64, String)> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["direction"].as_str().unwrap().to_string(),
                m["message_type"].as_i64().unwrap(),
                m["message_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("IN".to_string(), 2, "n1".to_string()),
            ("OUT".to_string(), 3, "n1".to_string()),
            ("IN".to_string(), 2, "n2".to_string()),
            ("OUT".to_string(), 3, "n2".to_string()),
            ("IN".to_string(), 0, "-1".to_string()),
            ("OUT".to_string(), 4, "-1".to_string()),
        ]
    );
    assert_eq!(v["data"][0]["action"], "NotifyEvent");
    assert_eq!(v["data"][0]["message"][2], "NotifyEvent");
    assert_eq!(v["data"][4]["message"], "garbage");
    let r = app
        .get("/api/chargers/CP-LOG/messages?limit=2", "not-a-jwt")
        .await;
    assert_eq!(r.status(), 401);
    let r = app
        .http
        .get(app.url("/api/chargers/CP-LOG/messages?limit=2"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-total-count"], "6");
    assert!(r.headers().contains_key("link"));
}

#[tokio::test]
async fn a_call_reaches_a_charge_point_connected_to_another_instance() {
    let app1 = crate::support::spawn_app_with(|s| s.ocpp_call_timeout_secs = 6).await;
    add_charger(&app1, "CP-FAR", None).await;
    let url = app1.database_url.clone();
    let app2 = crate::support::spawn_app_with(|s| {
        s.database_url = url;
        s.ocpp_call_timeout_secs = 6;
    })
    .await;
    // The charge point is connected to instance 1; the operator talks to instance 2.
    let (ws, _) = open(&app1, "CP-FAR", "ocpp2.0.1", Some(PASSWORD))
        .await
        .unwrap();
    let mut calls = serve_calls(ws, |a| match a {
        "Reset" => Some(json!("NotSupported")),
        "ChangeAvailability" => None,
        _ => Some(json!({"status": "Accepted"})),
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app2.admin_get("/api/chargers/CP-FAR").await["data"]["online"] != true {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let v = body_json(
        app2.admin_post("/api/chargers/CP-FAR/start", &json!({"idToken": "FAR-1"}))
            .await,
    )
    .await;
    assert_eq!(v["data"]["response"]["status"], "Accepted", "{v}");
    assert_eq!(calls.recv().await.unwrap().0, "RequestStartTransaction");
    let v = body_json(
        app2.admin_post("/api/chargers/CP-FAR/reset", &json!({}))
            .await,
    )
    .await;
    assert_eq!(v["status_code"], 4000, "{v}");
    assert!(
        v["status_message"]
            .as_str()
            .unwrap()
            .contains("NotSupported")
    );
    let v = body_json(
        app2.admin_post(
            "/api/chargers/CP-FAR/availability",
            &json!({"operative": true}),
        )
        .await,
    )
    .await;
    assert_eq!(v["status_code"], 4002, "{v}");
    let v = body_json(
        app2.admin_post("/api/chargers/CP-NOWHERE/start", &json!({"idToken": "x"}))
            .await,
    )
    .await;
    assert_eq!(v["status_code"], 4003);
}

#[tokio::test]
async fn the_simulator_runs_sessions_against_the_hub() {
    let app = spawn_app().await;
    for n in 1..=4 {
        add_charger(&app, &format!("SIMT-{n}"), None).await;
    }
    let cfg = ocpi_hub::sim::SimConfig {
        url: app.ocpp_address.clone(),
        count: 4,
        prefix: "SIMT".into(),
        password: PASSWORD.into(),
        version: None,
        sessions: 1,
        session_secs: 2,
        meter_every_secs: 1,
        power_kw: 11.0,
        heartbeat_secs: 1,
        duration_secs: 3,
        replay: None,
        speedup: 1.0,
        replay_meter_secs: 900,
    };
    let sim = tokio::spawn(ocpi_hub::sim::run(cfg));
    // While it runs, the hub's calls are answered.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.admin_get("/api/chargers/SIMT-2").await["data"]["online"] != true {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let v = body_json(
        app.admin_post("/api/chargers/SIMT-2/start", &json!({"idToken": "T"}))
            .await,
    )
    .await;
    assert_eq!(v["data"]["response"]["status"], "Accepted", "{v}");
    let summary = sim.await.unwrap();
    assert_eq!(summary.boots, 4);
    assert_eq!(summary.sessions_done, 4);
    assert_eq!(summary.errors, 0);
    assert!(summary.calls_answered >= 1);
    for n in 1..=4 {
        let txs = transactions(&app, &format!("SIMT-{n}")).await;
        assert_eq!(txs.len(), 1, "SIMT-{n}");
        let t = &txs[0];
        assert_eq!(t.state, "ENDED");
        assert_eq!(t.protocol, if n % 2 == 1 { "ocpp1.6" } else { "ocpp2.0.1" });
        let start: f64 = t.meter_start_wh.as_deref().unwrap().parse().unwrap();
        let stop: f64 = t.meter_stop_wh.as_deref().unwrap().parse().unwrap();
        // Two meter steps of 1 s at 11 kW: about 6.1 Wh.
        assert!((stop - start - 6.1).abs() < 1.0, "{start} → {stop}");
        assert!(!meter_values(&app, t.id).await.is_empty());
    }
    settled(&app).await;
    let v = app.admin_get("/api/chargers/SIMT-1").await;
    assert!(v["data"]["last_heartbeat_at"].is_string());
}

#[tokio::test]
async fn the_simulator_replays_csv_sessions_through_a_hub_restart() {
    let app = spawn_app().await;
    for id in ["RP-51356", "RP-50230"] {
        add_charger(&app, id, None).await;
    }
    // Dundee's format: two overlapping sessions on two connectors of one charge point, one on
    // another, and an open session (no end) that is skipped.
    let csv = "Charging event,CP ID,Connector,Start Date,Start Time,End Date,End Time,Total kWh,Cost,Site,Group,Model\n\
        1,51356,1,02/03/2018,10:00,02/03/2018,12:00,20.5,0,\"Gellatly Street, Dundee\",APT,APT 7kW\n\
        2,51356,2,02/03/2018,10:30,02/03/2018,11:30,7.25,0,\"Gellatly Street, Dundee\",APT,APT 7kW\n\
        3,50230,1,02/03/2018,11:00,02/03/2018,13:00,12.34,0,\"Marchbanks, Dundee\",APT,APT 22kW\n\
        4,50230,2,02/03/2018,11:11,,,,,\"Marchbanks, Dundee\",APT,APT 22kW\n";
    let loaded = ocpi_hub::sim::replay::parse(csv, None).unwrap();
    assert_eq!((loaded.sessions.len(), loaded.skipped), (3, 1));
    let cfg = ocpi_hub::sim::SimConfig {
        url: app.ocpp_address.clone(),
        count: 0,
        prefix: "RP".into(),
        password: PASSWORD.into(),
        version: None,
        sessions: 0,
        session_secs: 0,
        meter_every_secs: 1,
        power_kw: 0.0,
        heartbeat_secs: 1,
        duration_secs: 0,
        replay: Some(std::sync::Arc::new(loaded.sessions)),
        // Three hours of data in three seconds.
        speedup: 3600.0,
        replay_meter_secs: 900,
    };
    let sim = tokio::spawn(ocpi_hub::sim::run(cfg));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for id in ["RP-51356", "RP-50230"] {
        while !app.admin_get(&format!("/api/chargers/{id}")).await["data"]["last_boot_at"]
            .is_string()
        {
            assert!(std::time::Instant::now() < deadline);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    // The hub goes away mid-replay and comes back on the same port and database.
    app.stop().await;
    let port: u16 = app
        .ocpp_address
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "port not released");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let url = app.database_url.clone();
    let app2 = crate::support::spawn_app_with(move |s| {
        s.ocpp_addr = ([127, 0, 0, 1], port).into();
        s.database_url = url;
    })
    .await;
    let summary = sim.await.unwrap();
    assert_eq!(summary.charge_points, 2);
    assert_eq!(summary.sessions_done, 3, "{summary:?}");
    assert!(summary.reconnects >= 2, "{summary:?}");
    assert!(summary.boots >= 4, "{summary:?}");
    // Every session is stored with its recorded times and energy, whichever hub got it.
    let mut got = Vec::new();
    for id in ["RP-51356", "RP-50230"] {
        for t in transactions(&app2, id).await {
            assert_eq!(t.state, "ENDED", "{id}");
            let start: f64 = t.meter_start_wh.as_deref().unwrap().parse().unwrap();
            let stop: f64 = t.meter_stop_wh.as_deref().unwrap().parse().unwrap();
            got.push((
                id.to_string(),
                t.started_at.unwrap().format("%H:%M").to_string(),
                t.stopped_at.unwrap().format("%H:%M").to_string(),
                (stop - start).round() as i64,
            ));
        }
    }
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                "RP-50230".to_string(),
                "11:00".to_string(),
                "13:00".to_string(),
                12340
            ),
            (
                "RP-51356".to_string(),
                "10:00".to_string(),
                "12:00".to_string(),
                20500
            ),
            (
                "RP-51356".to_string(),
                "10:30".to_string(),
                "11:30".to_string(),
                7250
            ),
        ]
    );
    drop(app);
}
