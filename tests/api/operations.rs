//! Admin authentication, health, migrations, the OpenAPI document and the CLI.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::{body_json, fresh_database_url, on_postgres, spawn_app};

#[tokio::test]
async fn admin_api_refuses_missing_forged_expired_and_foreign_tokens() {
    let app = spawn_app().await;
    let url = app.url("/admin/parties");
    let r = app.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        body_json(r).await["status_message"]
            .as_str()
            .unwrap()
            .contains("Bearer")
    );
    // One character changed in the signature.
    let mut forged = app.admin_token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let expired = app.state.keys.mint_admin("test", -600).unwrap();
    let s = ocpi_hub::keys::MasterSecret::generate();
    let other =
        ocpi_hub::keys::KeyRing::new(vec![ocpi_hub::keys::HubKey::new("k".into(), &s).unwrap()])
            .unwrap();
    let foreign = other.mint_admin("test", 600).unwrap();
    // alg=none with the right claims.
    use base64::Engine;
    let enc = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!(
        "{}.{}.",
        enc(json!({"alg": "none", "typ": "JWT"})),
        enc(
            json!({"sub": "x", "iss": "ocpi-hub", "aud": "ocpi-hub-admin", "exp": 4102444800i64, "iat": 0, "jti": "j"})
        )
    );
    for (token, why) in [
        (forged, "invalid"),
        (expired, "expired"),
        (foreign, "unknown key"),
        (none, "malformed"),
    ] {
        let r = app.http.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 401, "{why}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let v = body_json(r).await;
        assert!(
            v["status_message"].as_str().unwrap().contains("refused"),
            "{v}"
        );
    }
    // An OCPI credentials token is no admin token.
    let (_, token_a) = app.register_party("EMSP", "NL", "ABC").await;
    let r = app
        .http
        .get(&url)
        .bearer_auth(&token_a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Invalid admin bodies are named.
    let r = app
        .admin_post(
            "/admin/parties",
            &json!({"role": "EMSP", "country_code": "NL", "party_id": "TOOLONG", "name": "x"}),
        )
        .await;
    let v = body_json(r).await;
    assert_eq!(v["status_code"], 2001);
    assert!(v["status_message"].as_str().unwrap().contains("party_id"));
}

#[tokio::test]
async fn health_ready_and_jwks() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.http.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["keys"][0]["kty"], "OKP");
    assert_eq!(v["keys"][0]["crv"], "Ed25519");
    assert!(v["keys"][0].get("d").is_none(), "no private part");
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/ocpi/2.2.1/credentials"].is_object());
}

fn migration_names(backend: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(format!(
        "{}/migrations/{backend}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
    .collect();
    v.sort();
    v
}

#[test]
fn migration_trees_match_and_apply_cleanly() {
    let sqlite = migration_names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, migration_names("postgres"));
    for name in &sqlite {
        for backend in ["sqlite", "postgres"] {
            for f in ["up.sql", "down.sql"] {
                let p = format!(
                    "{}/migrations/{backend}/{name}/{f}",
                    env!("CARGO_MANIFEST_DIR")
                );
                assert!(std::path::Path::new(&p).exists(), "{p}");
            }
        }
    }
    // Both apply (and re-apply as a no-op) on a fresh database of each backend available.
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec![format!("sqlite://{}/m.db", dir.path().display())];
    if on_postgres() {
        urls.push(fresh_database_url(dir.path()));
    }
    for url in urls {
        let db = ocpi_hub::db::Db::connect(&url, 2).unwrap();
        let applied = ocpi_hub::db::migrations::run(&db).unwrap();
        assert_eq!(applied.len(), sqlite.len(), "{url}");
        assert!(ocpi_hub::db::migrations::run(&db).unwrap().is_empty());
    }
}

#[test]
fn committed_openapi_document_is_current() {
    let path = format!("{}/openapi/openapi.json", env!("CARGO_MANIFEST_DIR"));
    let generated = ocpi_hub::openapi::document();
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test committed_openapi` or `cargo run -- openapi > openapi/openapi.json`"
    );
}

fn hub(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ocpi-hub"));
    c.args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("HUB_LOG_LEVEL", "warn");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn cli_registers_parties_and_mints_admin_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path());
    let env = [
        ("DATABASE_URL", db.as_str()),
        ("HUB_PUBLIC_URL", "https://hub.example"),
    ];
    let out = hub(
        dir.path(),
        &[
            "party",
            "register",
            "--role",
            "EMSP",
            "--country-code",
            "NL",
            "--party-id",
            "ABC",
            "--name",
            "ABC Mobility",
            "--json",
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["versions_url"], "https://hub.example/ocpi/versions");
    let token_a = v["token_a"].as_str().unwrap();
    assert!(token_a.len() <= 64);
    // The token never reaches the logs.
    assert!(!String::from_utf8_lossy(&out.stderr).contains(token_a));

    let out = hub(dir.path(), &["party", "list"], &env);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("PENDING") && text.contains("EMSP NL/ABC"),
        "{text}"
    );
    assert!(!text.contains(token_a));

    let out = hub(dir.path(), &["admin-token"], &env);
    assert!(out.status.success());
    let jwt = String::from_utf8(out.stdout).unwrap();
    assert_eq!(jwt.lines().count(), 1);
    assert_eq!(jwt.trim().split('.').count(), 3);

    // A bad role or an invalid setting: exit 1, one line naming the culprit.
    let out = hub(
        dir.path(),
        &[
            "party",
            "register",
            "--role",
            "DRIVER",
            "--country-code",
            "NL",
            "--party-id",
            "ABC",
            "--name",
            "x",
        ],
        &env,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--role"));
    let out = hub(
        dir.path(),
        &["migrate"],
        &[
            ("DATABASE_URL", db.as_str()),
            ("HUB_HTTP_ADDR", "not-an-address"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("HUB_HTTP_ADDR"), "{err}");
}

#[test]
fn the_default_database_is_sqlite_under_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = hub(dir.path(), &["migrate"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("data/ocpi-hub.db").exists());
}

/// A pooled connection that answered a moment ago is handed out without a test query; when the
/// server has dropped it meanwhile, the one use that finds out fails with a lost-connection
/// error and the pool replaces the connection instead of handing it out again.
#[tokio::test]
async fn a_connection_the_database_dropped_is_replaced_after_the_use_that_found_out() {
    if !on_postgres() {
        // Only a server can drop a connection; SQLite has none.
        return;
    }
    use diesel::RunQueryDsl;
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(dir.path());
    let db = ocpi_hub::db::Db::connect(&url, 1).unwrap();
    let backend_pid = |c: &mut ocpi_hub::db::DbConnection| {
        Ok(
            diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>(
                "pg_backend_pid()",
            ))
            .get_result::<i32>(c)?,
        )
    };
    let first = db.read(backend_pid).await.unwrap();
    let other = ocpi_hub::db::Db::connect(&url, 1).unwrap();
    other
        .read(move |c| {
            // Waits (up to 5 s) until that backend has ended.
            diesel::sql_query(format!("SELECT pg_terminate_backend({first}, 5000)")).execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
    let err = db.read(backend_pid).await.unwrap_err();
    assert!(err.is_connection_lost(), "{err}");
    let second = db.read(backend_pid).await.unwrap();
    assert_ne!(first, second);
    // And the new connection keeps serving.
    assert_eq!(db.read(backend_pid).await.unwrap(), second);
}
