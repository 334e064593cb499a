//! Tokens module: eMSP pushes, CPO pulls and asks, and charge points authorised from tokens and
//! by real-time authorisation at the owning eMSP (wiremock).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

use crate::ocpp::{PASSWORD, add_charger, ask, open, transactions};
use crate::support::{FakePartner, TestApp, body_json, spawn_app_with};

const RECV: &str = "/ocpi/2.2.1/receiver/tokens";

fn token(uid: &str, whitelist: &str, valid: bool) -> Value {
    json!({
        "country_code": "DE", "party_id": "EMS", "uid": uid, "type": "RFID",
        "contract_id": format!("DE-EMS-{uid}"), "issuer": "EMS Mobility", "group_id": "FAMILY-1",
        "valid": valid, "whitelist": whitelist, "last_updated": "2026-01-01T00:00:00Z"
    })
}

fn envelope(data: Value) -> Value {
    json!({"status_code": 1000, "timestamp": "2026-01-01T00:00:00Z", "data": data})
}

/// A hub with the eMSP DE/EMS (real-time authorisation answers mounted) and the CPO NL/CPO.
async fn hub() -> (TestApp, String, FakePartner, String, FakePartner) {
    let app = spawn_app_with(|s| {
        s.authorize_timeout_ms = 400;
        s.outbox_backoff_base_ms = 20;
        s.outbox_poll_ms = 50;
    })
    .await;
    let emsp = FakePartner::start("emsp-token").await;
    let answer = |uid: &str, allowed: &str, reference: Option<&str>| {
        let mut info = json!({"allowed": allowed, "token": token(uid, "NEVER", true)});
        if let Some(r) = reference {
            info["authorization_reference"] = json!(r);
        }
        ResponseTemplate::new(200).set_body_json(envelope(info))
    };
    let base = "/ocpi/emsp/2.2.1/tokens";
    for (uid, reply) in [
        ("NEVER-OK", answer("NEVER-OK", "ALLOWED", Some("REF-1"))),
        ("NEVER-BLOCK", answer("NEVER-BLOCK", "BLOCKED", None)),
        (
            "NEVER-SLOW",
            answer("NEVER-SLOW", "ALLOWED", None).set_delay(Duration::from_secs(3)),
        ),
        (
            "OFFLINE-SLOW",
            answer("OFFLINE-SLOW", "ALLOWED", None).set_delay(Duration::from_secs(3)),
        ),
    ] {
        Mock::given(method("POST"))
            .and(path(format!("{base}/{uid}/authorize")))
            .respond_with(reply)
            .mount(&emsp.server)
            .await;
    }
    let emsp_c = app.register_partner(&emsp, "EMSP", "DE", "EMS").await;
    let cpo = FakePartner::start("cpo-token").await;
    Mock::given(path_regex("^/ocpi/cpo/2.2.1/tokens/.*"))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(Value::Null)))
        .mount(&cpo.server)
        .await;
    let cpo_c = app.register_partner(&cpo, "CPO", "NL", "CPO").await;
    (app, emsp_c, emsp, cpo_c, cpo)
}

async fn put_token(app: &TestApp, emsp_c: &str, t: &Value) -> reqwest::Response {
    let uid = t["uid"].as_str().unwrap();
    app.send_json(
        Method::PUT,
        &format!("{RECV}/DE/EMS/{uid}?type=RFID"),
        emsp_c,
        t,
    )
    .await
}

#[tokio::test]
async fn emsps_push_tokens_and_cpos_pull_them() {
    let (app, emsp_c, _emsp, cpo_c, cpo) = hub().await;
    let t = token("04A1B2C3", "ALLOWED", true);
    assert_eq!(put_token(&app, &emsp_c, &t).await.status(), 201);
    assert_eq!(put_token(&app, &emsp_c, &t).await.status(), 200);
    // uid is case-insensitive; type defaults to RFID.
    let v = body_json(app.get(&format!("{RECV}/DE/EMS/04a1b2c3"), &emsp_c).await).await;
    assert_eq!(v["data"], t);
    let r = app
        .get(&format!("{RECV}/DE/EMS/04A1B2C3?type=APP_USER"), &emsp_c)
        .await;
    assert_eq!(r.status(), 404);
    let r = app
        .get(&format!("{RECV}/DE/EMS/04A1B2C3?type=CARD"), &emsp_c)
        .await;
    assert_eq!(body_json(r).await["status_code"], 2001);

    // PATCH: valid=false is how a token ends; last_updated is required; unknown → 404.
    let patch = json!({"valid": false, "last_updated": "2026-02-01T00:00:00Z"});
    let v = body_json(
        app.send_json(
            Method::PATCH,
            &format!("{RECV}/DE/EMS/04A1B2C3"),
            &emsp_c,
            &patch,
        )
        .await,
    )
    .await;
    assert_eq!(v["status_code"], 1000, "{v}");
    let v = body_json(app.get(&format!("{RECV}/DE/EMS/04A1B2C3"), &emsp_c).await).await;
    assert_eq!(v["data"]["valid"], false);
    assert_eq!(v["data"]["contract_id"], "DE-EMS-04A1B2C3");
    assert_eq!(v["data"]["last_updated"], "2026-02-01T00:00:00Z");
    let v = body_json(
        app.send_json(
            Method::PATCH,
            &format!("{RECV}/DE/EMS/04A1B2C3"),
            &emsp_c,
            &json!({"valid": true}),
        )
        .await,
    )
    .await;
    assert_eq!(v["status_code"], 2001);
    let r = app
        .send_json(
            Method::PATCH,
            &format!("{RECV}/DE/EMS/NOPE"),
            &emsp_c,
            &patch,
        )
        .await;
    assert_eq!(r.status(), 404);
    let v = body_json(
        app.send_json(
            Method::PATCH,
            &format!("{RECV}/DE/EMS/04A1B2C3"),
            &emsp_c,
            &json!({"whitelist": "SOMETIMES", "last_updated": "2026-02-02T00:00:00Z"}),
        )
        .await,
    )
    .await;
    assert_eq!(v["status_code"], 2001);
    assert!(
        v["status_message"].as_str().unwrap().contains("whitelist"),
        "{v}"
    );

    // Refusals: body vs URL, a party that is not the caller's, a bad field, DELETE.
    let v = body_json(
        app.send_json(Method::PUT, &format!("{RECV}/DE/EMS/OTHER"), &emsp_c, &t)
            .await,
    )
    .await;
    assert_eq!(v["status_code"], 2001);
    let r = app
        .send_json(Method::PUT, &format!("{RECV}/NL/XXX/04A1B2C3"), &emsp_c, &t)
        .await;
    assert_eq!(r.status(), 404);
    let mut bad = t.clone();
    bad["issuer"] = json!("x".repeat(65));
    let v = body_json(put_token(&app, &emsp_c, &bad).await).await;
    assert!(
        v["status_message"].as_str().unwrap().contains("issuer"),
        "{v}"
    );
    let r = app
        .http
        .delete(app.url(&format!("{RECV}/DE/EMS/04A1B2C3")))
        .header("Authorization", crate::support::b64(&emsp_c))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    // The stored token survived every refusal.
    let v = body_json(app.get(&format!("{RECV}/DE/EMS/04A1B2C3"), &emsp_c).await).await;
    assert_eq!(v["data"]["issuer"], "EMS Mobility");

    // The CPO pulls them…
    let r = app.get("/ocpi/2.2.1/sender/tokens", &cpo_c).await;
    assert_eq!(r.headers()["x-total-count"], "1");
    let v = body_json(r).await;
    assert_eq!(v["data"][0]["uid"], "04A1B2C3");
    assert_eq!(v["data"][0]["valid"], false);
    // …and got each version pushed, in order, the last one invalid.
    crate::locations::drained(&app).await;
    let puts: Vec<Value> = cpo
        .requests()
        .await
        .into_iter()
        .filter(|r| {
            r.method.as_str() == "PUT"
                && r.url
                    .path()
                    .starts_with("/ocpi/cpo/2.2.1/tokens/DE/EMS/04A1B2C3")
        })
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(puts.len(), 3, "{puts:?}");
    assert_eq!(puts[2]["valid"], false);
}

#[tokio::test]
async fn charge_points_are_authorised_from_tokens_and_by_the_emsp() {
    let (app, emsp_c, emsp, _cpo_c, _cpo) = hub().await;
    for (uid, whitelist, valid) in [
        ("ALWAYS-1", "ALWAYS", true),
        ("ALWAYS-OFF", "ALWAYS", false),
        ("NEVER-OK", "NEVER", true),
        ("NEVER-BLOCK", "NEVER", true),
        ("NEVER-SLOW", "NEVER", true),
        ("OFFLINE-SLOW", "ALLOWED_OFFLINE", true),
    ] {
        let r = put_token(&app, &emsp_c, &token(uid, whitelist, valid)).await;
        assert_eq!(r.status(), 201);
    }
    add_charger(&app, "AU16", None).await;
    let (mut ws, _) = open(&app, "AU16", "ocpp1.6", Some(PASSWORD)).await.unwrap();
    for (i, (uid, want)) in [
        ("ALWAYS-1", "Accepted"),
        ("always-1", "Accepted"),
        ("ALWAYS-OFF", "Blocked"),
        ("NEVER-OK", "Accepted"),
        ("NEVER-BLOCK", "Blocked"),
        ("NEVER-SLOW", "Invalid"),
        ("OFFLINE-SLOW", "Accepted"),
        ("UNKNOWN-9", "Invalid"),
    ]
    .into_iter()
    .enumerate()
    {
        let r = ask(
            &mut ws,
            &json!([2, format!("a{i}"), "Authorize", {"idTag": uid}]).to_string(),
        )
        .await;
        assert_eq!(r[2]["idTagInfo"]["status"], want, "{uid}: {r}");
        if want == "Accepted" {
            assert_eq!(r[2]["idTagInfo"]["parentIdTag"], "FAMILY-1");
        }
    }
    // The transaction carries the eMSP's authorization reference; the decision made at
    // Authorize is reused (the eMSP was asked once).
    let r = ask(
        &mut ws,
        &json!([2, "s1", "StartTransaction", {"connectorId": 1, "idTag": "NEVER-OK", "meterStart": 0, "timestamp": "2026-03-01T10:00:00Z"}]).to_string(),
    )
    .await;
    assert_eq!(r[2]["idTagInfo"]["status"], "Accepted", "{r}");
    let r = ask(
        &mut ws,
        &json!([2, "s2", "StartTransaction", {"connectorId": 2, "idTag": "NOBODY", "meterStart": 0, "timestamp": "2026-03-01T10:00:00Z"}]).to_string(),
    )
    .await;
    assert_eq!(r[2]["idTagInfo"]["status"], "Invalid", "{r}");
    let mut txs = transactions(&app, "AU16").await;
    txs.sort_by_key(|t| t.connector_id);
    assert_eq!(txs[0].authorization_reference.as_deref(), Some("REF-1"));
    assert_eq!(txs[0].auth_method.as_deref(), Some("AUTH_REQUEST"));
    assert_eq!(txs[0].token_key.as_deref(), Some("DE*EMS*NEVER-OK*RFID"));
    assert_eq!(txs[1].token_key, None);
    let asked = |uid: &'static str| {
        let emsp = &emsp;
        async move {
            emsp.requests()
                .await
                .into_iter()
                .filter(|r| r.url.path() == format!("/ocpi/emsp/2.2.1/tokens/{uid}/authorize"))
                .collect::<Vec<_>>()
        }
    };
    let calls = asked("NEVER-OK").await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].url.query(), Some("type=RFID"));
    assert_eq!(calls[0].headers["ocpi-to-party-id"], "EMS");
    assert!(asked("ALWAYS-1").await.is_empty(), "ALWAYS is never asked");

    // 2.0.1: Unknown and the 2.0.1 status names; TransactionEvent records the decision.
    add_charger(&app, "AU201", None).await;
    let (mut ws, _) = open(&app, "AU201", "ocpp2.0.1", Some(PASSWORD))
        .await
        .unwrap();
    let r = ask(
        &mut ws,
        &json!([2, "b1", "Authorize", {"idToken": {"idToken": "UNKNOWN-9", "type": "ISO14443"}}])
            .to_string(),
    )
    .await;
    assert_eq!(r[2]["idTokenInfo"]["status"], "Unknown");
    let r = ask(
        &mut ws,
        &json!([2, "b2", "TransactionEvent", {"eventType": "Started", "timestamp": "2026-03-01T10:00:00Z", "triggerReason": "Authorized", "seqNo": 0,
            "transactionInfo": {"transactionId": "TX-AU"}, "idToken": {"idToken": "NEVER-OK", "type": "ISO14443"}, "evse": {"id": 1, "connectorId": 1}}]).to_string(),
    )
    .await;
    assert_eq!(r[2]["idTokenInfo"]["status"], "Accepted", "{r}");
    assert_eq!(r[2]["idTokenInfo"]["groupIdToken"]["idToken"], "FAMILY-1");
    let txs = transactions(&app, "AU201").await;
    assert_eq!(txs[0].authorization_reference.as_deref(), Some("REF-1"));
    assert_eq!(
        asked("NEVER-OK").await.len(),
        2,
        "another charge point asks again"
    );
}

#[tokio::test]
async fn cpo_partners_ask_the_hub_to_authorize() {
    let (app, emsp_c, _emsp, cpo_c, _cpo) = hub().await;
    for (uid, whitelist) in [
        ("ALWAYS-1", "ALWAYS"),
        ("NEVER-OK", "NEVER"),
        ("NEVER-SLOW", "NEVER"),
    ] {
        put_token(&app, &emsp_c, &token(uid, whitelist, true)).await;
    }
    let post = |uid: &str, body: Option<Value>| {
        let app = &app;
        let cpo_c = cpo_c.clone();
        let url = app.url(&format!("/ocpi/2.2.1/sender/tokens/{uid}/authorize"));
        async move {
            let mut req = app
                .http
                .post(url)
                .header("Authorization", crate::support::b64(&cpo_c));
            if let Some(b) = body {
                req = req.json(&b);
            }
            req.send().await.unwrap()
        }
    };
    let v = body_json(post("ALWAYS-1", None).await).await;
    assert_eq!(v["data"]["allowed"], "ALLOWED", "{v}");
    assert_eq!(v["data"]["token"]["uid"], "ALWAYS-1");
    let loc = json!({"location_id": "LOC1", "evse_uids": ["E1"]});
    let v = body_json(post("NEVER-OK", Some(loc)).await).await;
    assert_eq!(v["data"]["authorization_reference"], "REF-1", "{v}");
    let r = post("NOBODY", None).await;
    assert_eq!(r.status(), 404);
    assert_eq!(body_json(r).await["status_code"], 2004);
    let v = body_json(post("NEVER-SLOW", None).await).await;
    assert_eq!(v["status_code"], 4002, "{v}");
    let v = body_json(post("ALWAYS-1", Some(json!({"evse_uids": []}))).await).await;
    assert_eq!(v["status_code"], 2001, "{v}");
}
