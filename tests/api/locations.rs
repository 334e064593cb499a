//! Locations and tariffs: Receiver round trips and validation, Sender views, pushes to eMSPs.

use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::path_regex;
use wiremock::{Mock, ResponseTemplate};

use crate::support::{FakePartner, TestApp, body_json, spawn_app_with};

pub fn connector(id: &str) -> Value {
    json!({"id": id, "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE",
           "max_voltage": 230, "max_amperage": 32, "max_electric_power": 22000,
           "last_updated": "2026-01-01T10:00:00Z"})
}

pub fn evse(uid: &str) -> Value {
    json!({"uid": uid, "evse_id": format!("NL*CPO*E{uid}"), "status": "AVAILABLE",
           "connectors": [connector("1")], "last_updated": "2026-01-01T10:00:00Z"})
}

pub fn location(id: &str, lat: &str, lon: &str) -> Value {
    json!({
        "country_code": "NL", "party_id": "CPO", "id": id, "publish": true,
        "name": format!("Station {id}"), "address": "Stationsplein 1", "city": "Amsterdam",
        "postal_code": "1012AB", "country": "NLD",
        "coordinates": {"latitude": lat, "longitude": lon},
        "evses": [evse(&format!("{id}-1")), evse(&format!("{id}-2"))],
        "time_zone": "Europe/Amsterdam", "last_updated": "2026-01-01T10:00:00Z"
    })
}

pub fn tariff(id: &str, per_kwh: f64) -> Value {
    json!({"country_code": "NL", "party_id": "CPO", "id": id, "currency": "EUR",
           "elements": [{"price_components": [{"type": "ENERGY", "price": per_kwh, "step_size": 1}]}],
           "last_updated": "2026-01-01T10:00:00Z"})
}

/// A hub with a CPO partner (NL/CPO) and an eMSP partner (DE/EMS) whose locations and tariffs
/// receivers answer 200. Returns (app, cpo token C, emsp token C, eMSP fake).
pub async fn hub_with_partners(
    tweak: impl FnOnce(&mut ocpi_hub::config::Settings),
) -> (TestApp, String, String, FakePartner) {
    let app = spawn_app_with(|s| {
        s.outbox_backoff_base_ms = 20;
        s.outbox_poll_ms = 50;
        tweak(s);
    })
    .await;
    let cpo = FakePartner::start("cpo-token").await;
    let cpo_c = app.register_partner(&cpo, "CPO", "NL", "CPO").await;
    let emsp = FakePartner::start("emsp-token").await;
    Mock::given(path_regex("^/ocpi/emsp/2.2.1/(locations|tariffs)/.*"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"status_code": 1000, "timestamp": "2026-01-01T00:00:00Z"})),
        )
        .mount(&emsp.server)
        .await;
    let emsp_c = app.register_partner(&emsp, "EMSP", "DE", "EMS").await;
    drop(cpo);
    (app, cpo_c, emsp_c, emsp)
}

/// Wait until the outbox holds no PENDING delivery (the worker is event-driven; this polls the
/// database with a deadline instead of sleeping a fixed time).
pub async fn drained(app: &TestApp) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let pending = app
            .state
            .db
            .read(|c| ocpi_hub::db::outbox::list(c, Some("PENDING"), None, 1))
            .await
            .unwrap();
        if pending.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "outbox not drained: {pending:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

pub async fn pushes(p: &FakePartner) -> Vec<(String, String, Value)> {
    p.requests()
        .await
        .into_iter()
        .filter(|r| r.url.path().starts_with("/ocpi/emsp/"))
        .map(|r| {
            (
                r.method.to_string(),
                r.url.path().to_string(),
                serde_json::from_slice(&r.body).unwrap_or(Value::Null),
            )
        })
        .collect()
}

const RECV: &str = "/ocpi/2.2.1/receiver/locations";

#[tokio::test]
async fn receiver_round_trips_at_every_level_and_pushes_to_emsps() {
    let (app, cpo, _emsp_c, emsp) = hub_with_partners(|_| {}).await;
    let loc = location("LOC1", "52.3791300", "4.9001500");
    let r = app
        .send_json(Method::PUT, &format!("{RECV}/NL/CPO/LOC1"), &cpo, &loc)
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(body_json(r).await["status_code"], 1000);
    let r = app
        .send_json(Method::PUT, &format!("{RECV}/NL/CPO/LOC1"), &cpo, &loc)
        .await;
    assert_eq!(r.status(), 200, "second PUT updates");

    let v = body_json(app.get(&format!("{RECV}/NL/CPO/LOC1"), &cpo).await).await;
    assert_eq!(v["data"]["id"], "LOC1");
    assert_eq!(v["data"]["evses"].as_array().unwrap().len(), 2);
    let v = body_json(app.get(&format!("{RECV}/NL/CPO/LOC1/LOC1-2"), &cpo).await).await;
    assert_eq!(v["data"]["uid"], "LOC1-2");
    let v = body_json(app.get(&format!("{RECV}/NL/CPO/LOC1/LOC1-2/1"), &cpo).await).await;
    assert_eq!(v["data"]["standard"], "IEC_62196_T2");
    let r = app.get(&format!("{RECV}/NL/CPO/NOPE"), &cpo).await;
    assert_eq!(r.status(), 404);
    assert_eq!(body_json(r).await["status_code"], 2003);

    // PATCH an EVSE's status: the location's last_updated follows.
    let patch = json!({"status": "CHARGING", "last_updated": "2026-01-02T08:00:00Z"});
    let r = app
        .send_json(
            Method::PATCH,
            &format!("{RECV}/NL/CPO/LOC1/LOC1-1"),
            &cpo,
            &patch,
        )
        .await;
    assert_eq!(body_json(r).await["status_code"], 1000);
    let v = body_json(app.get(&format!("{RECV}/NL/CPO/LOC1"), &cpo).await).await;
    assert_eq!(v["data"]["evses"][0]["status"], "CHARGING");
    assert_eq!(v["data"]["last_updated"], "2026-01-02T08:00:00Z");
    // PATCH a connector: EVSE and location follow.
    let patch = json!({"tariff_ids": ["T1"], "last_updated": "2026-01-03T08:00:00Z"});
    app.send_json(
        Method::PATCH,
        &format!("{RECV}/NL/CPO/LOC1/LOC1-2/1"),
        &cpo,
        &patch,
    )
    .await;
    let v = body_json(app.get(&format!("{RECV}/NL/CPO/LOC1"), &cpo).await).await;
    assert_eq!(
        v["data"]["evses"][1]["connectors"][0]["tariff_ids"],
        json!(["T1"])
    );
    assert_eq!(
        v["data"]["evses"][1]["last_updated"],
        "2026-01-03T08:00:00Z"
    );
    assert_eq!(v["data"]["last_updated"], "2026-01-03T08:00:00Z");
    // PUT a new EVSE; PATCH the location's name.
    let r = app
        .send_json(
            Method::PUT,
            &format!("{RECV}/NL/CPO/LOC1/LOC1-3"),
            &cpo,
            &evse("LOC1-3"),
        )
        .await;
    assert_eq!(body_json(r).await["status_code"], 1000);
    let patch = json!({"name": "Renamed", "last_updated": "2026-01-04T08:00:00Z"});
    app.send_json(Method::PATCH, &format!("{RECV}/NL/CPO/LOC1"), &cpo, &patch)
        .await;
    let v = body_json(app.get(&format!("{RECV}/NL/CPO/LOC1"), &cpo).await).await;
    assert_eq!(v["data"]["name"], "Renamed");
    assert_eq!(v["data"]["evses"].as_array().unwrap().len(), 3);

    // Every change reached the eMSP in order, at the right URL, with the routing headers.
    drained(&app).await;
    let got = pushes(&emsp).await;
    let summary: Vec<(String, String)> =
        got.iter().map(|(m, p, _)| (m.clone(), p.clone())).collect();
    let base = "/ocpi/emsp/2.2.1/locations/NL/CPO/LOC1";
    assert_eq!(
        summary,
        vec![
            ("PUT".into(), base.to_string()),
            ("PUT".into(), base.to_string()),
            ("PATCH".into(), format!("{base}/LOC1-1")),
            ("PATCH".into(), format!("{base}/LOC1-2/1")),
            ("PUT".into(), format!("{base}/LOC1-3")),
            ("PATCH".into(), base.to_string()),
        ]
    );
    assert_eq!(
        got[2].2,
        json!({"status": "CHARGING", "last_updated": "2026-01-02T08:00:00Z"})
    );
    let req = emsp
        .requests()
        .await
        .into_iter()
        .find(|r| r.url.path() == base)
        .unwrap();
    assert_eq!(req.headers["ocpi-from-party-id"], "CPO");
    assert_eq!(req.headers["ocpi-to-party-id"], "EMS");
    assert!(req.headers.contains_key("x-hub-signature"));
}

#[tokio::test]
async fn receiver_refuses_mismatches_and_invalid_objects_without_storing() {
    let (app, cpo, emsp_c, emsp) = hub_with_partners(|_| {}).await;
    let loc = location("LOC1", "52.3791300", "4.9001500");
    // Another party's URL: 404. The eMSP's own token on the CPO's URL: 404.
    let r = app
        .send_json(Method::PUT, &format!("{RECV}/NL/XXX/LOC1"), &cpo, &loc)
        .await;
    assert_eq!(r.status(), 404);
    let r = app
        .send_json(Method::PUT, &format!("{RECV}/NL/CPO/LOC1"), &emsp_c, &loc)
        .await;
    assert_eq!(r.status(), 404);
    // Body and URL disagree.
    let v = body_json(
        app.send_json(Method::PUT, &format!("{RECV}/NL/CPO/OTHER"), &cpo, &loc)
            .await,
    )
    .await;
    assert_eq!(v["status_code"], 2001);
    assert!(v["status_message"].as_str().unwrap().contains("`id`"));
    let mut wrong_party = loc.clone();
    wrong_party["party_id"] = json!("ABC");
    let v = body_json(
        app.send_json(
            Method::PUT,
            &format!("{RECV}/NL/CPO/LOC1"),
            &cpo,
            &wrong_party,
        )
        .await,
    )
    .await;
    assert_eq!(v["status_code"], 2001);
    assert!(v["status_message"].as_str().unwrap().contains("party_id"));

    // A table of bad objects: each refused with 2001 naming the field.
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/coordinates/latitude",
            json!("52.37"),
            "coordinates.latitude",
        ),
        (
            "/coordinates/longitude",
            json!("200.1234567"),
            "coordinates.longitude",
        ),
        ("/address", json!("a".repeat(256)), "address"),
        ("/city", json!("c".repeat(46)), "city"),
        ("/state", json!("s".repeat(46)), "state"),
        ("/country", json!("NL"), "country"),
        ("/parking_type", json!("ROOFTOP"), "parking_type"),
        ("/time_zone", Value::Null, "time_zone"),
        ("/publish", json!("yes"), "publish"),
        ("/last_updated", json!("yesterday"), "last_updated"),
        ("/evses/0/status", json!("BROKEN"), "evses[0].status"),
        (
            "/evses/1/connectors/0/max_voltage",
            json!(-5),
            "evses[1].connectors[0].max_voltage",
        ),
        (
            "/evses/0/evse_id",
            json!("E".repeat(49)),
            "evses[0].evse_id",
        ),
        ("/evses/1/uid", json!("LOC1-1"), "evses"),
    ];
    for (pointer, value, named) in cases {
        let mut bad = loc.clone();
        if value.is_null() {
            let field = pointer.trim_start_matches('/');
            bad.as_object_mut().unwrap().remove(field);
        } else if let Some(slot) = bad.pointer_mut(pointer) {
            *slot = value;
        } else {
            bad[pointer.trim_start_matches('/')] = value;
        }
        let r = app
            .send_json(Method::PUT, &format!("{RECV}/NL/CPO/LOC1"), &cpo, &bad)
            .await;
        assert_eq!(r.status(), 200, "{pointer}");
        let v = body_json(r).await;
        assert_eq!(v["status_code"], 2001, "{pointer}: {v}");
        assert!(
            v["status_message"].as_str().unwrap().contains(named),
            "{pointer}: {v}"
        );
    }
    let mut bad = loc.clone();
    bad["id"] = json!("x".repeat(37));
    let v = body_json(
        app.send_json(Method::PUT, &format!("{RECV}/NL/CPO/LOC1"), &cpo, &bad)
            .await,
    )
    .await;
    assert!(
        v["status_message"].as_str().unwrap().contains("`id`"),
        "{v}"
    );
    // Nested: a connector with an unknown standard, an EVSE without connectors.
    let mut bad = loc.clone();
    bad["evses"][1]["connectors"][0]["standard"] = json!("USB_C");
    let v = body_json(
        app.send_json(Method::PUT, &format!("{RECV}/NL/CPO/LOC1"), &cpo, &bad)
            .await,
    )
    .await;
    assert!(
        v["status_message"]
            .as_str()
            .unwrap()
            .contains("evses[1].connectors[0].standard"),
        "{v}"
    );
    let mut bad = loc.clone();
    bad["evses"][0]["connectors"] = json!([]);
    let v = body_json(
        app.send_json(Method::PUT, &format!("{RECV}/NL/CPO/LOC1"), &cpo, &bad)
            .await,
    )
    .await;
    assert_eq!(v["status_code"], 2001);
    assert!(
        v["status_message"].as_str().unwrap().contains("connectors"),
        "{v}"
    );
    // The errata's longer address and state are accepted.
    let mut long = loc.clone();
    long["address"] = json!("a".repeat(255));
    long["state"] = json!("s".repeat(45));
    let r = app
        .send_json(Method::PUT, &format!("{RECV}/NL/CPO/LOC1"), &cpo, &long)
        .await;
    assert_eq!(r.status(), 201);

    // PATCH without last_updated; PATCH that breaks the object; PATCH of an unknown EVSE.
    let v = body_json(
        app.send_json(
            Method::PATCH,
            &format!("{RECV}/NL/CPO/LOC1"),
            &cpo,
            &json!({"name": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(v["status_code"], 2001);
    assert!(
        v["status_message"]
            .as_str()
            .unwrap()
            .contains("last_updated")
    );
    let v = body_json(
        app.send_json(
            Method::PATCH,
            &format!("{RECV}/NL/CPO/LOC1"),
            &cpo,
            &json!({"city": "c".repeat(46), "last_updated": "2026-02-01T00:00:00Z"}),
        )
        .await,
    )
    .await;
    assert_eq!(v["status_code"], 2001);
    let r = app
        .send_json(
            Method::PATCH,
            &format!("{RECV}/NL/CPO/LOC1/NOPE"),
            &cpo,
            &json!({"status": "REMOVED", "last_updated": "2026-02-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status(), 404);
    // An EVSE for a location that does not exist.
    let r = app
        .send_json(
            Method::PUT,
            &format!("{RECV}/NL/CPO/GHOST/E1"),
            &cpo,
            &evse("E1"),
        )
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(body_json(r).await["status_code"], 2003);

    // Only the one valid PUT was stored and pushed.
    let v = body_json(app.get(&format!("{RECV}/NL/CPO/LOC1"), &cpo).await).await;
    assert_eq!(v["data"]["city"], "Amsterdam");
    drained(&app).await;
    assert_eq!(pushes(&emsp).await.len(), 1);
}

#[tokio::test]
async fn sender_serves_one_view_with_visibility_rules() {
    let (app, cpo, emsp_c, _emsp) = hub_with_partners(|_| {}).await;
    for i in 0..5 {
        let id = format!("L{i}");
        let r = app
            .send_json(
                Method::PUT,
                &format!("{RECV}/NL/CPO/{id}"),
                &cpo,
                &location(&id, "52.3791300", "4.9001500"),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    // Unpublished: allowed for the eMSP (by issuer = its business name) and for nobody.
    let mut hidden = location("SECRET", "52.3791300", "4.9001500");
    hidden["publish"] = json!(false);
    hidden["publish_allowed_to"] = json!([{"visual_number": "EMS-0001", "issuer": "EMS Mobility"}]);
    app.send_json(Method::PUT, &format!("{RECV}/NL/CPO/SECRET"), &cpo, &hidden)
        .await;
    let mut private = location("PRIVATE", "52.3791300", "4.9001500");
    private["publish"] = json!(false);
    private["publish_allowed_to"] = json!([{"visual_number": "X-1", "issuer": "Someone Else"}]);
    app.send_json(
        Method::PUT,
        &format!("{RECV}/NL/CPO/PRIVATE"),
        &cpo,
        &private,
    )
    .await;

    let r = app
        .get("/ocpi/2.2.1/sender/locations?limit=3", &emsp_c)
        .await;
    assert_eq!(r.headers()["x-total-count"], "6");
    assert!(r.headers().contains_key("link"));
    let ids: Vec<String> = body_json(r).await["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3);
    let v = body_json(
        app.get("/ocpi/2.2.1/sender/locations?offset=3&limit=10", &emsp_c)
            .await,
    )
    .await;
    let rest: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert!(
        rest.contains(&"SECRET") && !rest.contains(&"PRIVATE"),
        "{rest:?}"
    );
    // The CPO itself is no allowed party of either.
    let r = app.get("/ocpi/2.2.1/sender/locations", &cpo).await;
    assert_eq!(r.headers()["x-total-count"], "5");

    // Single objects.
    let v = body_json(
        app.get("/ocpi/2.2.1/sender/locations/L2/L2-1/1", &emsp_c)
            .await,
    )
    .await;
    assert_eq!(v["data"]["id"], "1");
    let v = body_json(
        app.get("/ocpi/2.2.1/sender/locations/SECRET", &emsp_c)
            .await,
    )
    .await;
    assert_eq!(v["data"]["id"], "SECRET");
    let r = app
        .get("/ocpi/2.2.1/sender/locations/PRIVATE", &emsp_c)
        .await;
    assert_eq!(r.status(), 404);
    let r = app
        .get("/ocpi/2.2.1/sender/locations/L2/NOPE", &emsp_c)
        .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn tariffs_in_and_out() {
    let (app, cpo, emsp_c, emsp) = hub_with_partners(|_| {}).await;
    let t = tariff("T1", 0.25);
    let url = "/ocpi/2.2.1/receiver/tariffs/NL/CPO/T1";
    let r = app.send_json(Method::PUT, url, &cpo, &t).await;
    assert_eq!(r.status(), 201);
    let v = body_json(app.get(url, &cpo).await).await;
    assert_eq!(
        v["data"]["elements"][0]["price_components"][0]["price"],
        json!(0.25)
    );
    // Invalid tariffs are refused, naming the field.
    let mut bad = t.clone();
    bad["elements"][0]["price_components"][0]["type"] = json!("KWH");
    let v = body_json(app.send_json(Method::PUT, url, &cpo, &bad).await).await;
    assert!(
        v["status_message"]
            .as_str()
            .unwrap()
            .contains("elements[0].price_components[0].type"),
        "{v}"
    );
    let mut bad = t.clone();
    bad["elements"] = json!([]);
    let v = body_json(app.send_json(Method::PUT, url, &cpo, &bad).await).await;
    assert_eq!(v["status_code"], 2001);
    // Sender list.
    let r = app.get("/ocpi/2.2.1/sender/tariffs", &emsp_c).await;
    assert_eq!(r.headers()["x-total-count"], "1");
    // DELETE, then it is gone and the eMSP heard of both.
    let r = app
        .http
        .delete(app.url(url))
        .header("Authorization", crate::support::b64(&cpo))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.get(url, &cpo).await.status(), 404);
    drained(&app).await;
    let got: Vec<(String, String)> = pushes(&emsp)
        .await
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "PUT".to_string(),
                "/ocpi/emsp/2.2.1/tariffs/NL/CPO/T1".to_string()
            ),
            (
                "DELETE".to_string(),
                "/ocpi/emsp/2.2.1/tariffs/NL/CPO/T1".to_string()
            ),
        ]
    );
}

/// Store `n` locations (2 EVSEs each) straight through the storage layer, spread over time.
pub async fn seed_locations(app: &TestApp, n: usize) {
    use ocpi_hub::ocpi::locations::model::Location;
    use ocpi_hub::ocpi::locations::service::{Source, row_of};
    let rows: Vec<_> = (0..n)
        .map(|i| {
            let mut v = location(&format!("S{i:05}"), "52.3791300", "4.9001500");
            // Ten locations per minute, so date windows cut between and inside equal instants.
            let t = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap()
                + chrono::Duration::seconds((i / 10 * 60) as i64);
            v["last_updated"] = json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            let loc: Location = serde_json::from_value(v).unwrap();
            row_of(&loc, &Source::default(), chrono::Utc::now().naive_utc()).unwrap()
        })
        .collect();
    app.state
        .db
        .write(move |c| {
            for r in &rows {
                ocpi_hub::db::locations::upsert(c, r, &[])?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

/// Follow `Link` from `first` to the end; every location id seen, in order.
pub async fn crawl(app: &TestApp, token: &str, first: &str) -> (Vec<String>, usize) {
    let mut next = Some(app.url(first));
    let mut ids = Vec::new();
    let mut evses = 0;
    while let Some(url) = next {
        let r = app
            .http
            .get(&url)
            .header("Authorization", crate::support::b64(token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        next = r.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            l[1..l.find('>').unwrap()].to_string()
        });
        let v = body_json(r).await;
        for l in v["data"].as_array().unwrap() {
            ids.push(l["id"].as_str().unwrap().to_string());
            evses += l["evses"].as_array().map_or(0, |e| e.len());
        }
    }
    (ids, evses)
}

#[tokio::test]
async fn sender_pages_ten_thousand_evses_exactly_once() {
    let (app, _cpo, emsp_c, _) = hub_with_partners(|s| s.max_page_limit = 1000).await;
    seed_locations(&app, 5000).await;
    let (ids, evses) = crawl(&app, &emsp_c, "/ocpi/2.2.1/sender/locations?limit=700").await;
    assert_eq!(evses, 10_000);
    assert_eq!(ids.len(), 5000);
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 5000, "each location exactly once");
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "oldest first (ids follow time here)"
    );

    // Date windows: [from, to) slices that chain into the whole, each crawled by its Link chain.
    let cuts = [
        "2025-01-01T00:00:00Z",
        "2025-01-01T01:00:30Z",
        "2025-01-01T05:00:00Z",
        "2025-01-02T00:00:00Z",
    ];
    let mut all = Vec::new();
    for w in cuts.windows(2) {
        let (part, _) = crawl(
            &app,
            &emsp_c,
            &format!(
                "/ocpi/2.2.1/sender/locations?date_from={}&date_to={}&limit=333",
                w[0], w[1]
            ),
        )
        .await;
        let r = app
            .get(
                &format!(
                    "/ocpi/2.2.1/sender/locations?date_from={}&date_to={}&limit=1",
                    w[0], w[1]
                ),
                &emsp_c,
            )
            .await;
        assert_eq!(
            r.headers()["x-total-count"].to_str().unwrap(),
            part.len().to_string()
        );
        all.extend(part);
    }
    assert_eq!(all, ids, "the windows partition the whole list");
    // 00:00..01:00:30 holds minutes 0..=60: 61 minutes of ten locations.
    let r = app.get("/ocpi/2.2.1/sender/locations?date_from=2025-01-01T00:00:00Z&date_to=2025-01-01T01:00:30Z", &emsp_c).await;
    assert_eq!(r.headers()["x-total-count"], "610");
}
