//! The credentials handshake in both directions against wiremock partners.

use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::{FakePartner, b64, body_json, spawn_app};

#[tokio::test]
async fn partner_registers_with_token_a_and_gets_token_c() {
    let app = spawn_app().await;
    let partner = FakePartner::start("partner-token-B").await;
    let (platform_id, token_a) = app.register_party("EMSP", "NL", "ABC").await;

    // Token A opens versions and details, and nothing else.
    let r = app.get("/ocpi/versions", &token_a).await;
    assert_eq!(r.status(), 200);
    let v = body_json(r).await;
    assert_eq!(v["data"][0]["version"], "2.2.1");
    let details_url = v["data"][0]["url"].as_str().unwrap().to_string();
    assert_eq!(details_url, app.url("/ocpi/2.2.1"));
    let v = body_json(app.get("/ocpi/2.2.1", &token_a).await).await;
    let ids: Vec<(&str, &str)> = v["data"]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["identifier"].as_str().unwrap(),
                e["role"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(ids.contains(&("credentials", "SENDER")));
    assert!(ids.contains(&("hubclientinfo", "SENDER")));
    assert_eq!(
        app.get("/ocpi/2.2.1/sender/hubclientinfo", &token_a)
            .await
            .status(),
        401
    );

    // PUT and DELETE before registration: 405.
    let creds = partner.credentials("EMSP", "NL", "ABC");
    let r = app
        .send_json(Method::PUT, "/ocpi/2.2.1/credentials", &token_a, &creds)
        .await;
    assert_eq!(r.status(), 405);
    assert_eq!(body_json(r).await["status_code"], 2000);
    let r = app
        .http
        .delete(app.url("/ocpi/2.2.1/credentials"))
        .header("Authorization", b64(&token_a))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);

    // POST with Token A: the hub calls back with token B, answers with token C.
    let r = app
        .send_json(Method::POST, "/ocpi/2.2.1/credentials", &token_a, &creds)
        .await;
    assert_eq!(r.status(), 201);
    let v = body_json(r).await;
    assert_eq!(v["status_code"], 1000);
    let token_c = v["data"]["token"].as_str().unwrap().to_string();
    assert_ne!(token_c, token_a);
    assert!(token_c.len() <= 64);
    assert_eq!(v["data"]["url"], app.url("/ocpi/versions"));
    assert_eq!(
        v["data"]["roles"],
        json!([{
            "role": "HUB", "party_id": "HUB", "country_code": "NL",
            "business_details": {"name": "ocpi-hub"}
        }])
    );
    let calls = partner.requests().await;
    let paths: Vec<&str> = calls.iter().map(|r| r.url.path()).collect();
    assert_eq!(paths, vec!["/ocpi/versions", "/ocpi/2.2.1"]);
    for c in &calls {
        assert_eq!(
            c.headers.get("authorization").unwrap(),
            &b64("partner-token-B")
        );
    }

    // Token A is dead everywhere; token C works.
    assert_eq!(app.get("/ocpi/versions", &token_a).await.status(), 401);
    assert_eq!(
        app.send_json(Method::POST, "/ocpi/2.2.1/credentials", &token_a, &creds)
            .await
            .status(),
        401
    );
    assert_eq!(app.get("/ocpi/versions", &token_c).await.status(), 200);
    let r = app.get("/ocpi/2.2.1/sender/hubclientinfo", &token_c).await;
    assert_eq!(r.status(), 200);
    let v = body_json(r).await;
    assert_eq!(v["data"][0]["party_id"], "ABC");
    assert_eq!(v["data"][0]["status"], "CONNECTED");
    assert_eq!(v["data"][0]["role"], "EMSP");

    // GET returns the hub's credentials with the caller's own token.
    let v = body_json(app.get("/ocpi/2.2.1/credentials", &token_c).await).await;
    assert_eq!(v["data"]["token"], token_c.as_str());

    // A second POST: 405.
    let r = app
        .send_json(Method::POST, "/ocpi/2.2.1/credentials", &token_c, &creds)
        .await;
    assert_eq!(r.status(), 405);

    // The party list shows it registered, with its roles, and stores no token in clear.
    let parties = app.parties().await;
    let p = parties
        .iter()
        .find(|p| p["id"] == platform_id.as_str())
        .unwrap();
    assert_eq!(p["state"], "REGISTERED");
    assert_eq!(p["version"], "2.2.1");
    assert_eq!(p["roles"][0]["party_id"], "ABC");
    assert!(!p.to_string().contains("partner-token-B"));
    let raw = app
        .state
        .db
        .read(ocpi_hub::db::platforms::list)
        .await
        .unwrap();
    let stored = raw.iter().find(|p| p.id == platform_id).unwrap();
    let sealed = stored.their_token.clone().unwrap();
    assert!(!sealed.contains("partner-token-B"));
    assert_eq!(app.state.keys.open(&sealed).unwrap(), "partner-token-B");
}

#[tokio::test]
async fn put_rotates_token_c_and_refetches_endpoints() {
    let app = spawn_app().await;
    let partner = FakePartner::start("token-B1").await;
    let token_c = app.register_partner(&partner, "CPO", "DE", "XYZ").await;

    // The partner rotates its own token to B2 and announces it with PUT.
    partner.mount_versions("token-B2").await;
    let mut creds = partner.credentials("CPO", "DE", "XYZ");
    creds["token"] = json!("token-B2");
    let before = partner.requests().await.len();
    let r = app
        .send_json(Method::PUT, "/ocpi/2.2.1/credentials", &token_c, &creds)
        .await;
    assert_eq!(r.status(), 200);
    let v = body_json(r).await;
    assert_eq!(v["status_code"], 1000);
    let token_c2 = v["data"]["token"].as_str().unwrap().to_string();
    assert_ne!(token_c2, token_c);
    let after = partner.requests().await;
    assert_eq!(
        after.len(),
        before + 2,
        "versions and details fetched again"
    );
    for c in &after[before..] {
        assert_eq!(c.headers.get("authorization").unwrap(), &b64("token-B2"));
    }
    // The old token is refused, the new one works.
    assert_eq!(app.get("/ocpi/versions", &token_c).await.status(), 401);
    assert_eq!(
        app.get("/ocpi/2.2.1/sender/hubclientinfo", &token_c2)
            .await
            .status(),
        200
    );

    // A PUT whose callback fails leaves the current token working.
    let mut bad = creds.clone();
    bad["token"] = json!("token-B3-unknown-to-partner");
    let v = body_json(
        app.send_json(Method::PUT, "/ocpi/2.2.1/credentials", &token_c2, &bad)
            .await,
    )
    .await;
    assert_eq!(v["status_code"], 3001);
    assert_eq!(app.get("/ocpi/versions", &token_c2).await.status(), 200);

    // DELETE unregisters: the token stops working at once; a second DELETE has no token left.
    let r = app
        .http
        .delete(app.url("/ocpi/2.2.1/credentials"))
        .header("Authorization", b64(&token_c2))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(body_json(r).await["status_code"], 1000);
    assert_eq!(app.get("/ocpi/versions", &token_c2).await.status(), 401);
    let parties = app.parties().await;
    assert_eq!(parties[0]["state"], "UNREGISTERED");
    assert_eq!(parties[0]["roles"], json!([]));
}

#[tokio::test]
async fn failing_partner_api_gives_3001_and_stores_nothing() {
    let app = spawn_app().await;
    let partner = FakePartner::start("good-token").await;
    let (_, token_a) = app.register_party("EMSP", "NL", "ABC").await;

    // The partner's versions endpoint fails for this token.
    let mut creds = partner.credentials("EMSP", "NL", "ABC");
    creds["token"] = json!("not-what-partner-expects");
    let r = app
        .send_json(Method::POST, "/ocpi/2.2.1/credentials", &token_a, &creds)
        .await;
    assert_eq!(r.status(), 200);
    let v = body_json(r).await;
    assert_eq!(v["status_code"], 3001);
    assert!(
        v["status_message"]
            .as_str()
            .unwrap()
            .contains("/ocpi/versions")
    );

    // Versions URL that does not exist at all.
    let mut creds2 = partner.credentials("EMSP", "NL", "ABC");
    creds2["url"] = json!("http://127.0.0.1:9/ocpi/versions");
    let v = body_json(
        app.send_json(Method::POST, "/ocpi/2.2.1/credentials", &token_a, &creds2)
            .await,
    )
    .await;
    assert_eq!(v["status_code"], 3001);

    // Nothing half-stored: still pending, no roles, no partner token, Token A still valid.
    let parties = app.parties().await;
    assert_eq!(parties[0]["state"], "PENDING");
    assert_eq!(parties[0]["roles"], json!([]));
    assert!(parties[0]["versions_url"].is_null());
    assert_eq!(app.get("/ocpi/versions", &token_a).await.status(), 200);

    // Once the partner's API works the same Token A registers.
    let good = partner.credentials("EMSP", "NL", "ABC");
    let r = app
        .send_json(Method::POST, "/ocpi/2.2.1/credentials", &token_a, &good)
        .await;
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn unsupported_version_and_missing_endpoints() {
    let app = spawn_app().await;
    let server = wiremock::MockServer::start().await;
    let uri = server.uri();
    // Only 2.1.1 offered.
    Mock::given(method("GET"))
        .and(path("/v-old"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(FakePartner::envelope(json!([
                {"version": "2.1.1", "url": format!("{uri}/2.1.1")}
            ]))),
        )
        .mount(&server)
        .await;
    // 2.2.1 offered, but without a credentials endpoint.
    Mock::given(method("GET"))
        .and(path("/v-new"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(FakePartner::envelope(json!([
                {"version": "2.2.1", "url": format!("{uri}/2.2.1")}
            ]))),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/2.2.1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(FakePartner::envelope(json!({
            "version": "2.2.1",
            "endpoints": [{"identifier": "locations", "role": "RECEIVER", "url": format!("{uri}/locations")}]
        }))))
        .mount(&server)
        .await;
    let (_, token_a) = app.register_party("EMSP", "NL", "ABC").await;
    let creds = |url: &str| json!({"token": "b", "url": url, "roles": [{"role": "EMSP", "country_code": "NL", "party_id": "ABC", "business_details": {"name": "x"}}]});
    let v = body_json(
        app.send_json(
            Method::POST,
            "/ocpi/2.2.1/credentials",
            &token_a,
            &creds(&format!("{uri}/v-old")),
        )
        .await,
    )
    .await;
    assert_eq!(v["status_code"], 3002);
    let v = body_json(
        app.send_json(
            Method::POST,
            "/ocpi/2.2.1/credentials",
            &token_a,
            &creds(&format!("{uri}/v-new")),
        )
        .await,
    )
    .await;
    assert_eq!(v["status_code"], 3003);
    assert_eq!(app.parties().await[0]["state"], "PENDING");
}

#[tokio::test]
async fn roles_must_match_the_token_and_not_clash() {
    let app = spawn_app().await;
    let partner = FakePartner::start("tok").await;
    let (_, token_a) = app.register_party("EMSP", "NL", "ABC").await;
    // Claims another party than Token A was issued for.
    let v = body_json(
        app.send_json(
            Method::POST,
            "/ocpi/2.2.1/credentials",
            &token_a,
            &partner.credentials("EMSP", "NL", "XYZ"),
        )
        .await,
    )
    .await;
    assert_eq!(v["status_code"], 2001);
    assert!(v["status_message"].as_str().unwrap().contains("NL/ABC"));
    // The same role twice.
    let mut dup = partner.credentials("EMSP", "NL", "ABC");
    let role = dup["roles"][0].clone();
    dup["roles"].as_array_mut().unwrap().push(role);
    let v = body_json(
        app.send_json(Method::POST, "/ocpi/2.2.1/credentials", &token_a, &dup)
            .await,
    )
    .await;
    assert_eq!(v["status_code"], 2001);
    assert!(v["status_message"].as_str().unwrap().contains("roles"));

    // A second platform may not take a role a registered platform holds.
    app.register_partner(&partner, "CPO", "BE", "CCC").await;
    let other = FakePartner::start("tok2").await;
    let (_, token_a2) = app.register_party("CPO", "BE", "CCC").await;
    let v = body_json(
        app.send_json(
            Method::POST,
            "/ocpi/2.2.1/credentials",
            &token_a2,
            &other.credentials("CPO", "BE", "CCC"),
        )
        .await,
    )
    .await;
    assert_eq!(v["status_code"], 2001);
    assert!(
        v["status_message"]
            .as_str()
            .unwrap()
            .contains("already registered")
    );
}

#[tokio::test]
async fn hub_registers_with_a_partner() {
    let app = spawn_app().await;
    let partner = FakePartner::start("their-token-A").await;
    let uri = partner.server.uri();
    Mock::given(method("POST"))
        .and(path("/ocpi/2.2.1/credentials"))
        .and(header("Authorization", b64("their-token-A").as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(FakePartner::envelope(json!({
                "token": "their-token-C",
                "url": format!("{uri}/ocpi/versions"),
                "roles": [{"role": "CPO", "country_code": "DE", "party_id": "EXA",
                            "business_details": {"name": "Example Operator"}}]
            }))),
        )
        .mount(&partner.server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/ocpi/2.2.1/credentials"))
        .and(header("Authorization", b64("their-token-C").as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"status_code": 1000, "timestamp": "2026-01-01T00:00:00Z"})),
        )
        .mount(&partner.server)
        .await;

    let r = app
        .admin_post(
            "/admin/parties/connect",
            &json!({"versions_url": partner.versions_url(), "token": "their-token-A"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let v = body_json(r).await;
    assert_eq!(v["data"]["state"], "REGISTERED");
    assert_eq!(v["data"]["initiated_by"], "HUB");
    assert_eq!(v["data"]["roles"][0]["party_id"], "EXA");
    let id = v["data"]["id"].as_str().unwrap().to_string();

    // The POST carried Token A and the hub's credentials, whose token now opens the hub. The
    // whole handshake shares one correlation id.
    let calls = partner.requests().await;
    let cid = calls[0].headers["x-correlation-id"].clone();
    assert!(calls.iter().all(|c| c.headers["x-correlation-id"] == cid));
    let rids: std::collections::HashSet<_> = calls
        .iter()
        .map(|c| c.headers["x-request-id"].clone())
        .collect();
    assert_eq!(rids.len(), calls.len(), "a new request id per call");
    let post = calls.iter().find(|r| r.method.as_str() == "POST").unwrap();
    let sent: Value = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(sent["url"], app.url("/ocpi/versions"));
    assert_eq!(sent["roles"][0]["role"], "HUB");
    let ours = sent["token"].as_str().unwrap();
    assert_eq!(
        app.get("/ocpi/2.2.1/sender/hubclientinfo", ours)
            .await
            .status(),
        200
    );
    let stored = app
        .state
        .db
        .read(ocpi_hub::db::platforms::list)
        .await
        .unwrap();
    assert_eq!(
        app.state
            .keys
            .open(stored[0].their_token.as_ref().unwrap())
            .unwrap(),
        "their-token-C"
    );

    // Unregistering from the hub's side tells the partner with its token C.
    let r = app
        .http
        .delete(app.url(&format!("/admin/parties/{id}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(body_json(r).await["data"]["state"], "UNREGISTERED");
    let calls = partner.requests().await;
    assert!(calls.iter().any(|r| r.method.as_str() == "DELETE"));
    assert_eq!(app.get("/ocpi/versions", ours).await.status(), 401);
}

#[tokio::test]
async fn failed_connect_leaves_nothing_behind() {
    let app = spawn_app().await;
    let partner = FakePartner::start("their-token-A").await;
    Mock::given(method("POST"))
        .and(path("/ocpi/2.2.1/credentials"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&partner.server)
        .await;
    let r = app
        .admin_post(
            "/admin/parties/connect",
            &json!({"versions_url": partner.versions_url(), "token": "their-token-A"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v = body_json(r).await;
    assert_eq!(v["status_code"], 3001);
    assert!(v["status_message"].as_str().unwrap().contains("HTTP 500"));
    assert_eq!(app.parties().await, Vec::<Value>::new());
    // And a token it does not know is refused by the partner: 3001 too, nothing stored.
    let r = app
        .admin_post(
            "/admin/parties/connect",
            &json!({"versions_url": partner.versions_url(), "token": "wrong"}),
        )
        .await;
    assert_eq!(body_json(r).await["status_code"], 3001);
    assert_eq!(app.parties().await, Vec::<Value>::new());
}

#[tokio::test]
async fn two_simultaneous_registrations_with_one_token_a_make_one_partner() {
    let app = spawn_app().await;
    let partner = FakePartner::start("tok-b").await;
    let (_, token_a) = app.register_party("EMSP", "NL", "ABC").await;
    let creds = partner.credentials("EMSP", "NL", "ABC");
    let (r1, r2) = tokio::join!(
        app.send_json(Method::POST, "/ocpi/2.2.1/credentials", &token_a, &creds),
        app.send_json(Method::POST, "/ocpi/2.2.1/credentials", &token_a, &creds)
    );
    let mut statuses = vec![r1.status().as_u16(), r2.status().as_u16()];
    statuses.sort();
    assert!(
        statuses == vec![201, 401] || statuses == vec![201, 405],
        "{statuses:?}"
    );
    let winner = if r1.status() == 201 { r1 } else { r2 };
    let token_c = body_json(winner).await["data"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.get("/ocpi/2.2.1/sender/hubclientinfo", &token_c)
            .await
            .status(),
        200
    );
    let parties = app.parties().await;
    assert_eq!(parties.len(), 1);
    assert_eq!(parties[0]["roles"].as_array().unwrap().len(), 1);
}
