//! Locations Sender list under load: 50,000 locations × 2 EVSEs, `GET` pages of 100 at random
//! offsets through real HTTP against the hub running in this process.
//!
//! Run: `BENCH_DATABASE_URL=postgres://… cargo bench --bench locations_list` (SQLite in a temp
//! dir when unset). `BENCH_LOCATIONS` (default 50000) and `BENCH_SECONDS` (default 10) adjust it.
//! Reports: first vs deepest page (medians), closed-loop throughput with 32 clients, and latency
//! percentiles of an open-loop run at 500 req/s. `BENCH_SERVE_SECS=N` only seeds and serves for
//! N seconds (printing the URL and Authorization header) for an external load generator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::{Connection, RunQueryDsl};
use ocpi_hub::config::Settings;
use ocpi_hub::db::platforms::{self, KIND_ACCESS, NewPlatform, NewRole, Registration};
use ocpi_hub::ocpi::locations::model::Location;
use ocpi_hub::ocpi::locations::service::{Source, row_of};
use ocpi_hub::startup::Application;
use rand::Rng;
use serde_json::json;

fn location(i: usize) -> Location {
    let evse = |n: usize| {
        json!({"uid": format!("S{i}-{n}"), "evse_id": format!("NL*HUB*ES{i}{n}"), "status": "AVAILABLE",
               "connectors": [{"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE",
                               "max_voltage": 230, "max_amperage": 32, "max_electric_power": 22000,
                               "tariff_ids": ["STD"], "last_updated": "2026-01-01T10:00:00Z"}],
               "last_updated": "2026-01-01T10:00:00Z"})
    };
    let t = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap()
        + chrono::Duration::seconds(i as i64);
    serde_json::from_value(json!({
        "country_code": "NL", "party_id": "HUB", "id": format!("S{i:06}"), "publish": true,
        "name": format!("Station {i}"), "address": "Stationsplein 1", "city": "Amsterdam",
        "postal_code": "1012AB", "country": "NLD",
        "coordinates": {"latitude": format!("52.{:07}", i % 10_000_000), "longitude": "4.9001500"},
        "evses": [evse(1), evse(2)],
        "time_zone": "Europe/Amsterdam",
        "last_updated": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }))
    .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn get(client: &reqwest::Client, url: &str, auth: &str) -> Duration {
    let t = Instant::now();
    let r = client
        .get(url)
        .header("Authorization", auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    assert!(body.len() > 1000);
    t.elapsed()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n: usize = std::env::var("BENCH_LOCATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let secs: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let (backend, url) = match std::env::var("BENCH_DATABASE_URL") {
        Ok(base) => {
            let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
            let mut c = diesel::PgConnection::establish(&base).unwrap();
            diesel::sql_query(format!("CREATE SCHEMA {schema}"))
                .execute(&mut c)
                .unwrap();
            let sep = if base.contains('?') { '&' } else { '?' };
            (
                "postgres",
                format!("{base}{sep}options=-csearch_path%3D{schema}"),
            )
        }
        Err(_) => (
            "sqlite",
            format!("sqlite://{}/bench.db", dir.path().display()),
        ),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let settings = Settings {
            http_addr: "127.0.0.1:0".parse().unwrap(),
            ocpp_addr: "127.0.0.1:0".parse().unwrap(),
            database_url: url,
            db_pool_size: 16,
            max_page_limit: 100,
            log_level: "warn".into(),
            ..Settings::default()
        };
        ocpi_hub::telemetry::init(ocpi_hub::config::LogFormat::Pretty, "warn");
        let app = tokio::task::spawn_blocking(move || Application::build(settings)).await.unwrap().unwrap();
        let port = app.port();
        let state = app.state();
        tokio::spawn(app.run_until_stopped());

        // A registered eMSP and its token.
        let token = state.keys.issue_token();
        let hash = ocpi_hub::keys::token_hash(&token);
        let sealed = state.keys.seal("unused").unwrap();
        state
            .db
            .write(move |c| {
                let p = platforms::create(c, &NewPlatform { name: "bench".into(), initiated_by: "PARTNER".into(), ..Default::default() }, &hash, KIND_ACCESS)?;
                let reg = Registration {
                    name: "bench".into(),
                    versions_url: "https://emsp.example/versions".into(),
                    version: "2.2.1".into(),
                    endpoints_json: "[]".into(),
                    their_token_sealed: sealed,
                    roles: vec![NewRole { role: "EMSP".into(), country_code: "DE".into(), party_id: "BEN".into(), business_details: "{\"name\":\"b\"}".into() }],
                };
                platforms::complete_registration(c, &p.id, &reg, None)
            })
            .await
            .unwrap();

        let t = Instant::now();
        let rows: Vec<_> = (0..n).map(|i| row_of(&location(i), &Source::default(), chrono::Utc::now().naive_utc()).unwrap()).collect();
        state
            .db
            .write(move |c| {
                for r in &rows {
                    ocpi_hub::db::locations::upsert(c, r, &[])?;
                }
                Ok(())
            })
            .await
            .unwrap();
        println!("{backend}: seeded {n} locations ({} EVSEs) in {:.1?}", 2 * n, t.elapsed());

        let auth = format!("Token {}", base64_encode(&token));
        let base = format!("http://127.0.0.1:{port}/ocpi/2.2.1/sender/locations");
        if let Ok(hold) = std::env::var("BENCH_SERVE_SECS") {
            // Serve for an external load generator (e.g. wrk) instead of measuring here.
            println!("serving {base}?offset=25000&limit=100 with Authorization: {auth}");
            tokio::time::sleep(Duration::from_secs(hold.parse().unwrap_or(60))).await;
            return;
        }
        let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
        let deepest = n - 100;

        // First page against deepest page.
        for _ in 0..20 {
            get(&client, &format!("{base}?offset=0&limit=100"), &auth).await;
        }
        let mut first = Vec::new();
        let mut deep = Vec::new();
        for _ in 0..100 {
            first.push(get(&client, &format!("{base}?offset=0&limit=100"), &auth).await);
            deep.push(get(&client, &format!("{base}?offset={deepest}&limit=100"), &auth).await);
        }
        first.sort();
        deep.sort();
        let (f, d) = (percentile(&first, 0.5), percentile(&deep, 0.5));
        println!("| {backend} | first page median {:.2} ms | deepest page (offset {deepest}) median {:.2} ms | ratio {:.2} |", ms(f), ms(d), d.as_secs_f64() / f.as_secs_f64());

        // Closed loop: 32 clients, random offsets, as fast as they go.
        let stop = Instant::now() + Duration::from_secs(secs);
        let lat = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (client, auth, base, lat) = (client.clone(), auth.clone(), base.clone(), lat.clone());
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                while Instant::now() < stop {
                    let off = rand::thread_rng().gen_range(0..=deepest / 100) * 100;
                    mine.push(get(&client, &format!("{base}?offset={off}&limit=100"), &auth).await);
                }
                lat.lock().unwrap().extend(mine);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut all = lat.lock().unwrap().clone();
        all.sort();
        println!(
            "| {backend} | closed loop, 32 clients, {secs} s | {:.0} req/s | p50 {:.2} ms | p99 {:.2} ms |",
            all.len() as f64 / secs as f64,
            ms(percentile(&all, 0.5)),
            ms(percentile(&all, 0.99))
        );

        // Open loop: 500 req/s on a fixed schedule, latency measured from the scheduled start.
        let rate = 500u64;
        let total = rate * secs;
        let start = Instant::now() + Duration::from_millis(100);
        let mut tasks = Vec::with_capacity(total as usize);
        for k in 0..total {
            let (client, auth, base) = (client.clone(), auth.clone(), base.clone());
            let at = start + Duration::from_micros(k * 1_000_000 / rate);
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until(at.into()).await;
                let off = rand::thread_rng().gen_range(0..=deepest / 100) * 100;
                get(&client, &format!("{base}?offset={off}&limit=100"), &auth).await;
                at.elapsed()
            }));
        }
        let mut open = Vec::new();
        for t in tasks {
            open.push(t.await.unwrap());
        }
        open.sort();
        println!(
            "| {backend} | open loop, {rate} req/s, {secs} s | {} requests | p50 {:.2} ms | p99 {:.2} ms |",
            open.len(),
            ms(percentile(&open, 0.5)),
            ms(percentile(&open, 0.99))
        );
    });
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}
