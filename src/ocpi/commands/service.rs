//! Commands on the hub's own charge points: each becomes the OCPP call of the charger's
//! version, runs in the background after the synchronous `CommandResponse`, and ends in one
//! `CommandResult` POSTed to the eMSP's `response_url` through the outbox.
//!
//! - START_SESSION succeeds only when the transaction really starts (the charge point's
//!   StartTransaction / TransactionEvent for the token arrives before the deadline); otherwise
//!   TIMEOUT. A transaction that starts later is still recorded and its session pushed.
//! - The transaction of a START_SESSION runs on the command's token (it need not be in the
//!   tokens store) with `auth_method` COMMAND and the command's `authorization_reference`; the
//!   hub does not ask the eMSP about that token at that charge point for 15 minutes.
//! - RESERVE_NOW keeps a reservation (hub-wide unique id sent to the charger), shows the EVSE as
//!   RESERVED while it lasts, and releases it on expiry, cancel, or when the token starts charging.

use std::time::Duration;

use actix_web::web;
use serde_json::{Value, json};

use crate::db::commands::{self as store, CommandRow, NewReservation, Reservation};
use crate::db::{DbConnection, DbError, chargers, outbox};
use crate::error::AppError;
use crate::http::routing::PartyRef;
use crate::ocpi::locations::model::{DisplayText, LanguageCode, Location};
use crate::ocpi::locations::service::{self as locations, LocationRef, Op, Source, Target};
use crate::ocpi::tokens::model::{Token, TokenType};
use crate::ocpi::types::{DateTime, OcpiString};
use crate::ocpp::frame::Version;
use crate::ocpp::gateway::CallError;
use crate::state::AppState;

use super::model::{CommandResult, CommandResultType};

/// How long after a START_SESSION its token is trusted at that charge point without asking.
pub const COMMAND_TOKEN_TRUST_MINUTES: i64 = 15;

pub fn text(message: &str) -> Vec<DisplayText> {
    match (
        LanguageCode::new("en"),
        OcpiString::new(message.to_string()),
    ) {
        (Ok(language), Ok(text)) => vec![DisplayText { language, text }],
        _ => Vec::new(),
    }
}

/// OCPP 2.0.1 IdTokenType for an OCPI token type.
fn id_token_type(t: TokenType) -> &'static str {
    match t {
        TokenType::Rfid => "ISO14443",
        TokenType::AppUser | TokenType::AdHocUser | TokenType::Other => "Central",
    }
}

/// The start call of each version (also used by the operator API).
pub fn start_payload(
    v: Version,
    uid: &str,
    token_type: TokenType,
    evse: Option<i64>,
    remote_start_id: i64,
) -> (&'static str, Value) {
    match v {
        Version::V16 => {
            let mut p = json!({"idTag": uid});
            if let Some(e) = evse {
                p["connectorId"] = e.into();
            }
            ("RemoteStartTransaction", p)
        }
        Version::V201 => {
            let mut p = json!({"idToken": {"idToken": uid, "type": id_token_type(token_type)}, "remoteStartId": remote_start_id});
            if let Some(e) = evse {
                p["evseId"] = e.into();
            }
            ("RequestStartTransaction", p)
        }
    }
}

/// The stop call of each version (also used by the operator API); None when a 1.6
/// transaction id is not an integer.
pub fn stop_payload(v: Version, transaction_id: &str) -> Option<(&'static str, Value)> {
    match v {
        Version::V16 => transaction_id
            .parse::<i64>()
            .ok()
            .map(|t| ("RemoteStopTransaction", json!({"transactionId": t}))),
        Version::V201 => Some((
            "RequestStopTransaction",
            json!({"transactionId": transaction_id}),
        )),
    }
}

/// An own EVSE addressed by an OCPI command: its charge point and OCPP EVSE (1.6 connector) id.
#[derive(Debug, Clone)]
pub struct OwnEvse {
    pub location_id: String,
    pub evse_uid: String,
    pub charger_id: String,
    pub evse_id: i64,
    pub version: Option<Version>,
}

/// Resolve `evse_uid` (`{charge_point_id}-{evse}`) of an own location, or pick its first
/// AVAILABLE EVSE whose charge point is connected when no uid is given.
pub async fn own_evse(
    state: &AppState,
    location: &Location,
    evse_uid: Option<&str>,
) -> Result<Option<OwnEvse>, AppError> {
    let candidates: Vec<String> = match evse_uid {
        Some(uid) => match location.evse(uid) {
            Some(e) => vec![e.uid.to_string()],
            None => return Ok(None),
        },
        None => location
            .evses
            .iter()
            .flatten()
            .filter(|e| matches!(e.status, crate::ocpi::locations::model::Status::Available))
            .map(|e| e.uid.to_string())
            .collect(),
    };
    for uid in candidates {
        let Some((cp, n)) = uid.rsplit_once('-') else {
            continue;
        };
        let Ok(n) = n.parse::<i64>() else {
            continue;
        };
        let id = cp.to_string();
        let charger = state.db.read(move |c| chargers::get(c, &id)).await?;
        let Some(charger) = charger else {
            continue;
        };
        let version = crate::ocpp::relay::version(state, &charger.id).await;
        if evse_uid.is_none() && version.is_none() {
            continue;
        }
        return Ok(Some(OwnEvse {
            location_id: location.id.to_string(),
            evse_uid: uid,
            charger_id: charger.id,
            evse_id: n,
            version,
        }));
    }
    Ok(None)
}

/// Queue the CommandResult of command `id` for the eMSP (once per command, except
/// RESERVE_NOW's later CANCELED_RESERVATION). Returns whether it was queued.
pub fn queue_result(
    conn: &mut DbConnection,
    cmd: &CommandRow,
    from: &PartyRef,
    result: &CommandResult,
    again: bool,
) -> Result<bool, DbError> {
    let first = store::finish(conn, &cmd.id, result.result.as_str())?;
    if !first && !again {
        return Ok(false);
    }
    let body = serde_json::to_string(result).map_err(|e| DbError::Other(e.to_string()))?;
    outbox::enqueue(
        conn,
        &[outbox::NewDelivery {
            platform_id: cmd.platform_id.clone(),
            module: "commands".into(),
            object_group: format!("command:{}", cmd.id),
            method: "POST".into(),
            path: cmd.response_url.clone(),
            body: Some(body),
            from_country_code: from.country_code.clone(),
            from_party_id: from.party_id.clone(),
            to: Some((cmd.emsp_country_code.clone(), cmd.emsp_party_id.clone())),
        }],
    )?;
    Ok(true)
}

fn own_party(state: &AppState) -> PartyRef {
    let (country_code, party_id) = state.settings.own_cpo();
    PartyRef {
        country_code,
        party_id,
    }
}

/// Record and send the result of an own command.
pub async fn conclude(state: &AppState, id: &str, result: CommandResultType, message: &str) {
    let from = own_party(state);
    let (id, message) = (id.to_string(), message.to_string());
    let outcome = state
        .db
        .write(move |c| {
            let Some(cmd) = store::get(c, &id)? else {
                return Ok(false);
            };
            let r = CommandResult {
                result,
                message: text(&message),
            };
            queue_result(c, &cmd, &from, &r, false)
        })
        .await;
    match outcome {
        Ok(true) => state.outbox_wakeup.notify(),
        Ok(false) => {}
        Err(e) => tracing::error!(error = %e, "command result not stored"),
    }
}

/// Call the charge point; the OCPP answer or the command result that replaces it.
async fn call(
    state: &AppState,
    charger: &str,
    action: &str,
    payload: &Value,
) -> Result<Value, (CommandResultType, String)> {
    match crate::ocpp::relay::call(state, charger, action, payload).await {
        Ok(v) => Ok(v),
        Err(CallError::Timeout(s)) => Err((
            CommandResultType::Timeout,
            format!("the charge point did not answer within {s} s"),
        )),
        Err(CallError::Rejected { code, description })
            if code == "NotImplemented" || code == "NotSupported" =>
        {
            Err((
                CommandResultType::NotSupported,
                format!("the charge point does not support {action}: {description}"),
            ))
        }
        Err(e) => Err((CommandResultType::Failed, e.to_string())),
    }
}

fn status_of(answer: &Value) -> &str {
    answer.get("status").and_then(Value::as_str).unwrap_or("")
}

/// START_SESSION on an own charge point: the call, then the wait for the transaction.
pub async fn run_start(state: web::Data<AppState>, cmd: CommandRow, token: Token, target: OwnEvse) {
    let Some(v) = target.version else {
        conclude(
            &state,
            &cmd.id,
            CommandResultType::Failed,
            "charge point offline",
        )
        .await;
        return;
    };
    let (action, payload) = start_payload(
        v,
        token.uid.as_str(),
        token.token_type,
        Some(target.evse_id),
        cmd.remote_start_id.unwrap_or(0),
    );
    let answer = match call(&state, &target.charger_id, action, &payload).await {
        Ok(a) => a,
        Err((r, m)) => return conclude(&state, &cmd.id, r, &m).await,
    };
    if status_of(&answer) != "Accepted" {
        return conclude(
            &state,
            &cmd.id,
            CommandResultType::Rejected,
            "the charge point rejected the start",
        )
        .await;
    }
    // Success only when the transaction really starts.
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(state.settings.command_timeout_secs);
    loop {
        let id = cmd.id.clone();
        let started = state
            .db
            .read(move |c| store::get(c, &id))
            .await
            .ok()
            .flatten()
            .is_some_and(|c| c.transaction_ref.is_some());
        if started {
            return conclude(
                &state,
                &cmd.id,
                CommandResultType::Accepted,
                "charging started",
            )
            .await;
        }
        if tokio::time::Instant::now() >= deadline {
            return conclude(
                &state,
                &cmd.id,
                CommandResultType::Timeout,
                "the charge point accepted but no transaction started in time",
            )
            .await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// STOP_SESSION of an own transaction.
pub async fn run_stop(
    state: web::Data<AppState>,
    cmd: CommandRow,
    charger: String,
    transaction_id: String,
) {
    let Some(v) = crate::ocpp::relay::version(&state, &charger).await else {
        return conclude(
            &state,
            &cmd.id,
            CommandResultType::Failed,
            "charge point offline",
        )
        .await;
    };
    let Some((action, payload)) = stop_payload(v, &transaction_id) else {
        return conclude(
            &state,
            &cmd.id,
            CommandResultType::Failed,
            "transaction id unusable",
        )
        .await;
    };
    match call(&state, &charger, action, &payload).await {
        Ok(a) if status_of(&a) == "Accepted" => {
            conclude(&state, &cmd.id, CommandResultType::Accepted, "stopping").await
        }
        Ok(_) => {
            conclude(
                &state,
                &cmd.id,
                CommandResultType::Rejected,
                "the charge point refused to stop",
            )
            .await
        }
        Err((r, m)) => conclude(&state, &cmd.id, r, &m).await,
    }
}

/// Set the OCPI status of an own EVSE (stored and pushed to eMSPs like a StatusNotification).
pub async fn set_evse_status(state: &AppState, location_id: &str, evse_uid: &str, status: &str) {
    let (cc, pid) = state.settings.own_cpo();
    let r = LocationRef {
        country_code: cc,
        party_id: pid,
        location_id: location_id.to_string(),
    };
    let patch = json!({"status": status, "last_updated": DateTime::now().to_string()});
    if let Err(e) = locations::apply(
        state,
        Source::default(),
        r,
        Target::Evse(evse_uid.to_string()),
        Op::Patch(patch),
    )
    .await
    {
        tracing::warn!(evse.uid = %evse_uid, error = %e, "EVSE status not stored");
    }
}

/// RESERVE_NOW on an own EVSE.
pub async fn run_reserve(
    state: web::Data<AppState>,
    cmd: CommandRow,
    token: Token,
    target: OwnEvse,
    reservation: i64,
    expiry: DateTime,
) {
    let Some(v) = target.version else {
        return conclude(
            &state,
            &cmd.id,
            CommandResultType::Failed,
            "charge point offline",
        )
        .await;
    };
    let payload = match v {
        Version::V16 => json!({"connectorId": target.evse_id, "expiryDate": expiry.to_string(),
            "idTag": token.uid.as_str(), "reservationId": reservation}),
        Version::V201 => json!({"id": reservation, "expiryDateTime": expiry.to_string(),
            "idToken": {"idToken": token.uid.as_str(), "type": id_token_type(token.token_type)},
            "evseId": target.evse_id}),
    };
    let result = match call(&state, &target.charger_id, "ReserveNow", &payload).await {
        Ok(a) => match status_of(&a) {
            "Accepted" => (CommandResultType::Accepted, "reserved"),
            "Occupied" => (CommandResultType::EvseOccupied, "the EVSE is occupied"),
            "Faulted" | "Unavailable" => (
                CommandResultType::EvseInoperative,
                "the EVSE is out of order",
            ),
            _ => (
                CommandResultType::Rejected,
                "the charge point rejected the reservation",
            ),
        },
        Err((r, _)) => (r, "the reservation could not be made"),
    };
    let accepted = result.0 == CommandResultType::Accepted;
    let id = reservation;
    let cfg = crate::ocpp::bridge::BridgeSettings::of(&state);
    let reference = serde_json::from_str::<Value>(&cmd.request)
        .ok()
        .and_then(|v| v["authorization_reference"].as_str().map(str::to_string));
    let stored = state
        .db
        .write(move |c| {
            let to = if accepted {
                store::ACTIVE
            } else {
                store::CANCELLED
            };
            store::set_reservation_state(
                c,
                id,
                &[store::PENDING_RESERVATION, store::ACTIVE],
                to,
                None,
            )?;
            // The eMSP sees the reservation as a session in RESERVATION state.
            match store::get_reservation(c, id)? {
                Some(r) if accepted && r.session_key.is_none() => {
                    let (key, pushed) = crate::ocpp::bridge::open_reservation_session(
                        c,
                        &cfg,
                        &r,
                        reference.as_deref(),
                    )?;
                    store::set_reservation_session(c, id, &key)?;
                    Ok(pushed)
                }
                _ => Ok(Vec::new()),
            }
        })
        .await;
    match stored {
        Ok(pushed) => state.outbox_wakeup.enqueued(&pushed),
        Err(e) => tracing::error!(error = %e, "reservation state not stored"),
    }
    if accepted {
        set_evse_status(&state, &target.location_id, &target.evse_uid, "RESERVED").await;
    }
    conclude(&state, &cmd.id, result.0, result.1).await;
}

/// CANCEL_RESERVATION of an own reservation.
pub async fn run_cancel(state: web::Data<AppState>, cmd: CommandRow, r: Reservation) {
    if crate::ocpp::relay::version(&state, &r.charger_id)
        .await
        .is_none()
    {
        return conclude(
            &state,
            &cmd.id,
            CommandResultType::Failed,
            "charge point offline",
        )
        .await;
    }
    match call(
        &state,
        &r.charger_id,
        "CancelReservation",
        &json!({"reservationId": r.id}),
    )
    .await
    {
        Ok(a) if status_of(&a) == "Accepted" => {
            release(&state, &r, store::CANCELLED).await;
            conclude(
                &state,
                &cmd.id,
                CommandResultType::Accepted,
                "reservation cancelled",
            )
            .await
        }
        Ok(_) => {
            conclude(
                &state,
                &cmd.id,
                CommandResultType::Rejected,
                "the charge point refused to cancel",
            )
            .await
        }
        Err((res, m)) => conclude(&state, &cmd.id, res, &m).await,
    }
}

/// End an active reservation (`to`: CANCELLED, EXPIRED or USED) and free its EVSE.
pub async fn release(state: &AppState, r: &Reservation, to: &'static str) {
    let id = r.id;
    let session = r.session_key.clone().filter(|_| to != store::USED);
    let cfg = crate::ocpp::bridge::BridgeSettings::of(state);
    let outcome = state
        .db
        .write(move |c| {
            let changed = store::set_reservation_state(c, id, &[store::ACTIVE], to, None)?;
            // An unused reservation's session ends (COMPLETED, nothing charged).
            let pushed = match &session {
                Some(key) if changed => {
                    crate::ocpp::bridge::close_reservation_session(c, &cfg, key)?
                }
                _ => Vec::new(),
            };
            Ok((changed, pushed))
        })
        .await;
    let changed = match outcome {
        Ok((changed, pushed)) => {
            state.outbox_wakeup.enqueued(&pushed);
            changed
        }
        Err(e) => {
            tracing::error!(error = %e, "reservation not released");
            false
        }
    };
    if changed && to != store::USED {
        set_evse_status(state, &r.location_id, &r.evse_uid, "AVAILABLE").await;
    }
}

/// UNLOCK_CONNECTOR on an own EVSE.
pub async fn run_unlock(
    state: web::Data<AppState>,
    cmd: CommandRow,
    target: OwnEvse,
    connector: i64,
) {
    let Some(v) = target.version else {
        return conclude(
            &state,
            &cmd.id,
            CommandResultType::Failed,
            "charge point offline",
        )
        .await;
    };
    let payload = match v {
        Version::V16 => json!({"connectorId": target.evse_id}),
        Version::V201 => json!({"evseId": target.evse_id, "connectorId": connector}),
    };
    let (r, m) = match call(&state, &target.charger_id, "UnlockConnector", &payload).await {
        Ok(a) => match status_of(&a) {
            "Unlocked" => (CommandResultType::Accepted, "unlocked".to_string()),
            "NotSupported" => (
                CommandResultType::NotSupported,
                "unlocking is not supported".into(),
            ),
            "OngoingAuthorizedTransaction" => (
                CommandResultType::Rejected,
                "a transaction is running on the connector".into(),
            ),
            "UnknownConnector" => (CommandResultType::Rejected, "unknown connector".into()),
            _ => (
                CommandResultType::Failed,
                "the connector did not unlock".into(),
            ),
        },
        Err(e) => e,
    };
    conclude(&state, &cmd.id, r, &m).await;
}

/// Expire reservations past their time, every second, until the process ends.
pub async fn expire_reservations(state: web::Data<AppState>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = crate::db::now();
        let due = state.db.read(move |c| store::expired(c, now)).await;
        match due {
            Ok(rows) => {
                for r in rows {
                    release(&state, &r, store::EXPIRED).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "reservation expiry check failed"),
        }
    }
}

/// A new reservation row for an accepted RESERVE_NOW (PENDING until the charger answers).
#[allow(clippy::too_many_arguments)]
pub fn new_reservation(
    owner: &PartyRef,
    reservation_id: &str,
    target: &OwnEvse,
    token: &Token,
    response_url: &str,
    platform_id: &str,
    expiry: &DateTime,
) -> Result<NewReservation, AppError> {
    let now = crate::db::now();
    Ok(NewReservation {
        emsp_country_code: owner.country_code.to_ascii_uppercase(),
        emsp_party_id: owner.party_id.to_ascii_uppercase(),
        reservation_id: reservation_id.to_string(),
        location_id: target.location_id.clone(),
        evse_uid: target.evse_uid.clone(),
        charger_id: target.charger_id.clone(),
        evse_id: target.evse_id,
        token: serde_json::to_string(token).map_err(AppError::internal)?,
        token_uid: token.uid.as_str().to_ascii_uppercase(),
        response_url: response_url.to_string(),
        platform_id: platform_id.to_string(),
        expires_at: expiry.naive(),
        state: store::PENDING_RESERVATION.to_string(),
        created_at: now,
        updated_at: now,
    })
}
