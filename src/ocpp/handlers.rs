//! What the gateway answers to charge points: BootNotification, Heartbeat and
//! StatusNotification of OCPP 1.6 and 2.0.1. A status change of an EVSE of the hub's own
//! locations becomes an OCPI EVSE status, stored and pushed to every eMSP.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::db::chargers;
use crate::ocpi::locations::service::{self, LocationRef, Op, Source, Target};
use crate::ocpi::types::DateTime;
use crate::state::AppState;

use super::frame::{ErrorKind, RpcError, Version, classify_serde};
use super::log::{ChargerEvent, EvseStatus};

/// The context of one connection.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    /// The same state, for work that outlives the message (EVSE status writes).
    pub shared: &'a std::sync::Arc<AppState>,
    pub charger_id: &'a str,
    pub version: Version,
    /// The registered charge point; None when unknown ones are let in (development).
    pub known: Option<chargers::Charger>,
}

fn payload<T: serde::de::DeserializeOwned>(id: &str, v: Value) -> Result<T, RpcError> {
    serde_json::from_value(v).map_err(|e| RpcError::new(id, classify_serde(&e), e.to_string()))
}

fn max_len(id: &str, field: &str, v: &str, max: usize) -> Result<(), RpcError> {
    if v.chars().count() > max {
        return Err(RpcError::new(
            id,
            ErrorKind::PropertyConstraint,
            format!("{field} is longer than {max} characters"),
        ));
    }
    Ok(())
}

fn internal(id: &str, e: impl std::fmt::Display) -> RpcError {
    tracing::error!(error = %e, "OCPP handler failed");
    RpcError::new(id, ErrorKind::Internal, "internal error")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Boot16 {
    charge_point_vendor: String,
    charge_point_model: String,
    firmware_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Station201 {
    model: String,
    vendor_name: String,
    firmware_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Boot201 {
    charging_station: Station201,
    reason: BootReason201,
}

#[derive(Deserialize)]
enum BootReason201 {
    ApplicationReset,
    FirmwareUpdate,
    LocalReset,
    PowerUp,
    RemoteReset,
    ScheduledReset,
    Triggered,
    Unknown,
    Watchdog,
}

#[derive(Deserialize, Clone, Copy)]
enum Status16 {
    Available,
    Preparing,
    Charging,
    SuspendedEVSE,
    SuspendedEV,
    Finishing,
    Reserved,
    Unavailable,
    Faulted,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusNotification16 {
    connector_id: u32,
    #[allow(dead_code)]
    error_code: ErrorCode16,
    status: Status16,
    timestamp: Option<String>,
}

#[derive(Deserialize)]
#[allow(clippy::enum_variant_names)]
enum ErrorCode16 {
    ConnectorLockFailure,
    EVCommunicationError,
    GroundFailure,
    HighTemperature,
    InternalError,
    LocalListConflict,
    NoError,
    OtherError,
    OverCurrentFailure,
    PowerMeterFailure,
    PowerSwitchFailure,
    ReaderFailure,
    ResetFailure,
    UnderVoltage,
    OverVoltage,
    WeakSignal,
}

#[derive(Deserialize, Clone, Copy)]
enum Status201 {
    Available,
    Occupied,
    Reserved,
    Unavailable,
    Faulted,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusNotification201 {
    timestamp: String,
    connector_status: Status201,
    evse_id: u32,
    #[allow(dead_code)]
    connector_id: u32,
}

/// Answer one CALL: the CALLRESULT payload, or the CALLERROR to send.
pub async fn handle(ctx: &Ctx<'_>, id: &str, action: &str, p: Value) -> Result<Value, RpcError> {
    if let Some(answer) = super::transactions::handle(ctx, id, action, &p).await {
        return answer;
    }
    match (ctx.version, action) {
        (Version::V16, "BootNotification") => {
            let b: Boot16 = payload(id, p)?;
            max_len(id, "chargePointVendor", &b.charge_point_vendor, 20)?;
            max_len(id, "chargePointModel", &b.charge_point_model, 20)?;
            let status = boot(
                ctx,
                id,
                &b.charge_point_vendor,
                &b.charge_point_model,
                b.firmware_version.as_deref(),
            )
            .await?;
            Ok(
                json!({"status": status, "currentTime": DateTime::now().to_string(), "interval": ctx.state.settings.ocpp_heartbeat_secs}),
            )
        }
        (Version::V201, "BootNotification") => {
            let b: Boot201 = payload(id, p)?;
            let _ = b.reason;
            max_len(id, "chargingStation.model", &b.charging_station.model, 20)?;
            max_len(
                id,
                "chargingStation.vendorName",
                &b.charging_station.vendor_name,
                50,
            )?;
            let status = boot(
                ctx,
                id,
                &b.charging_station.vendor_name,
                &b.charging_station.model,
                b.charging_station.firmware_version.as_deref(),
            )
            .await?;
            Ok(
                json!({"status": status, "currentTime": DateTime::now().to_string(), "interval": ctx.state.settings.ocpp_heartbeat_secs}),
            )
        }
        (_, "Heartbeat") => {
            if let Some(c) = &ctx.known {
                ctx.state
                    .ocpp_log
                    .charger(&c.id, ChargerEvent::Heartbeat)
                    .await
                    .map_err(|e| internal(id, e))?;
            }
            Ok(json!({"currentTime": DateTime::now().to_string()}))
        }
        (Version::V16, "StatusNotification") => {
            let s: StatusNotification16 = payload(id, p)?;
            let ocpi = match s.status {
                Status16::Available => "AVAILABLE",
                Status16::Preparing
                | Status16::Charging
                | Status16::SuspendedEV
                | Status16::SuspendedEVSE
                | Status16::Finishing => "CHARGING",
                Status16::Reserved => "RESERVED",
                Status16::Unavailable => "INOPERATIVE",
                Status16::Faulted => "OUTOFORDER",
            };
            // Connector 0 is the charge point as a whole: no EVSE of its own.
            if s.connector_id > 0 {
                evse_status(ctx, s.connector_id, ocpi, s.timestamp.as_deref()).await;
            }
            Ok(json!({}))
        }
        (Version::V201, "StatusNotification") => {
            let s: StatusNotification201 = payload(id, p)?;
            let ocpi = match s.connector_status {
                Status201::Available => "AVAILABLE",
                Status201::Occupied => "CHARGING",
                Status201::Reserved => "RESERVED",
                Status201::Unavailable => "INOPERATIVE",
                Status201::Faulted => "OUTOFORDER",
            };
            evse_status(ctx, s.evse_id, ocpi, Some(&s.timestamp)).await;
            Ok(json!({}))
        }
        // Notifications a real charge point sends: acknowledged; the message log keeps them.
        (_, "DataTransfer") => Ok(json!({"status": "UnknownVendorId"})),
        (
            Version::V16,
            "FirmwareStatusNotification"
            | "DiagnosticsStatusNotification"
            | "SecurityEventNotification"
            | "LogStatusNotification"
            | "SignedFirmwareStatusNotification",
        )
        | (
            Version::V201,
            "FirmwareStatusNotification"
            | "LogStatusNotification"
            | "SecurityEventNotification"
            | "NotifyEvent"
            | "NotifyReport"
            | "NotifyMonitoringReport"
            | "NotifyChargingLimit"
            | "ClearedChargingLimit"
            | "ReportChargingProfiles"
            | "NotifyDisplayMessages"
            | "NotifyCustomerInformation"
            | "PublishFirmwareStatusNotification"
            | "ReservationStatusUpdate",
        ) => Ok(json!({})),
        _ => Err(RpcError::new(
            id,
            ErrorKind::NotImplemented,
            format!("{action} is not implemented by this gateway yet"),
        )),
    }
}

/// Accepted for a registered, enabled charge point; Rejected when disabled; Pending for an
/// unknown one let in for development.
async fn boot(
    ctx: &Ctx<'_>,
    id: &str,
    vendor: &str,
    model: &str,
    firmware: Option<&str>,
) -> Result<&'static str, RpcError> {
    let Some(c) = &ctx.known else {
        return Ok("Pending");
    };
    // Stored by the gateway's writer in its next batch: the answer does not wait for it.
    let event = ChargerEvent::Booted {
        vendor: vendor.to_string(),
        model: model.to_string(),
        firmware: firmware.map(str::to_string),
    };
    ctx.state
        .ocpp_log
        .charger(&c.id, event)
        .await
        .map_err(|e| internal(id, e))?;
    let enabled = c.enabled;
    Ok(if enabled { "Accepted" } else { "Rejected" })
}

/// Store the new OCPI status of EVSE `{charger}-{evse}` of the charger's location: queued (see
/// [`super::log::StatusQueue`]), so that the answer does not wait for the write.
async fn evse_status(ctx: &Ctx<'_>, evse: u32, status: &str, at: Option<&str>) {
    let Some(location_id) = ctx.known.as_ref().and_then(|c| c.location_id.clone()) else {
        return;
    };
    let ts = at
        .and_then(|t| DateTime::parse(t).ok())
        .unwrap_or_else(DateTime::now);
    let update = EvseStatus {
        charger_id: ctx.charger_id.to_string(),
        location_id,
        evse_uid: format!("{}-{}", ctx.charger_id, evse),
        patch: json!({"status": status, "last_updated": ts.to_string()}),
    };
    if ctx.state.ocpp_log.statuses.offer(update) {
        let state = ctx.shared.clone();
        actix_web::rt::spawn(async move {
            while let Some(batch) = state.ocpp_log.statuses.take() {
                store_evse_statuses(&state, batch).await;
            }
        });
    }
}

/// EVSE statuses through the locations service, in one transaction: stored, and pushed to
/// every eMSP. If the transaction fails, each is tried again alone.
async fn store_evse_statuses(state: &AppState, batch: Vec<EvseStatus>) {
    let (cc, pid) = state.settings.own_cpo();
    let change = |s: &EvseStatus| {
        (
            LocationRef {
                country_code: cc.clone(),
                party_id: pid.clone(),
                location_id: s.location_id.clone(),
            },
            Target::Evse(s.evse_uid.clone()),
            Op::Patch(s.patch.clone()),
        )
    };
    let changes = batch.iter().map(change).collect();
    let outcomes = match service::apply_batch(state, Source::default(), changes).await {
        Ok(outcomes) => outcomes,
        Err(e) => {
            tracing::warn!(error = %e, statuses = batch.len(), "EVSE status batch not stored; storing its statuses one by one");
            let mut outcomes = Vec::with_capacity(batch.len());
            for s in &batch {
                let (r, target, op) = change(s);
                outcomes.push(service::apply(state, Source::default(), r, target, op).await);
            }
            outcomes
        }
    };
    for (s, outcome) in batch.iter().zip(outcomes) {
        if let Err(e) = outcome {
            tracing::warn!(ocpp.charge_point_id = %s.charger_id, evse.uid = %s.evse_uid, error = %e, "EVSE status not stored (declare the EVSE in the location file)");
        }
    }
}
