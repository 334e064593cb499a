//! `Application::build(settings)`: database, migrations, keys, bound port (0 works), routes.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, get, web};

use crate::config::Settings;
use crate::db::{self, Db};
use crate::error::AppError;
use crate::http;
use crate::keys::{HubKey, KeyRing, MasterSecret};
use crate::ocpi::client::OcpiClient;
use crate::state::AppState;

/// Open the database, apply migrations, load (or create) the keys.
pub fn open_database(settings: &Settings) -> Result<(Db, Arc<KeyRing>), AppError> {
    let db =
        Db::connect(&settings.database_url, settings.db_pool_size).map_err(AppError::internal)?;
    let applied = db::migrations::run(&db).map_err(AppError::internal)?;
    if !applied.is_empty() {
        tracing::info!(count = applied.len(), "migrations applied");
    }
    let keys = load_keys(settings, &db)?;
    Ok((db, Arc::new(keys)))
}

fn load_keys(settings: &Settings, db: &Db) -> Result<KeyRing, AppError> {
    let mut ring = Vec::new();
    if let Some(b64) = &settings.signing_key {
        let secret = MasterSecret::from_base64(b64).map_err(AppError::internal)?;
        ring.push(HubKey::new(secret.fingerprint(), &secret).map_err(AppError::internal)?);
    }
    let stored = if ring.is_empty() {
        db.write_blocking(|c| {
            db::keys::load_or_create(c, || {
                let s = MasterSecret::generate();
                (s.fingerprint(), s.to_base64())
            })
        })
    } else {
        db.get().and_then(|mut c| db::keys::all(&mut c))
    }
    .map_err(AppError::internal)?;
    for k in stored {
        if ring.iter().any(|r: &HubKey| r.kid == k.kid) {
            continue;
        }
        let secret = MasterSecret::from_base64(&k.secret).map_err(AppError::internal)?;
        ring.push(HubKey::new(k.kid, &secret).map_err(AppError::internal)?);
    }
    KeyRing::new(ring).map_err(AppError::internal)
}

/// Everything but the HTTP server: what the CLI needs too.
pub fn build_state(settings: Settings, public_url: String) -> Result<AppState, AppError> {
    let (db, keys) = open_database(&settings)?;
    let client = OcpiClient::new(
        keys.clone(),
        public_url.clone(),
        format!("{}*{}", settings.country_code, settings.party_id),
        settings.outbound_timeout_secs,
        settings.allow_private_targets,
    )
    .map_err(AppError::internal)?;
    let location_lists = Arc::new(crate::db::list_cache::ListCache::new(
        std::time::Duration::from_millis(settings.list_cache_ms),
        256,
    ));
    let ocpp_log = Arc::new(crate::ocpp::log::MessageLog::new(
        settings.ocpp_message_log_days,
    ));
    let ocpp_schemas = match &settings.ocpp_schema_dir {
        Some(dir) => Some(Arc::new(
            crate::ocpp::schema::Schemas::load(dir)
                .map_err(|e| AppError::internal(format!("HUB_OCPP_SCHEMA_DIR: {e}")))?,
        )),
        None => None,
    };
    match &ocpp_schemas {
        Some(s) => {
            tracing::info!(schemas = s.len(), dir = %s.dir.display(), "OCPP payloads validated against JSON schemas")
        }
        None => tracing::warn!(
            "HUB_OCPP_SCHEMA_DIR unset: OCPP payloads get the handlers' own checks only"
        ),
    }
    Ok(AppState {
        recent_authorizations: Default::default(),
        ocpp_schemas,
        ocpp_log,
        ocpp_tx: Default::default(),
        ocpp_chargers: Default::default(),
        ocpp_registry: Default::default(),
        location_lists,
        settings,
        db,
        keys,
        public_url,
        client,
        outbox_wakeup: Default::default(),
        recipients: Default::default(),
    })
}

pub fn default_public_url(settings: &Settings, port: u16) -> String {
    settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}:{}", settings.http_addr.ip(), port))
}

pub struct Application {
    port: u16,
    ocpp_port: u16,
    server: Server,
    ocpp_server: Server,
    state: web::Data<AppState>,
}

/// The OCPP listener's TLS configuration (security profile 2): the PEM certificate chain and
/// private key named by `HUB_OCPP_TLS_CERT` / `HUB_OCPP_TLS_KEY`; TLS 1.2 and 1.3.
fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<rustls::ServerConfig, AppError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let fail = |var: &str, e: &dyn std::fmt::Display| AppError::internal(format!("{var}: {e}"));
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| fail("HUB_OCPP_TLS_CERT", &e))?;
    if chain.is_empty() {
        return Err(fail("HUB_OCPP_TLS_CERT", &"no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| fail("HUB_OCPP_TLS_KEY", &e))?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| fail("HUB_OCPP_TLS_CERT", &e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| fail("HUB_OCPP_TLS_KEY", &e))
}

impl Application {
    pub fn build(settings: Settings) -> Result<Self, AppError> {
        let listener = TcpListener::bind(settings.http_addr).map_err(|e| {
            AppError::internal(format!("cannot listen on {}: {e}", settings.http_addr))
        })?;
        let port = listener.local_addr().map_err(AppError::internal)?.port();
        let public_url = default_public_url(&settings, port);
        let state = web::Data::new(build_state(settings, public_url)?);
        let data = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::QueryConfig::default().error_handler(http::query_error))
                .app_data(web::PathConfig::default().error_handler(http::path_error))
                .app_data(
                    web::JsonConfig::default()
                        .limit(data.settings.max_body_bytes)
                        .error_handler(http::json_error),
                )
                .wrap(from_fn(http::ids::middleware))
                .configure(routes)
                .default_service(web::to(http::fallback))
        })
        .listen(listener)
        .map_err(AppError::internal)?
        .run();
        let ocpp_listener = TcpListener::bind(state.settings.ocpp_addr).map_err(|e| {
            AppError::internal(format!(
                "cannot listen on {}: {e}",
                state.settings.ocpp_addr
            ))
        })?;
        let ocpp_port = ocpp_listener
            .local_addr()
            .map_err(AppError::internal)?
            .port();
        let data = state.clone();
        // No signal handling of its own: a SIGTERM stops the HTTP server, and
        // `run_until_stopped` then closes the charge points' connections and flushes their
        // state before this server stops.
        let ocpp_server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .configure(crate::ocpp::gateway::routes)
        })
        .disable_signals();
        let ocpp_server = match &state.settings.ocpp_tls {
            Some((cert, key)) => {
                let config = tls_config(cert, key)?;
                ocpp_server.listen_rustls_0_23(ocpp_listener, config)
            }
            None => ocpp_server.listen(ocpp_listener),
        }
        .map_err(AppError::internal)?
        .run();
        tracing::info!(port, ocpp_port, public_url = %state.public_url, "ocpi-hub listening");
        Ok(Self {
            port,
            ocpp_port,
            server,
            ocpp_server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The OCPP WebSocket listener's port.
    pub fn ocpp_port(&self) -> u16 {
        self.ocpp_port
    }

    /// Stops the HTTP server (and with it the push worker) when told.
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub fn ocpp_server_handle(&self) -> actix_web::dev::ServerHandle {
        self.ocpp_server.handle()
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serve HTTP and run the push worker until the server stops.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let worker = tokio::spawn(crate::push::worker::run(self.state.clone()));
        let state = self.state.clone();
        // The gateway's writers have connections of their own: they never queue behind the
        // request handlers for one, nor starve them.
        let log_writer = tokio::spawn(async move {
            state
                .ocpp_log
                .run(state.db.dedicated(2), state.settings.ocpp_message_log_days)
                .await
        });
        let state = self.state.clone();
        let tx_writer = tokio::spawn(async move {
            let cfg = crate::ocpp::bridge::BridgeSettings::of(&state);
            state
                .ocpp_tx
                .run(
                    state
                        .db
                        .dedicated_by_key(crate::ocpp::tx_batch::SHARDS as u32),
                    cfg,
                    state.outbox_wakeup_handle(),
                )
                .await
        });
        let state = self.state.clone();
        let charger_reads =
            tokio::spawn(async move { state.ocpp_chargers.run(state.db.clone()).await });
        let relay = tokio::spawn(crate::ocpp::relay::serve(self.state.clone()));
        let expiry = tokio::spawn(crate::ocpi::commands::service::expire_reservations(
            self.state.clone(),
        ));
        let ocpp = self.ocpp_server.handle();
        let ocpp_task = tokio::spawn(self.ocpp_server);
        let result = self.server.await;
        // No new charge point connections, then "going away" to the ones there are.
        ocpp.pause().await;
        self.state.ocpp_registry.close_all().await;
        // Their disconnects are enqueued as they close; then the writer stores everything.
        if !self
            .state
            .ocpp_registry
            .wait_idle(std::time::Duration::from_secs(5))
            .await
        {
            // Their tasks may end after the writer's last flush: record them now instead.
            let remaining = self.state.ocpp_registry.detach_remaining();
            tracing::warn!(
                connections = remaining.len(),
                "charge point connections still open at shutdown: recorded as disconnected"
            );
            for (id, version) in remaining {
                let event = crate::ocpp::log::ChargerEvent::Disconnected {
                    protocol: version.subprotocol(),
                };
                if let Err(e) = self.state.ocpp_log.charger(&id, event).await {
                    tracing::error!(error = %e, "connection state not stored");
                }
            }
        }
        if let Err(e) = self.state.ocpp_tx.flush().await {
            tracing::error!(error = %e, "OCPP transaction writes not flushed at shutdown");
        }
        if let Err(e) = self.state.ocpp_log.flush().await {
            tracing::error!(error = %e, "OCPP writes not flushed at shutdown");
        }
        worker.abort();
        log_writer.abort();
        tx_writer.abort();
        charger_reads.abort();
        relay.abort();
        expiry.abort();
        ocpp.stop(false).await;
        ocpp_task.abort();
        result
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    use crate::{admin, ocpi};
    cfg.service(ocpi::versions::versions)
        .service(ocpi::versions::version_details)
        .service(ocpi::credentials::get_credentials)
        .service(ocpi::credentials::post_credentials)
        .service(ocpi::credentials::put_credentials)
        .service(ocpi::credentials::delete_credentials)
        .service(ocpi::hubclientinfo::list)
        .service(admin::get_parties)
        .service(admin::post_party)
        .service(admin::post_connect)
        .service(admin::delete_party)
        .service(admin::patch_party)
        .service(admin::get_outbox)
        .service(admin::get_delivery)
        .service(admin::retry_delivery)
        .service(admin::discard_delivery)
        .service(admin::post_locations)
        .service(admin::post_tariffs)
        .service(ocpi::search::search)
        .service(admin::chargers::list)
        .service(admin::chargers::detail)
        .service(admin::chargers::create)
        .service(admin::chargers::start)
        .service(admin::chargers::stop)
        .service(admin::chargers::reset)
        .service(admin::chargers::availability)
        .service(admin::chargers::power)
        .service(admin::chargers::messages)
        .service(admin::chargers::raw_call)
        .service(admin::cdrs::credit)
        .service(admin::cdrs::usage)
        .service(admin::cdrs::export_csv)
        .service(health)
        .service(ready)
        .service(jwks)
        .service(openapi_json)
        .configure(ocpi::locations::receiver::routes)
        .configure(ocpi::locations::sender::routes)
        .configure(ocpi::tariffs::interfaces::routes)
        .configure(ocpi::tokens::interfaces::routes)
        .configure(ocpi::sessions::interfaces::routes)
        .configure(ocpi::cdrs::interfaces::routes)
        .configure(ocpi::commands::interfaces::routes);
}

/// Liveness: the process serves HTTP.
#[utoipa::path(tag = "operations", responses((status = 200, description = "{\"status\":\"ok\"}")))]
#[get("/health")]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the database answers.
#[utoipa::path(tag = "operations", responses((status = 200, description = "ready"), (status = 503, description = "database unavailable")))]
#[get("/ready")]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    if state.db.ping().await {
        HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"status": "database unavailable"}))
    }
}

/// The public keys that verify `X-Hub-Signature` (JWK Set, EdDSA / Ed25519).
#[utoipa::path(tag = "operations", responses((status = 200, description = "JWK Set")))]
#[get("/.well-known/jwks.json")]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(state.keys.jwks())
}

/// This OpenAPI document.
#[utoipa::path(tag = "operations", responses((status = 200, description = "OpenAPI 3.1 document")))]
#[get("/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(crate::openapi::document())
}
