//! The OCPI transport layer: status code paths, token forms, ids, bad input, pagination.

use diesel::RunQueryDsl;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{FakePartner, b64, body_json, spawn_app, spawn_app_with};

fn assert_envelope(v: &Value, code: u64) {
    assert_eq!(v["status_code"], code, "{v}");
    let ts = v["timestamp"].as_str().unwrap();
    assert!(ts.ends_with('Z'), "{ts}");
    assert!(ts.len() <= 25, "{ts}");
}

#[tokio::test]
async fn status_code_paths_all_answer_with_the_envelope() {
    let app = spawn_app().await;
    let (_, token_a) = app.register_party("EMSP", "NL", "ABC").await;

    // No token, wrong scheme, unknown token: 401.
    let r = app
        .http
        .get(app.url("/ocpi/versions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_envelope(&body_json(r).await, 2000);
    let r = app
        .http
        .get(app.url("/ocpi/versions"))
        .header("Authorization", "Bearer x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .get("/ocpi/versions", "some-token-we-never-issued")
        .await;
    assert_eq!(r.status(), 401);

    // Unknown route: 404 in the envelope. Known path, wrong method: 405.
    let r = app.get("/ocpi/2.2.1/nothing-here", &token_a).await;
    assert_eq!(r.status(), 404);
    assert_envelope(&body_json(r).await, 2000);
    let r = app
        .send_json(
            Method::PATCH,
            "/ocpi/2.2.1/credentials",
            &token_a,
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), 405);
    assert_envelope(&body_json(r).await, 2000);

    // Malformed JSON: 400. Valid JSON with wrong types, overlong fields or unknown enums: 2001
    // naming the field.
    let r = app
        .http
        .post(app.url("/ocpi/2.2.1/credentials"))
        .header("Authorization", b64(&token_a))
        .header("Content-Type", "application/json")
        .body("{\"token\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_envelope(&body_json(r).await, 2001);

    let valid = json!({"token": "t", "url": "https://partner.example/versions",
        "roles": [{"role": "EMSP", "country_code": "NL", "party_id": "ABC", "business_details": {"name": "n"}}]});
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"token": 12, "url": valid["url"], "roles": valid["roles"]}),
            "`token`",
        ),
        (
            json!({"token": "x".repeat(65), "url": valid["url"], "roles": valid["roles"]}),
            "`token`",
        ),
        (
            json!({"token": "has space", "url": valid["url"], "roles": valid["roles"]}),
            "`token`",
        ),
        (
            json!({"token": "t", "url": "not a url", "roles": valid["roles"]}),
            "`url`",
        ),
        (
            json!({"token": "t", "url": valid["url"], "roles": []}),
            "`roles`",
        ),
        (json!({"token": "t", "url": valid["url"]}), "roles"),
        (
            json!({"token": "t", "url": valid["url"], "roles": [{"role": "DRIVER", "country_code": "NL", "party_id": "ABC", "business_details": {"name": "n"}}]}),
            "`roles[0].role`",
        ),
        (
            json!({"token": "t", "url": valid["url"], "roles": [{"role": "EMSP", "country_code": "NLD", "party_id": "ABC", "business_details": {"name": "n"}}]}),
            "`roles[0].country_code`",
        ),
        (
            json!({"token": "t", "url": valid["url"], "roles": [{"role": "EMSP", "country_code": "NL", "party_id": "ABCD", "business_details": {"name": "n"}}]}),
            "`roles[0].party_id`",
        ),
        (
            json!({"token": "t", "url": valid["url"], "roles": [{"role": "EMSP", "country_code": "NL", "party_id": "ABC", "business_details": {"name": "n".repeat(101)}}]}),
            "`roles[0].business_details.name`",
        ),
        (
            json!({"token": "t", "url": valid["url"], "roles": [{"role": "EMSP", "country_code": "NL", "party_id": "ABC", "business_details": {"name": "n", "logo": {"url": "https://x.example/l.png", "category": "SELFIE", "type": "png"}}}]}),
            "`roles[0].business_details.logo.category`",
        ),
    ];
    for (body, field) in cases {
        let r = app
            .send_json(Method::POST, "/ocpi/2.2.1/credentials", &token_a, &body)
            .await;
        assert_eq!(r.status(), 200, "{body}");
        let v = body_json(r).await;
        assert_envelope(&v, 2001);
        let msg = v["status_message"].as_str().unwrap();
        assert!(msg.contains(field), "{field} not in {msg}");
    }
    // Nothing was stored by any of them: the party is still pending, Token A still works.
    assert_eq!(app.parties().await[0]["state"], "PENDING");
    assert_eq!(app.get("/ocpi/versions", &token_a).await.status(), 200);
}

#[tokio::test]
async fn body_over_the_limit_is_refused_and_the_server_keeps_serving() {
    let app = spawn_app_with(|s| s.max_body_bytes = 2048).await;
    let (_, token_a) = app.register_party("EMSP", "NL", "ABC").await;
    let big = json!({"token": "t", "url": "https://p.example/v", "roles": [], "padding": "x".repeat(4096)});
    let r = app
        .send_json(Method::POST, "/ocpi/2.2.1/credentials", &token_a, &big)
        .await;
    assert_eq!(r.status(), 413);
    assert_envelope(&body_json(r).await, 2000);
    // A chunked body without Content-Length is cut off too.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let chunk = " ".repeat(3000);
    let req = format!(
        "POST /ocpi/2.2.1/credentials HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{}\r\n0\r\n\r\n",
        b64(&token_a),
        chunk.len(),
        chunk
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    sock.read_to_string(&mut resp).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    assert_eq!(app.get("/ocpi/versions", &token_a).await.status(), 200);
}

#[tokio::test]
async fn request_and_correlation_ids_are_echoed_or_generated() {
    let app = spawn_app().await;
    let (_, token_a) = app.register_party("EMSP", "NL", "ABC").await;
    let r = app
        .http
        .get(app.url("/ocpi/versions"))
        .header("Authorization", b64(&token_a))
        .header("X-Request-ID", "req-123")
        .header("X-Correlation-ID", "corr-456")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-123");
    assert_eq!(r.headers()["x-correlation-id"], "corr-456");
    // Errors carry them too, and absent ids are generated (UUIDs, distinct).
    let r = app
        .http
        .get(app.url("/ocpi/versions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let rid = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let cid = r.headers()["x-correlation-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(uuid::Uuid::parse_str(&rid).is_ok() && uuid::Uuid::parse_str(&cid).is_ok());
    assert_ne!(rid, cid);
    let r = app
        .http
        .get(app.url("/nowhere"))
        .header("X-Request-ID", "r-404")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-request-id"], "r-404");
}

#[tokio::test]
async fn both_token_encodings_are_accepted_and_remembered() {
    let app = spawn_app().await;
    let partner = FakePartner::start("pb").await;
    let token_c = app.register_partner(&partner, "EMSP", "NL", "ABC").await;
    assert_eq!(app.parties().await[0]["token_base64"], true);
    // The raw (2.1.1-style) form works and is remembered...
    let r = app
        .http
        .get(app.url("/ocpi/versions"))
        .header("Authorization", format!("Token {token_c}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.parties().await[0]["token_base64"], false);
    // ...and so is the switch back.
    assert_eq!(app.get("/ocpi/versions", &token_c).await.status(), 200);
    assert_eq!(app.parties().await[0]["token_base64"], true);
}

#[tokio::test]
async fn a_token_with_one_character_changed_is_refused() {
    let app = spawn_app().await;
    let partner = FakePartner::start("pb").await;
    let token_c = app.register_partner(&partner, "EMSP", "NL", "ABC").await;
    for i in [0, token_c.len() / 2, token_c.len() - 1] {
        let mut b = token_c.clone().into_bytes();
        b[i] = if b[i] == b'x' { b'y' } else { b'x' };
        let forged = String::from_utf8(b).unwrap();
        assert_eq!(
            app.get("/ocpi/versions", &forged).await.status(),
            401,
            "position {i}"
        );
        let r = app
            .http
            .get(app.url("/ocpi/versions"))
            .header("Authorization", format!("Token {forged}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    // A token another hub (another key) issued, in the right shape, is refused too.
    let s = ocpi_hub::keys::MasterSecret::generate();
    let other =
        ocpi_hub::keys::KeyRing::new(vec![ocpi_hub::keys::HubKey::new("x".into(), &s).unwrap()])
            .unwrap();
    assert_eq!(
        app.get("/ocpi/versions", &other.issue_token())
            .await
            .status(),
        401
    );
    assert_eq!(app.get("/ocpi/versions", &token_c).await.status(), 200);
}

/// Insert `n` roles with spread-out `last_updated` for one registered platform.
async fn seed_roles(app: &crate::support::TestApp, platform_id: &str, n: usize) {
    use ocpi_hub::db::schema::platform_roles;
    let pid = platform_id.to_string();
    app.state
        .db
        .write(move |c| {
            let base = chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap();
            let rows: Vec<_> = (0..n)
                .map(|i| {
                    use diesel::ExpressionMethods;
                    (
                        platform_roles::id.eq(format!("seed-{i:05}")),
                        platform_roles::platform_id.eq(pid.clone()),
                        platform_roles::role.eq("CPO"),
                        platform_roles::country_code.eq("DE"),
                        platform_roles::party_id.eq(format!("{:03}", i % 1000)),
                        platform_roles::business_details.eq("{\"name\":\"seed\"}"),
                        platform_roles::active.eq(false),
                        // Several rows share each timestamp: the id breaks the ties.
                        platform_roles::last_updated
                            .eq(base + chrono::Duration::minutes((i / 3) as i64)),
                    )
                })
                .collect();
            for row in rows {
                diesel::insert_into(platform_roles::table)
                    .values(row)
                    .execute(c)?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn pagination_over_thousands_of_objects() {
    let app = spawn_app_with(|s| s.max_page_limit = 500).await;
    let partner = FakePartner::start("pb").await;
    let token_c = app.register_partner(&partner, "EMSP", "NL", "ABC").await;
    let platform_id = app.parties().await[0]["id"].as_str().unwrap().to_string();
    seed_roles(&app, &platform_id, 3000).await;
    let total = 3001; // the seeded roles and the partner's own

    // Crawl with limit=250 by following Link, collecting every object once.
    let mut next = Some(app.url("/ocpi/2.2.1/sender/hubclientinfo?limit=250"));
    let mut seen = Vec::new();
    let mut pages = 0;
    while let Some(url) = next {
        let r = app
            .http
            .get(&url)
            .header("Authorization", b64(&token_c))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-total-count"], total.to_string().as_str());
        assert_eq!(r.headers()["x-limit"], "500");
        next = r.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            assert!(l.ends_with(">; rel=\"next\""), "{l}");
            assert!(l.contains("limit=250"), "{l}");
            l[1..l.find('>').unwrap()].to_string()
        });
        let v = body_json(r).await;
        let items = v["data"].as_array().unwrap();
        assert!(items.len() <= 250);
        seen.extend(items.iter().map(|i| {
            (
                i["last_updated"].as_str().unwrap().to_string(),
                i["party_id"].as_str().unwrap().to_string(),
                i["status"].as_str().unwrap().to_string(),
            )
        }));
        pages += 1;
    }
    assert_eq!(pages, 13);
    assert_eq!(seen.len(), total);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        sorted.iter().map(|s| &s.0).collect::<Vec<_>>(),
        seen.iter().map(|s| &s.0).collect::<Vec<_>>(),
        "oldest first"
    );
    assert_eq!(seen.iter().filter(|s| s.2 == "SUSPENDED").count(), 3000);

    // Plain offsets (no cursor) give the same pages as the Link crawl.
    let v = body_json(
        app.get(
            "/ocpi/2.2.1/sender/hubclientinfo?offset=2990&limit=5",
            &token_c,
        )
        .await,
    )
    .await;
    let got: Vec<String> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["last_updated"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        got,
        seen[2990..2995]
            .iter()
            .map(|s| s.0.clone())
            .collect::<Vec<_>>()
    );

    // A limit above the cap is capped, X-Limit says so.
    let r = app
        .get("/ocpi/2.2.1/sender/hubclientinfo?limit=5000", &token_c)
        .await;
    assert_eq!(r.headers()["x-limit"], "500");
    assert_eq!(body_json(r).await["data"].as_array().unwrap().len(), 500);

    // date_from inclusive, date_to exclusive; the Link repeats both filters.
    // Seeded minute m holds rows 3m..3m+2: [00:10, 00:20) holds 30 rows.
    let q = "/ocpi/2.2.1/sender/hubclientinfo?date_from=2024-01-01T00:10:00Z&date_to=2024-01-01T00:20:00&limit=7";
    let r = app.get(q, &token_c).await;
    assert_eq!(r.headers()["x-total-count"], "30");
    let link = r.headers()["link"].to_str().unwrap().to_string();
    assert!(
        link.contains("date_from=2024-01-01T00%3A10%3A00Z"),
        "{link}"
    );
    assert!(link.contains("date_to=2024-01-01T00%3A20%3A00"), "{link}");
    assert!(link.contains("offset=7"), "{link}");
    let v = body_json(r).await;
    assert_eq!(v["data"][0]["last_updated"], "2024-01-01T00:10:00Z");

    // Bad parameters: 2001.
    for bad in ["offset=-3", "limit=ten", "date_from=last-week"] {
        let v = body_json(
            app.get(&format!("/ocpi/2.2.1/sender/hubclientinfo?{bad}"), &token_c)
                .await,
        )
        .await;
        assert_eq!(v["status_code"], 2001, "{bad}");
    }
}

#[tokio::test]
async fn routing_headers_are_checked_against_the_callers_roles_and_mirrored() {
    use actix_web::{App, HttpResponse, test as atest, web};
    use ocpi_hub::http::auth::RoutedCaller;
    let app = spawn_app().await;
    let partner = FakePartner::start("pb").await;
    let token_c = app.register_partner(&partner, "CPO", "DE", "ABC").await;
    // A functional-module route of a later issue, served by the real extractor and middleware.
    async fn probe(c: RoutedCaller) -> HttpResponse {
        HttpResponse::Ok()
            .json(json!({"from": format!("{}/{}", c.from.country_code, c.from.party_id)}))
    }
    let svc = atest::init_service(
        App::new()
            .app_data(app.state.clone())
            .wrap(actix_web::middleware::from_fn(
                ocpi_hub::http::ids::middleware,
            ))
            .route("/ocpi/2.2.1/receiver/probe", web::get().to(probe)),
    )
    .await;
    let call = |headers: Vec<(&'static str, &'static str)>| {
        let mut r = atest::TestRequest::get()
            .uri("/ocpi/2.2.1/receiver/probe")
            .insert_header(("Authorization", b64(&token_c)));
        for h in headers {
            r = r.insert_header(h);
        }
        r.to_request()
    };
    let res = atest::call_service(
        &svc,
        call(vec![
            ("OCPI-from-country-code", "de"),
            ("OCPI-from-party-id", "abc"),
            ("OCPI-to-country-code", "NL"),
            ("OCPI-to-party-id", "HUB"),
        ]),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("ocpi-to-country-code").unwrap(), "DE");
    assert_eq!(res.headers().get("ocpi-to-party-id").unwrap(), "ABC");
    assert_eq!(res.headers().get("ocpi-from-party-id").unwrap(), "HUB");
    let v: Value = atest::read_body_json(res).await;
    assert_eq!(v["from"], "DE/ABC");
    // Absent headers: the caller's only role.
    let res = atest::call_service(&svc, call(vec![])).await;
    assert_eq!(res.status(), 200);
    // A party that is not the caller's: 2001.
    let res = atest::call_service(
        &svc,
        call(vec![
            ("OCPI-from-country-code", "NL"),
            ("OCPI-from-party-id", "XYZ"),
        ]),
    )
    .await;
    let v: Value = atest::read_body_json(res).await;
    assert_eq!(v["status_code"], 2001);
    assert!(v["status_message"].as_str().unwrap().contains("NL/XYZ"));
    // Half a pair: 2001 naming the header.
    let res = atest::call_service(&svc, call(vec![("OCPI-to-party-id", "HUB")])).await;
    let v: Value = atest::read_body_json(res).await;
    assert_eq!(v["status_code"], 2001);
    assert!(
        v["status_message"]
            .as_str()
            .unwrap()
            .contains("ocpi-to-party-id")
    );
}
