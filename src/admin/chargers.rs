//! The operator API for charge points, under `/api/chargers` (admin JWT).

use actix_web::{get, patch, post, web};
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
    /// Connected to this hub instance, or to another one on the same database.
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
        // Connected here, or (as another instance recorded) elsewhere.
        online: state.ocpp_registry.is_connected(&c.id) || c.connected,
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

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
pub struct StartRequest {
    /// The driver's token (1.6 idTag, 2.0.1 idToken of type Central).
    #[validate(length(min = 1, max = 36, message = "must be 1 to 36 characters"))]
    #[serde(rename = "idToken")]
    pub id_token: String,
    /// EVSE (1.6: connector) to start on; the charge point chooses when absent.
    #[serde(rename = "evseId")]
    pub evse_id: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
pub struct StopRequest {
    #[validate(length(min = 1, max = 36, message = "must be 1 to 36 characters"))]
    #[serde(rename = "transactionId")]
    pub transaction_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
pub struct ResetRequest {
    /// `Soft`/`Hard` (1.6), `Immediate`/`OnIdle` (2.0.1); the other version's word is mapped.
    #[serde(rename = "type")]
    pub reset_type: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
pub struct AvailabilityRequest {
    /// EVSE (1.6: connector); 0 or absent: the whole charge point.
    #[serde(rename = "evseId")]
    pub evse_id: Option<u32>,
    pub operative: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
pub struct PowerRequest {
    /// Maximum power of the whole charge point, kW (a ChargePointMax / ChargingStationMax profile).
    #[serde(rename = "maxPowerKw")]
    #[validate(range(
        exclusive_min = 0.0,
        max = 10000.0,
        message = "must be above 0 and at most 10000"
    ))]
    pub max_power_kw: f64,
}

/// The charge point's answer to an operator command.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CommandAnswer {
    pub action: String,
    /// The CALLRESULT payload as the charge point sent it.
    pub response: serde_json::Value,
}

async fn send(
    state: &AppState,
    id: &str,
    action: &str,
    payload: serde_json::Value,
) -> Result<OcpiResponse<CommandAnswer>, AppError> {
    use crate::http::envelope::status;
    use crate::ocpp::gateway::CallError;
    match crate::ocpp::relay::call(state, id, action, &payload).await {
        Ok(response) => Ok(OcpiResponse::ok(CommandAnswer {
            action: action.to_string(),
            response,
        })),
        Err(e @ CallError::NotConnected(_)) => Err(AppError::ocpi(
            status::HUB_CONNECTION_PROBLEM,
            e.to_string(),
        )),
        Err(e @ CallError::Timeout(_)) => Err(AppError::ocpi(status::HUB_TIMEOUT, e.to_string())),
        Err(e @ CallError::Invalid(_)) => Err(AppError::invalid(e.to_string())),
        Err(e) => Err(AppError::ocpi(status::HUB_GENERIC_ERROR, e.to_string())),
    }
}

async fn version_of(state: &AppState, id: &str) -> Result<crate::ocpp::frame::Version, AppError> {
    crate::ocpp::relay::version(state, id).await.ok_or_else(|| {
        AppError::ocpi(
            crate::http::envelope::status::HUB_CONNECTION_PROBLEM,
            format!("charge point {id} is not connected"),
        )
    })
}

/// Start a charging session (1.6 RemoteStartTransaction, 2.0.1 RequestStartTransaction).
#[utoipa::path(
    tag = "chargers",
    params(("id" = String, Path, description = "charge point id")),
    request_body = StartRequest,
    responses((status = 200, description = "Envelope with the charge point's answer; OCPI 4003 when it is not connected, 4002 when it does not answer in time", body = CommandAnswer)),
    security(("admin_jwt" = []))
)]
#[post("/api/chargers/{id}/start")]
pub async fn start(
    state: web::Data<AppState>,
    _a: Admin,
    id: web::Path<String>,
    body: OcpiJson<StartRequest>,
) -> Result<OcpiResponse<CommandAnswer>, AppError> {
    let (id, b) = (id.into_inner(), body.into_inner());
    let v = version_of(&state, &id).await?;
    // The same calls as an OCPI START_SESSION; the operator's token is a central one.
    let remote_start_id = i64::from(rand::random::<u32>() >> 1);
    let (action, p) = crate::ocpi::commands::service::start_payload(
        v,
        &b.id_token,
        crate::ocpi::tokens::model::TokenType::AppUser,
        b.evse_id.map(i64::from),
        remote_start_id,
    );
    send(&state, &id, action, p).await
}

/// Stop a transaction (1.6 RemoteStopTransaction, 2.0.1 RequestStopTransaction).
#[utoipa::path(
    tag = "chargers",
    params(("id" = String, Path, description = "charge point id")),
    request_body = StopRequest,
    responses((status = 200, description = "Envelope with the charge point's answer", body = CommandAnswer)),
    security(("admin_jwt" = []))
)]
#[post("/api/chargers/{id}/stop")]
pub async fn stop(
    state: web::Data<AppState>,
    _a: Admin,
    id: web::Path<String>,
    body: OcpiJson<StopRequest>,
) -> Result<OcpiResponse<CommandAnswer>, AppError> {
    let (id, b) = (id.into_inner(), body.into_inner());
    let v = version_of(&state, &id).await?;
    let (action, p) = crate::ocpi::commands::service::stop_payload(v, &b.transaction_id)
        .ok_or_else(|| {
            AppError::invalid("field `transactionId`: OCPP 1.6 transaction ids are integers")
        })?;
    send(&state, &id, action, p).await
}

/// Reset the charge point.
#[utoipa::path(
    tag = "chargers",
    params(("id" = String, Path, description = "charge point id")),
    request_body = ResetRequest,
    responses((status = 200, description = "Envelope with the charge point's answer", body = CommandAnswer)),
    security(("admin_jwt" = []))
)]
#[post("/api/chargers/{id}/reset")]
pub async fn reset(
    state: web::Data<AppState>,
    _a: Admin,
    id: web::Path<String>,
    body: OcpiJson<ResetRequest>,
) -> Result<OcpiResponse<CommandAnswer>, AppError> {
    use crate::ocpp::frame::Version;
    let (id, b) = (id.into_inner(), body.into_inner());
    let hard = matches!(b.reset_type.as_deref(), Some("Hard" | "Immediate"));
    let p = match version_of(&state, &id).await? {
        Version::V16 => serde_json::json!({"type": if hard { "Hard" } else { "Soft" }}),
        Version::V201 => serde_json::json!({"type": if hard { "Immediate" } else { "OnIdle" }}),
    };
    send(&state, &id, "Reset", p).await
}

/// Make the charge point or one EVSE operative or inoperative.
#[utoipa::path(
    tag = "chargers",
    params(("id" = String, Path, description = "charge point id")),
    request_body = AvailabilityRequest,
    responses((status = 200, description = "Envelope with the charge point's answer", body = CommandAnswer)),
    security(("admin_jwt" = []))
)]
#[post("/api/chargers/{id}/availability")]
pub async fn availability(
    state: web::Data<AppState>,
    _a: Admin,
    id: web::Path<String>,
    body: OcpiJson<AvailabilityRequest>,
) -> Result<OcpiResponse<CommandAnswer>, AppError> {
    use crate::ocpp::frame::Version;
    let (id, b) = (id.into_inner(), body.into_inner());
    let evse = b.evse_id.unwrap_or(0);
    let p = match version_of(&state, &id).await? {
        Version::V16 => {
            serde_json::json!({"connectorId": evse, "type": if b.operative { "Operative" } else { "Inoperative" }})
        }
        Version::V201 => {
            let mut p = serde_json::json!({"operationalStatus": if b.operative { "Operative" } else { "Inoperative" }});
            if evse > 0 {
                p["evse"] = serde_json::json!({"id": evse});
            }
            p
        }
    };
    send(&state, &id, "ChangeAvailability", p).await
}

/// Cap the charge point's power (SetChargingProfile with a ChargePointMax /
/// ChargingStationMax profile, in W, valid until replaced).
#[utoipa::path(
    tag = "chargers",
    params(("id" = String, Path, description = "charge point id")),
    request_body = PowerRequest,
    responses((status = 200, description = "Envelope with the charge point's answer", body = CommandAnswer)),
    security(("admin_jwt" = []))
)]
#[patch("/api/chargers/{id}/power")]
pub async fn power(
    state: web::Data<AppState>,
    _a: Admin,
    id: web::Path<String>,
    body: OcpiJson<PowerRequest>,
) -> Result<OcpiResponse<CommandAnswer>, AppError> {
    use crate::ocpp::frame::Version;
    let (id, b) = (id.into_inner(), body.into_inner());
    let watts = (b.max_power_kw * 1000.0).round();
    let schedule = serde_json::json!({"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": watts}]});
    let p = match version_of(&state, &id).await? {
        Version::V16 => serde_json::json!({"connectorId": 0, "csChargingProfiles": {
            "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "ChargePointMaxProfile",
            "chargingProfileKind": "Absolute", "chargingSchedule": schedule}}),
        Version::V201 => {
            let mut sch = schedule;
            sch["id"] = 1.into();
            serde_json::json!({"evseId": 0, "chargingProfile": {
                "id": 1, "stackLevel": 0, "chargingProfilePurpose": "ChargingStationMaxProfile",
                "chargingProfileKind": "Absolute", "chargingSchedule": [sch]}})
        }
    };
    send(&state, &id, "SetChargingProfile", p).await
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageView {
    /// `IN` (from the charge point) or `OUT`.
    pub direction: String,
    /// 2 CALL, 3 CALLRESULT, 4 CALLERROR, 0 unreadable.
    pub message_type: i64,
    pub message_id: String,
    pub action: Option<String>,
    /// The frame as sent or received.
    pub message: serde_json::Value,
    #[schema(value_type = String)]
    pub at: DateTime,
}

/// The OCPP message log of a charge point, both directions, oldest first (paginated like OCPI
/// lists: `date_from`, `date_to`, `offset`, `limit`; `X-Total-Count`, `Link`).
#[utoipa::path(
    tag = "chargers",
    params(("id" = String, Path, description = "charge point id"),
        ("date_from" = Option<String>, Query, description = "at >= date_from"),
        ("date_to" = Option<String>, Query, description = "at < date_to"),
        ("offset" = Option<u64>, Query, description = "first message, default 0"),
        ("limit" = Option<u64>, Query, description = "page size, capped by X-Limit")),
    responses((status = 200, description = "Envelope with a page of messages", body = Vec<MessageView>)),
    security(("admin_jwt" = []))
)]
#[get("/api/chargers/{id}/messages")]
pub async fn messages(
    state: web::Data<AppState>,
    _a: Admin,
    id: web::Path<String>,
    page: crate::http::pagination::Pagination,
) -> Result<OcpiResponse<Vec<MessageView>>, AppError> {
    let id = id.into_inner();
    let q = page.query.clone();
    let (rows, total) = state
        .db
        .read(move |c| crate::db::message_log::page(c, &id, &q))
        .await?;
    let items = rows
        .into_iter()
        .map(|m| MessageView {
            message: serde_json::from_str(&m.payload)
                .unwrap_or(serde_json::Value::String(m.payload)),
            direction: m.direction,
            message_type: m.message_type,
            message_id: m.message_id,
            action: m.action,
            at: DateTime::from_naive(m.at),
        })
        .collect();
    Ok(page.respond(items, total, None))
}

/// The calls a CSMS may send, per version.
const CALLS_16: &[&str] = &[
    "CancelReservation",
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "ClearChargingProfile",
    "DataTransfer",
    "GetCompositeSchedule",
    "GetConfiguration",
    "GetDiagnostics",
    "GetLocalListVersion",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "TriggerMessage",
    "UnlockConnector",
    "UpdateFirmware",
];
const CALLS_201: &[&str] = &[
    "CancelReservation",
    "CertificateSigned",
    "ChangeAvailability",
    "ClearCache",
    "ClearChargingProfile",
    "ClearDisplayMessage",
    "ClearVariableMonitoring",
    "CostUpdated",
    "CustomerInformation",
    "DataTransfer",
    "DeleteCertificate",
    "GetBaseReport",
    "GetChargingProfiles",
    "GetCompositeSchedule",
    "GetDisplayMessages",
    "GetInstalledCertificateIds",
    "GetLocalListVersion",
    "GetLog",
    "GetMonitoringReport",
    "GetReport",
    "GetTransactionStatus",
    "GetVariables",
    "InstallCertificate",
    "RequestStartTransaction",
    "RequestStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "SetDisplayMessage",
    "SetMonitoringBase",
    "SetMonitoringLevel",
    "SetNetworkProfile",
    "SetVariableMonitoring",
    "SetVariables",
    "TriggerMessage",
    "UnlockConnector",
    "UnpublishFirmware",
    "UpdateFirmware",
];

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
pub struct RawCall {
    /// An action the charge point's version defines for the CSMS (e.g. `UnlockConnector`,
    /// `GetConfiguration`, `TriggerMessage`, `GetVariables`).
    pub action: String,
    /// The payload exactly as the version's schema wants it.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// Send any call of the charge point's version (the escape hatch for calls without a
/// dedicated endpoint); answers with the charge point's CALLRESULT payload.
#[utoipa::path(
    tag = "chargers",
    params(("id" = String, Path, description = "charge point id")),
    request_body = RawCall,
    responses((status = 200, description = "Envelope with the charge point's answer (2001 for an action the version does not define)", body = CommandAnswer)),
    security(("admin_jwt" = []))
)]
#[post("/api/chargers/{id}/call")]
pub async fn raw_call(
    state: web::Data<AppState>,
    _a: Admin,
    id: web::Path<String>,
    body: OcpiJson<RawCall>,
) -> Result<OcpiResponse<CommandAnswer>, AppError> {
    use crate::ocpp::frame::Version;
    let (id, b) = (id.into_inner(), body.into_inner());
    let v = version_of(&state, &id).await?;
    let allowed = match v {
        Version::V16 => CALLS_16,
        Version::V201 => CALLS_201,
    };
    if !allowed.contains(&b.action.as_str()) {
        return Err(AppError::invalid(format!(
            "field `action`: {} is not a call of {}",
            b.action,
            v.subprotocol()
        )));
    }
    if !b.payload.is_object() {
        return Err(AppError::invalid("field `payload`: must be a JSON object"));
    }
    send(&state, &id, &b.action, b.payload).await
}
