//! Test harness: the real hub on port 0 with an isolated database (a temp SQLite file, or a
//! fresh PostgreSQL schema when `TEST_DATABASE_URL` is set), and OCPI partners faked by wiremock.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use diesel::{Connection, RunQueryDsl};
use ocpi_hub::config::Settings;
use ocpi_hub::startup::Application;
use ocpi_hub::state::AppState;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub struct TestApp {
    pub address: String,
    pub state: actix_web::web::Data<AppState>,
    pub http: reqwest::Client,
    pub admin_token: String,
    pub database_url: String,
    /// `ws://127.0.0.1:{port}` of the OCPP listener.
    pub ocpp_address: String,
    server: actix_web::dev::ServerHandle,
    _dir: tempfile::TempDir,
}

/// A database URL for one test: SQLite in `dir`, or a new schema on `TEST_DATABASE_URL`.
pub fn fresh_database_url(dir: &std::path::Path) -> String {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(base) if !base.is_empty() => {
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let mut conn =
                diesel::PgConnection::establish(&base).expect("connect TEST_DATABASE_URL");
            diesel::sql_query(format!("CREATE SCHEMA {schema}"))
                .execute(&mut conn)
                .expect("create schema");
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}options=-csearch_path%3D{schema}")
        }
        _ => format!("sqlite://{}/hub.db", dir.display()),
    }
}

pub fn on_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty())
}

/// The OCPP JSON schemas beside the repository (`../shared/ref/ocpp-schemas`), when present.
pub fn shared_ocpp_schemas() -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/ref/ocpp-schemas");
    dir.is_dir().then_some(dir)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = Settings {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        ocpp_addr: "127.0.0.1:0".parse().unwrap(),
        database_url: fresh_database_url(dir.path()),
        db_pool_size: 4,
        allow_private_targets: true,
        outbound_timeout_secs: 5,
        country_code: "NL".into(),
        party_id: "HUB".into(),
        ocpp_schema_dir: shared_ocpp_schemas(),
        ..Settings::default()
    };
    tweak(&mut s);
    let database_url = s.database_url.clone();
    let ocpp_scheme = if s.ocpp_tls.is_some() {
        "wss://localhost"
    } else {
        "ws://127.0.0.1"
    };
    let app = tokio::task::spawn_blocking(move || Application::build(s))
        .await
        .unwrap()
        .expect("hub starts");
    let port = app.port();
    let ocpp_port = app.ocpp_port();
    let state = app.state();
    let server = app.server_handle();
    tokio::spawn(app.run_until_stopped());
    let admin_token = state.keys.mint_admin("test", 600).unwrap();
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        state,
        http: reqwest::Client::new(),
        admin_token,
        database_url,
        ocpp_address: format!("{ocpp_scheme}:{ocpp_port}"),
        server,
        _dir: dir,
    }
}

pub fn b64(token: &str) -> String {
    format!("Token {}", STANDARD.encode(token))
}

impl TestApp {
    /// Stop the HTTP server and the push worker (the database stays).
    pub async fn stop(&self) {
        self.server.stop(false).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// GET with `Authorization: Token base64(token)`.
    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header("Authorization", b64(token))
            .send()
            .await
            .unwrap()
    }

    pub async fn send_json(
        &self,
        m: reqwest::Method,
        path: &str,
        token: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.http
            .request(m, self.url(path))
            .header("Authorization", b64(token))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn admin_post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(&self.admin_token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Create a pending partner through the admin API; returns (platform id, Token A).
    pub async fn register_party(&self, role: &str, cc: &str, pid: &str) -> (String, String) {
        let r = self
            .admin_post(
                "/admin/parties",
                &json!({"role": role, "country_code": cc, "party_id": pid, "name": format!("{pid} Ltd")}),
            )
            .await;
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["data"]["versions_url"], self.url("/ocpi/versions"));
        (
            v["data"]["platform_id"].as_str().unwrap().to_string(),
            v["data"]["token_a"].as_str().unwrap().to_string(),
        )
    }

    /// Run the whole inbound handshake for a partner served by `partner`; returns token C.
    pub async fn register_partner(
        &self,
        partner: &FakePartner,
        role: &str,
        cc: &str,
        pid: &str,
    ) -> String {
        let (_, token_a) = self.register_party(role, cc, pid).await;
        let r = self
            .send_json(
                reqwest::Method::POST,
                "/ocpi/2.2.1/credentials",
                &token_a,
                &partner.credentials(role, cc, pid),
            )
            .await;
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["status_code"], 1000, "{v}");
        v["data"]["token"].as_str().unwrap().to_string()
    }

    pub async fn parties(&self) -> Vec<Value> {
        self.admin_get("/admin/parties").await["data"]
            .as_array()
            .unwrap()
            .clone()
    }
}

/// An OCPI partner on wiremock that expects the hub to call it with `token`.
pub struct FakePartner {
    pub server: MockServer,
    pub token: String,
}

impl FakePartner {
    pub async fn start(token: &str) -> Self {
        let server = MockServer::start().await;
        let p = Self {
            server,
            token: token.to_string(),
        };
        p.mount_versions(&p.token.clone()).await;
        p
    }

    pub fn versions_url(&self) -> String {
        format!("{}/ocpi/versions", self.server.uri())
    }

    pub fn envelope(data: Value) -> Value {
        json!({"data": data, "status_code": 1000, "timestamp": "2026-01-01T00:00:00Z"})
    }

    /// Versions and 2.2.1 details, answered only to `Authorization: Token base64(token)`.
    pub async fn mount_versions(&self, token: &str) {
        let uri = self.server.uri();
        Mock::given(method("GET"))
            .and(path("/ocpi/versions"))
            .and(header("Authorization", b64(token).as_str()))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(Self::envelope(json!([
                    {"version": "2.1.1", "url": format!("{uri}/ocpi/2.1.1")},
                    {"version": "2.2.1", "url": format!("{uri}/ocpi/2.2.1")}
                ]))),
            )
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path("/ocpi/2.2.1"))
            .and(header("Authorization", b64(token).as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(Self::envelope(json!({
                "version": "2.2.1",
                "endpoints": [
                    {"identifier": "credentials", "role": "SENDER", "url": format!("{uri}/ocpi/2.2.1/credentials")},
                    {"identifier": "locations", "role": "RECEIVER", "url": format!("{uri}/ocpi/emsp/2.2.1/locations")},
                    {"identifier": "tariffs", "role": "RECEIVER", "url": format!("{uri}/ocpi/emsp/2.2.1/tariffs")},
                    {"identifier": "tokens", "role": "SENDER", "url": format!("{uri}/ocpi/emsp/2.2.1/tokens")},
                    {"identifier": "tokens", "role": "RECEIVER", "url": format!("{uri}/ocpi/cpo/2.2.1/tokens")},
                    {"identifier": "sessions", "role": "RECEIVER", "url": format!("{uri}/ocpi/emsp/2.2.1/sessions")},
                    {"identifier": "cdrs", "role": "RECEIVER", "url": format!("{uri}/ocpi/emsp/2.2.1/cdrs")},
                    {"identifier": "commands", "role": "RECEIVER", "url": format!("{uri}/ocpi/cpo/2.2.1/commands")},
                    {"identifier": "sessions", "role": "SENDER", "url": format!("{uri}/ocpi/cpo/2.2.1/sessions")}
                ]
            }))))
            .mount(&self.server)
            .await;
    }

    /// The credentials object this partner POSTs to the hub.
    pub fn credentials(&self, role: &str, cc: &str, pid: &str) -> Value {
        json!({
            "token": self.token,
            "url": self.versions_url(),
            "roles": [{"role": role, "country_code": cc, "party_id": pid,
                        "business_details": {"name": format!("{pid} Mobility"), "website": "https://example.com"}}]
        })
    }

    pub async fn requests(&self) -> Vec<wiremock::Request> {
        self.server.received_requests().await.unwrap_or_default()
    }
}

pub async fn body_json(r: reqwest::Response) -> Value {
    r.json().await.unwrap()
}
