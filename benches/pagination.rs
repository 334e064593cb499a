//! Deep-page cost of the list endpoints: plain OFFSET against the keyset cursor the hub puts in
//! its `Link` headers. Seeds N rows (SQLite in a temp dir; PostgreSQL too when
//! `BENCH_DATABASE_URL` is set), then times one page of 100 at several depths.
//!
//! Run: `cargo bench --bench pagination` (N defaults to 200000; `BENCH_ROWS` overrides).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use diesel::{Connection, ExpressionMethods, RunQueryDsl};
use ocpi_hub::db::platforms::{count_roles, page_roles};
use ocpi_hub::db::schema::{platform_roles, platforms};
use ocpi_hub::db::{Db, PageQuery};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn seed(db: &Db, n: usize) {
    let mut conn = db.get().unwrap();
    let conn: &mut ocpi_hub::db::DbConnection = &mut conn;
    conn.transaction::<_, diesel::result::Error, _>(|c| {
        let now = chrono::Utc::now().naive_utc();
        diesel::insert_into(platforms::table)
            .values((
                platforms::id.eq("bench"),
                platforms::name.eq("bench"),
                platforms::state.eq("REGISTERED"),
                platforms::initiated_by.eq("PARTNER"),
                platforms::auth_base64.eq(true),
                platforms::store_and_forward.eq(true),
                platforms::created_at.eq(now),
                platforms::updated_at.eq(now),
            ))
            .execute(c)?;
        let base = chrono::NaiveDate::from_ymd_opt(2020, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        for i in 0..n {
            diesel::insert_into(platform_roles::table)
                .values((
                    platform_roles::id.eq(format!("r{i:08}")),
                    platform_roles::platform_id.eq("bench"),
                    platform_roles::role.eq("CPO"),
                    platform_roles::country_code.eq("DE"),
                    platform_roles::party_id.eq(format!("{:03}", i % 1000)),
                    platform_roles::business_details.eq("{\"name\":\"b\"}"),
                    platform_roles::active.eq(false),
                    platform_roles::last_updated
                        .eq(base + chrono::Duration::seconds((i / 2) as i64)),
                ))
                .execute(c)?;
        }
        Ok(())
    })
    .unwrap();
}

fn run(label: &str, url: &str, n: usize) {
    let db = Db::connect(url, 2).unwrap();
    ocpi_hub::db::migrations::run(&db).unwrap();
    let t = Instant::now();
    seed(&db, n);
    println!("{label}: seeded {n} rows in {:.1?}", t.elapsed());
    let mut conn = db.get().unwrap();
    let counts: Vec<Duration> = (0..21)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(
                count_roles(&mut conn, &PageQuery::default()).unwrap(),
                n as i64
            );
            t.elapsed()
        })
        .collect();
    println!(
        "{label}: X-Total-Count query median {:.2} ms (paid once per page, not included below)",
        median(counts).as_secs_f64() * 1e3
    );
    println!("| backend | depth | OFFSET median | cursor median | ratio |");
    println!("|---|---|---|---|---|");
    for depth in [0usize, n / 10, n / 2, n - 100] {
        let q = PageQuery {
            offset: depth as i64,
            limit: 100,
            ..Default::default()
        };
        let mut offset_times = Vec::new();
        let mut first_ids = None;
        for _ in 0..21 {
            let t = Instant::now();
            let rows = page_roles(&mut conn, &q).unwrap();
            offset_times.push(t.elapsed());
            first_ids = Some(rows.iter().map(|(r, _)| r.id.clone()).collect::<Vec<_>>());
        }
        // The cursor is the key of the row just before the page.
        let after = if depth == 0 {
            None
        } else {
            let prev = PageQuery {
                offset: depth as i64 - 1,
                limit: 1,
                ..Default::default()
            };
            let rows = page_roles(&mut conn, &prev).unwrap();
            Some((rows[0].0.last_updated, rows[0].0.id.clone()))
        };
        let kq = PageQuery { after, ..q.clone() };
        let mut cursor_times = Vec::new();
        for _ in 0..21 {
            let t = Instant::now();
            let rows = page_roles(&mut conn, &kq).unwrap();
            cursor_times.push(t.elapsed());
            assert_eq!(
                Some(rows.iter().map(|(r, _)| r.id.clone()).collect::<Vec<_>>()),
                first_ids,
                "same page"
            );
        }
        let (o, c) = (median(offset_times), median(cursor_times));
        println!(
            "| {label} | {depth} | {:.2} ms | {:.2} ms | {:.1}x |",
            o.as_secs_f64() * 1e3,
            c.as_secs_f64() * 1e3,
            o.as_secs_f64() / c.as_secs_f64()
        );
    }
}

fn main() {
    // `cargo test --benches` runs bench targets with --bench absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n: usize = std::env::var("BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().unwrap();
    run(
        "sqlite",
        &format!("sqlite://{}/bench.db", dir.path().display()),
        n,
    );
    if let Ok(base) = std::env::var("BENCH_DATABASE_URL") {
        let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
        let mut c = diesel::PgConnection::establish(&base).unwrap();
        diesel::sql_query(format!("CREATE SCHEMA {schema}"))
            .execute(&mut c)
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        run(
            "postgres",
            &format!("{base}{sep}options=-csearch_path%3D{schema}"),
            n,
        );
    }
}
