//! The operator API for charge points, under `/api/chargers` (admin JWT).

use actix_web::{get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::db::chargers::{self, Charger};
use crate::error::AppError;
use crate::http::auth::Admin;
use crate::http::envelope::OcpiResponse;
use crate::http::json::OcpiJson;
use crate::ocpi::types::DateTime;
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChargerView {
    pub id: String,
    pub location_id: Option<String>,
    pub enabled: bool,
    /// Connected to this hub instance now.
    pub online: bool,
    /// `ocpp1.6` or `ocpp2.0.1` (last negotiated).
    pub protocol: Option<String>,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    #[schema(value_type = Option<String>)]
    pub last_boot_at: Option<DateTime>,
    #[schema(value_type = Option<String>)]
    pub last_heartbeat_at: Option<DateTime>,
    #[schema(value_type = Option<String>)]
    pub last_seen_at: Option<DateTime>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConnectionEventView {
    /// connected, reconnected, disconnected, booted.
    pub event: String,
    pub protocol: Option<String>,
    pub detail: Option<String>,
    #[schema(value_type = String)]
    pub at: DateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChargerDetail {
    #[serde(flatten)]
    pub charger: ChargerView,
    /// Newest first, at most 100.
    pub connection_log: Vec<ConnectionEventView>,
}

fn view(state: &AppState, c: Charger) -> ChargerView {
    ChargerView {
        online: state.ocpp_registry.is_connected(&c.id),
        id: c.id,
        location_id: c.location_id,
        enabled: c.enabled,
        protocol: c.protocol,
        vendor: c.vendor,
        model: c.model,
        firmware: c.firmware,
        last_boot_at: c.last_boot_at.map(DateTime::from_naive),
        last_heartbeat_at: c.last_heartbeat_at.map(DateTime::from_naive),
        last_seen_at: c.last_seen_at.map(DateTime::from_naive),
    }
}

/// Every charge point with its online state.
#[utoipa::path(
    tag = "chargers",
    responses((status = 200, description = "Envelope with the charge points", body = Vec<ChargerView>),
               (status = 401, description = "Missing, forged or expired admin token")),
    security(("admin_jwt" = []))
)]
#[get("/api/chargers")]
pub async fn list(
    state: web::Data<AppState>,
    _a: Admin,
) -> Result<OcpiResponse<Vec<ChargerView>>, AppError> {
    let rows = state.db.read(chargers::list).await?;
    Ok(OcpiResponse::ok(
        rows.into_iter().map(|c| view(&state, c)).collect(),
    ))
}

/// One charge point with its connection log.
#[utoipa::path(
    tag = "chargers",
    params(("id" = String, Path, description = "charge point id")),
    responses((status = 200, description = "Envelope with the charge point", body = ChargerDetail),
               (status = 404, description = "Unknown charge point")),
    security(("admin_jwt" = []))
)]
#[get("/api/chargers/{id}")]
pub async fn detail(
    state: web::Data<AppState>,
    _a: Admin,
    id: web::Path<String>,
) -> Result<OcpiResponse<ChargerDetail>, AppError> {
    let id = id.into_inner();
    let lookup = id.clone();
    let (c, log) = state
        .db
        .read(move |conn| {
            Ok((
                chargers::get(conn, &lookup)?,
                chargers::connection_log(conn, &lookup, 100)?,
            ))
        })
        .await?;
    let c = c.ok_or_else(|| AppError::NotFound(format!("no charge point {id}")))?;
    Ok(OcpiResponse::ok(ChargerDetail {
        charger: view(&state, c),
        connection_log: log
            .into_iter()
            .map(|e| ConnectionEventView {
                event: e.event,
                protocol: e.protocol,
                detail: e.detail,
                at: DateTime::from_naive(e.at),
            })
            .collect(),
    }))
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
pub struct NewCharger {
    pub id: String,
    /// 16 to 40 printable ASCII characters (security profile 1).
    pub password: String,
    pub location_id: Option<String>,
}

/// Register a charge point (what `ocpi-hub charger add` does).
#[utoipa::path(
    tag = "chargers",
    request_body = NewCharger,
    responses((status = 201, description = "Envelope with the charge point", body = ChargerView),
               (status = 200, description = "OCPI 2001: invalid id or password, or the id exists")),
    security(("admin_jwt" = []))
)]
#[post("/api/chargers")]
pub async fn create(
    state: web::Data<AppState>,
    _a: Admin,
    body: OcpiJson<NewCharger>,
) -> Result<OcpiResponse<ChargerView>, AppError> {
    let n = body.into_inner();
    crate::ocpp::gateway::add_charger(&state, &n.id, &n.password, n.location_id.as_deref()).await?;
    let id = n.id.clone();
    let c = state
        .db
        .read(move |conn| chargers::get(conn, &id))
        .await?
        .ok_or_else(|| AppError::internal("charge point vanished"))?;
    Ok(OcpiResponse::created(view(&state, c)))
}
