//! The push outbox against wiremock eMSPs: order, back-off, dead letter, admin retry, isolation
//! between partners, restart mid-queue and two hub instances on one database.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

use crate::locations::{drained, evse, hub_with_partners, location, pushes};
use crate::support::{FakePartner, body_json, spawn_app_with};

const RECV: &str = "/ocpi/2.2.1/receiver/locations";

fn ok() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"status_code": 1000, "timestamp": "2026-01-01T00:00:00Z"}))
}

async fn deliveries(app: &crate::support::TestApp, state: &str) -> Vec<Value> {
    app.admin_get(&format!("/admin/outbox?state={state}")).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn back_off_on_500_and_timeout_then_deliver_in_order() {
    let (app, cpo, _, emsp) = hub_with_partners(|s| s.outbound_timeout_secs = 2).await;
    // The first two PUTs of LOC1 fail with 500, the third times out once... then all is well.
    Mock::given(method("PUT"))
        .and(path("/ocpi/emsp/2.2.1/locations/NL/CPO/LOC1"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&emsp.server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/ocpi/emsp/2.2.1/locations/NL/CPO/LOC1"))
        .respond_with(ok().set_delay(Duration::from_millis(4500)))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&emsp.server)
        .await;
    app.send_json(
        Method::PUT,
        &format!("{RECV}/NL/CPO/LOC1"),
        &cpo,
        &location("LOC1", "52.3791300", "4.9001500"),
    )
    .await;
    // Changes queued behind the failing PUT keep their order.
    for (i, status) in ["CHARGING", "AVAILABLE", "BLOCKED"].iter().enumerate() {
        let patch = json!({"status": status, "last_updated": format!("2026-01-02T08:00:0{i}Z")});
        let r = app
            .send_json(
                Method::PATCH,
                &format!("{RECV}/NL/CPO/LOC1/LOC1-1"),
                &cpo,
                &patch,
            )
            .await;
        assert_eq!(body_json(r).await["status_code"], 1000);
    }
    drained(&app).await;
    let got: Vec<(String, String)> = pushes(&emsp)
        .await
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let put = (
        "PUT".to_string(),
        "/ocpi/emsp/2.2.1/locations/NL/CPO/LOC1".to_string(),
    );
    assert_eq!(
        &got[..4],
        &[put.clone(), put.clone(), put.clone(), put.clone()],
        "500, 500, timeout, success"
    );
    let statuses: Vec<Value> = pushes(&emsp)
        .await
        .into_iter()
        .skip(4)
        .map(|(_, _, b)| b["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        vec![json!("CHARGING"), json!("AVAILABLE"), json!("BLOCKED")]
    );
    let done = deliveries(&app, "DELIVERED").await;
    assert_eq!(done.len(), 4);
    assert_eq!(done[0]["attempts"], 4);
    assert!(done[1..].iter().all(|d| d["attempts"] == 1));
}

#[tokio::test]
async fn dead_letter_after_n_attempts_and_retry_from_the_admin_api() {
    let (app, cpo, _, emsp) = hub_with_partners(|s| s.outbox_max_attempts = 3).await;
    Mock::given(path_regex("^/ocpi/emsp/2.2.1/locations/NL/CPO/DOOMED.*"))
        .respond_with(ResponseTemplate::new(503))
        .with_priority(1)
        .mount(&emsp.server)
        .await;
    app.send_json(
        Method::PUT,
        &format!("{RECV}/NL/CPO/DOOMED"),
        &cpo,
        &location("DOOMED", "52.3791300", "4.9001500"),
    )
    .await;
    // A refusal (HTTP 400) is dead-lettered at once: retrying would not help.
    Mock::given(path_regex("^/ocpi/emsp/2.2.1/locations/NL/CPO/REFUSED.*"))
        .respond_with(ResponseTemplate::new(400))
        .with_priority(1)
        .mount(&emsp.server)
        .await;
    app.send_json(
        Method::PUT,
        &format!("{RECV}/NL/CPO/REFUSED"),
        &cpo,
        &location("REFUSED", "52.3791300", "4.9001500"),
    )
    .await;
    drained(&app).await;
    let dead = deliveries(&app, "DEAD").await;
    assert_eq!(dead.len(), 2);
    let doomed = dead.iter().find(|d| d["path"] == "/NL/CPO/DOOMED").unwrap();
    assert_eq!(doomed["attempts"], 3);
    assert!(doomed["last_error"].as_str().unwrap().contains("503"));
    let refused = dead
        .iter()
        .find(|d| d["path"] == "/NL/CPO/REFUSED")
        .unwrap();
    assert_eq!(refused["attempts"], 1);
    let id = doomed["id"].as_i64().unwrap();
    let one = app.admin_get(&format!("/admin/outbox/{id}")).await;
    assert_eq!(one["data"]["body"]["id"], "DOOMED");

    // The partner recovers; the operator retries; it is delivered once more.
    emsp.server.reset().await;
    emsp.mount_versions("emsp-token").await;
    Mock::given(path_regex("^/ocpi/emsp/.*"))
        .respond_with(ok())
        .mount(&emsp.server)
        .await;
    let r = app
        .admin_post(&format!("/admin/outbox/{id}/retry"), &json!({}))
        .await;
    assert_eq!(body_json(r).await["data"]["state"], "PENDING");
    drained(&app).await;
    assert_eq!(pushes(&emsp).await.len(), 1);
    let v = app.admin_get(&format!("/admin/outbox/{id}")).await;
    assert_eq!(v["data"]["state"], "DELIVERED");
    // Retrying a delivered row is refused; discarding the refused one works once.
    let v = body_json(
        app.admin_post(&format!("/admin/outbox/{id}/retry"), &json!({}))
            .await,
    )
    .await;
    assert_eq!(v["status_code"], 2001);
    let rid = refused["id"].as_i64().unwrap();
    let v = body_json(
        app.admin_post(&format!("/admin/outbox/{rid}/discard"), &json!({}))
            .await,
    )
    .await;
    assert_eq!(v["data"]["state"], "DISCARDED");
    let v = body_json(
        app.admin_post(&format!("/admin/outbox/{rid}/discard"), &json!({}))
            .await,
    )
    .await;
    assert_eq!(v["status_code"], 2001);
    let r = app
        .http
        .get(app.url("/admin/outbox/999999"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn one_partner_down_does_not_delay_another() {
    let (app, cpo, _, fast) = hub_with_partners(|s| s.outbound_timeout_secs = 30).await;
    // A second eMSP that hangs for longer than this test will wait.
    let slow = FakePartner::start("slow-token").await;
    Mock::given(path_regex("^/ocpi/emsp/.*"))
        .respond_with(ok().set_delay(Duration::from_secs(60)))
        .mount(&slow.server)
        .await;
    app.register_partner(&slow, "EMSP", "BE", "SLO").await;
    for i in 0..3 {
        let id = format!("L{i}");
        app.send_json(
            Method::PUT,
            &format!("{RECV}/NL/CPO/{id}"),
            &cpo,
            &location(&id, "52.3791300", "4.9001500"),
        )
        .await;
    }
    // The fast partner gets all three while the slow one still holds its first.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while pushes(&fast).await.len() < 3 {
        assert!(std::time::Instant::now() < deadline, "fast partner starved");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(pushes(&slow).await.len() <= 3);
    // The partner has the pushes a moment before the hub records them as delivered.
    let slow_done = loop {
        let done = app
            .state
            .db
            .read(|c| ocpi_hub::db::outbox::list(c, Some("DELIVERED"), None, 100))
            .await
            .unwrap();
        if done.len() >= 3 || std::time::Instant::now() > deadline {
            break done;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        slow_done.len(),
        3,
        "only the fast partner's deliveries are done"
    );
    app.stop().await;
}

#[tokio::test]
async fn store_and_forward_off_drops_failed_pushes() {
    let (app, cpo, _, emsp) = hub_with_partners(|_| {}).await;
    Mock::given(path_regex("^/ocpi/emsp/2.2.1/locations/NL/CPO/GONE.*"))
        .respond_with(ResponseTemplate::new(500))
        .with_priority(1)
        .mount(&emsp.server)
        .await;
    let parties = app.parties().await;
    let emsp_id = parties
        .iter()
        .find(|p| p["roles"][0]["party_id"] == "EMS")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .http
        .patch(app.url(&format!("/admin/parties/{emsp_id}")))
        .bearer_auth(&app.admin_token)
        .json(&json!({"store_and_forward": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(body_json(r).await["data"]["store_and_forward"], false);
    app.send_json(
        Method::PUT,
        &format!("{RECV}/NL/CPO/GONE"),
        &cpo,
        &location("GONE", "52.3791300", "4.9001500"),
    )
    .await;
    drained(&app).await;
    let dropped = deliveries(&app, "DROPPED").await;
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0]["attempts"], 1);
    assert_eq!(pushes(&emsp).await.len(), 1, "tried once, not again");
}

/// Count the successful pushes per path.
async fn successes(p: &FakePartner) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for (_, path, _) in pushes(p).await {
        *m.entry(path).or_insert(0) += 1;
    }
    m
}

#[tokio::test]
async fn restart_mid_queue_delivers_everything_exactly_once() {
    let (app, cpo, _, emsp) = hub_with_partners(|s| {
        s.outbound_timeout_secs = 2;
        s.outbox_lease_secs = 3;
    })
    .await;
    // The eMSP is down while changes pile up.
    Mock::given(path_regex("^/ocpi/emsp/.*"))
        .respond_with(ResponseTemplate::new(502))
        .with_priority(1)
        .mount(&emsp.server)
        .await;
    for i in 0..5 {
        let id = format!("R{i}");
        app.send_json(
            Method::PUT,
            &format!("{RECV}/NL/CPO/{id}"),
            &cpo,
            &location(&id, "52.3791300", "4.9001500"),
        )
        .await;
        app.send_json(
            Method::PUT,
            &format!("{RECV}/NL/CPO/{id}/{id}-9"),
            &cpo,
            &evse(&format!("{id}-9")),
        )
        .await;
    }
    // Let at least one attempt fail, then stop the hub.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while pushes(&emsp).await.is_empty() {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stop().await;
    let pending = app
        .state
        .db
        .read(|c| ocpi_hub::db::outbox::list(c, Some("PENDING"), None, 100))
        .await
        .unwrap();
    assert_eq!(pending.len(), 10, "nothing lost, nothing done");

    // The partner recovers; a new hub process starts on the same database.
    emsp.server.reset().await;
    emsp.mount_versions("emsp-token").await;
    Mock::given(path_regex("^/ocpi/emsp/.*"))
        .respond_with(ok())
        .mount(&emsp.server)
        .await;
    let url = app.database_url.clone();
    let app2 = spawn_app_with(|s| {
        s.database_url = url;
        s.outbox_backoff_base_ms = 20;
        s.outbox_poll_ms = 50;
        s.outbound_timeout_secs = 2;
        s.outbox_lease_secs = 3;
    })
    .await;
    drained(&app2).await;
    let got = successes(&emsp).await;
    assert_eq!(got.len(), 10);
    assert!(got.values().all(|n| *n == 1), "{got:?}");
    // Order per location survived the restart: each location before its EVSE.
    let order: Vec<String> = pushes(&emsp).await.into_iter().map(|(_, p, _)| p).collect();
    for i in 0..5 {
        let loc = order
            .iter()
            .position(|p| p.ends_with(&format!("/R{i}")))
            .unwrap();
        let ev = order
            .iter()
            .position(|p| p.ends_with(&format!("/R{i}/R{i}-9")))
            .unwrap();
        assert!(loc < ev);
    }
}

#[tokio::test]
async fn two_instances_on_one_database_never_deliver_a_row_twice() {
    let (app, cpo, _, emsp) = hub_with_partners(|_| {}).await;
    let url = app.database_url.clone();
    let app2 = spawn_app_with(|s| {
        s.database_url = url;
        s.outbox_poll_ms = 10;
    })
    .await;
    let n = 40;
    for i in 0..n {
        let id = format!("M{i}");
        let via = if i % 2 == 0 { &app } else { &app2 };
        let r = via
            .send_json(
                Method::PUT,
                &format!("{RECV}/NL/CPO/{id}"),
                &cpo,
                &location(&id, "52.3791300", "4.9001500"),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    drained(&app).await;
    let got = successes(&emsp).await;
    assert_eq!(got.len(), n);
    assert!(got.values().all(|c| *c == 1), "{got:?}");
}

/// A migrated test database (SQLite in `dir`, or a fresh PostgreSQL database) with one
/// connection, for the outbox statements called directly.
fn migrated_db(dir: &tempfile::TempDir) -> ocpi_hub::db::Db {
    let db = ocpi_hub::db::Db::connect(&crate::support::fresh_database_url(dir.path()), 1).unwrap();
    ocpi_hub::db::migrations::run(&db).unwrap();
    db
}

/// A session PATCH to platform `P1` in delivery group `group`.
fn row(group: &str, path: &str) -> ocpi_hub::db::outbox::NewDelivery {
    ocpi_hub::db::outbox::NewDelivery {
        platform_id: "P1".into(),
        module: "sessions".into(),
        object_group: group.into(),
        method: "PATCH".into(),
        path: path.into(),
        body: None,
        from_country_code: "NL".into(),
        from_party_id: "HUB".into(),
        to: None,
    }
}

/// The worker's "record the success and take the group's next" step, directly on the test
/// database (SQLite, or PostgreSQL where its statements run without a transaction): the next
/// is handed over only when it is the group's head, due and free, and only to a worker that
/// still held the lease.
#[test]
fn recording_a_success_hands_over_the_groups_next_only_when_due_and_free() {
    use diesel::prelude::*;
    use ocpi_hub::db::outbox::{self, Delivery, PENDING};
    use ocpi_hub::db::schema;

    let dir = tempfile::tempdir().unwrap();
    let db = migrated_db(&dir);
    let mut c = db.get().unwrap();
    let c: &mut ocpi_hub::db::DbConnection = &mut c;
    outbox::enqueue(
        c,
        &[
            row("G", "/1"),
            row("H", "/h"),
            row("G", "/2"),
            row("G", "/3"),
        ],
    )
    .unwrap();
    let now = ocpi_hub::db::now();
    let until = now + chrono::Duration::seconds(60);
    let by_path = |c: &mut ocpi_hub::db::DbConnection, p: &str| -> Delivery {
        outbox::list(c, None, None, 10)
            .unwrap()
            .into_iter()
            .find(|d| d.path == p)
            .unwrap()
    };
    // Worker A leases the heads of G and H.
    let heads = outbox::due_heads(c, now, 10).unwrap();
    let leased = outbox::lease_ids(c, "A", &heads, now, until).unwrap();
    let paths: Vec<&str> = leased.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["/1", "/h"]);

    // Another worker cannot record A's delivery, and gets nothing.
    let first = by_path(c, "/1");
    let r = outbox::delivered_then_next(c, &first, "B", now, until).unwrap();
    assert!(!r.recorded && r.next.is_none());
    assert_eq!(by_path(c, "/1").state, PENDING);

    // A records it and is handed G's next (not H's), leased to A.
    let r = outbox::delivered_then_next(c, &first, "A", now, until).unwrap();
    assert!(r.recorded);
    let next = r.next.expect("the group's next");
    assert_eq!(next.path, "/2");
    assert_eq!(next.lease_owner.as_deref(), Some("A"));
    assert_eq!(next.leased_until, Some(until));
    assert_eq!(by_path(c, "/1").state, outbox::DELIVERED);
    assert_eq!(by_path(c, "/1").attempts, 1);
    assert_eq!(by_path(c, "/2").lease_owner.as_deref(), Some("A"));
    // Recording the same success twice does nothing.
    let r = outbox::delivered_then_next(c, &first, "A", now, until).unwrap();
    assert!(!r.recorded && r.next.is_none());

    // /2 delivered while /3 waits for its back-off: nothing handed over, /3 untouched.
    let third = by_path(c, "/3");
    diesel::update(schema::outbox::table.find(third.id))
        .set(schema::outbox::next_attempt_at.eq(now + chrono::Duration::seconds(30)))
        .execute(c)
        .unwrap();
    let r = outbox::delivered_then_next(c, &next, "A", now, until).unwrap();
    assert!(r.recorded && r.next.is_none());
    assert!(by_path(c, "/3").lease_owner.is_none());

    // The last of a group: recorded, nothing next.
    let h = by_path(c, "/h");
    let r = outbox::delivered_then_next(c, &h, "A", now, until).unwrap();
    assert!(r.recorded && r.next.is_none());
}

/// The worker's lease of what its process just enqueued (by id), on the test database: only
/// the ids given, only group heads, only due and free rows; a row leased by another worker is
/// not taken until its lease expires.
#[test]
fn leasing_by_id_takes_only_due_free_group_heads() {
    use diesel::prelude::*;
    use ocpi_hub::db::outbox;
    use ocpi_hub::db::schema;

    let dir = tempfile::tempdir().unwrap();
    let db = migrated_db(&dir);
    let mut c = db.get().unwrap();
    let c: &mut ocpi_hub::db::DbConnection = &mut c;
    let ids = outbox::enqueue(
        c,
        &[
            row("G", "/g1"),
            row("H", "/h1"),
            row("G", "/g2"),
            row("K", "/k1"),
            row("L", "/l1"),
        ],
    )
    .unwrap();
    assert_eq!(ids.len(), 5);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let now = ocpi_hub::db::now();
    let until = now + chrono::Duration::seconds(60);
    // K waits for its back-off.
    diesel::update(schema::outbox::table.find(ids[3]))
        .set(schema::outbox::next_attempt_at.eq(now + chrono::Duration::seconds(30)))
        .execute(c)
        .unwrap();
    let paths = |rows: &[outbox::Delivery]| -> Vec<String> {
        rows.iter().map(|d| d.path.clone()).collect()
    };

    // L is not among the ids; G's second waits for G's first; K is not due.
    let leased = outbox::lease_ids(c, "A", &ids[..4], now, until).unwrap();
    assert_eq!(paths(&leased), ["/g1", "/h1"]);
    assert!(
        leased
            .iter()
            .all(|d| d.lease_owner.as_deref() == Some("A") && d.leased_until == Some(until))
    );
    // Leased rows are not taken again while the lease holds, nor is anything given none.
    assert!(
        outbox::lease_ids(c, "B", &ids, now, until)
            .unwrap()
            .iter()
            .all(|d| d.path == "/l1")
    );
    assert!(
        outbox::lease_ids(c, "B", &[], now, until)
            .unwrap()
            .is_empty()
    );

    // G's first delivered: G's second is the head now.
    assert!(outbox::mark_delivered(c, ids[0], "A").unwrap());
    let leased = outbox::lease_ids(c, "B", &ids, now, until).unwrap();
    assert_eq!(paths(&leased), ["/g2"]);
    // Delivered and unknown ids give nothing.
    assert!(
        outbox::lease_ids(c, "B", &[ids[0], ids[4] + 100], now, until)
            .unwrap()
            .is_empty()
    );

    // An expired lease is taken over.
    let later = until + chrono::Duration::seconds(1);
    let leased = outbox::lease_ids(
        c,
        "C",
        &[ids[1]],
        later,
        later + chrono::Duration::seconds(60),
    )
    .unwrap();
    assert_eq!(paths(&leased), ["/h1"]);
    assert_eq!(leased[0].lease_owner.as_deref(), Some("C"));
}
