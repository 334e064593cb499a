//! Commands Receiver interface for eMSPs (`POST /ocpi/2.2.1/receiver/commands/{command}`) and
//! the hub's result URL for remote CPOs (`POST /ocpi/2.2.1/sender/commands/{command}/{id}`).
//!
//! The answer is the `CommandResponse` at once; the `CommandResult` follows at the eMSP's
//! `response_url` through the outbox. Commands for the hub's own charge points run as OCPP
//! calls (`service.rs`); commands for a remote CPO's location (or session, or reservation) are
//! forwarded to that CPO's commands Receiver with a `response_url` of the hub, and the CPO's
//! result is relayed to the eMSP's own URL (neither partner sees the other's URL).

use actix_web::{HttpRequest, web};
use reqwest::Method;
use serde_json::Value;

use crate::db::commands::{self as store, CommandRow};
use crate::db::{DbError, locations as location_store, sessions, transactions};
use crate::error::AppError;
use crate::http::auth::RoutedCaller;
use crate::http::envelope::{OcpiResponse, status};
use crate::http::json::{parse_value, read_json_value};
use crate::http::routing::PartyRef;
use crate::ocpi::locations::model::Location;
use crate::ocpi::sessions::model::{Session, SessionStatus};
use crate::ocpi::tokens::model::Token;
use crate::ocpi::versions::InterfaceRole;
use crate::state::AppState;

use super::model::*;
use super::service::{self, OwnEvse, text};

fn response(
    result: CommandResponseType,
    timeout: u64,
    message: &str,
) -> OcpiResponse<CommandResponse> {
    OcpiResponse::ok(CommandResponse {
        result,
        timeout,
        message: if message.is_empty() {
            Vec::new()
        } else {
            text(message)
        },
    })
}

/// 2003 (unknown location or EVSE) with a REJECTED CommandResponse as data.
fn unknown_location(message: &str) -> OcpiResponse<CommandResponse> {
    let mut r = response(CommandResponseType::Rejected, 0, message);
    r.envelope.status_code = status::UNKNOWN_LOCATION;
    r.envelope.status_message = Some(message.to_string());
    r
}

fn owns_token(caller: &RoutedCaller, token: &Token) -> bool {
    crate::http::routing::holds(
        &caller.roles,
        token.country_code.as_str(),
        token.party_id.as_str(),
    )
}

/// A location by id: the own CPO's first, else a remote CPO's (`OCPI-to-*` picks among several).
async fn find_location(
    state: &AppState,
    caller: &RoutedCaller,
    id: &str,
) -> Result<Option<(Location, Option<String>)>, AppError> {
    let lookup = id.to_string();
    let rows = state
        .db
        .read(move |c| location_store::find_by_id(c, &lookup))
        .await?;
    let (own_cc, own_pid) = state.settings.own_cpo();
    let pick = rows
        .iter()
        .find(|r| match &caller.to {
            Some(to) => {
                r.country_code.eq_ignore_ascii_case(&to.country_code)
                    && r.party_id.eq_ignore_ascii_case(&to.party_id)
            }
            None => false,
        })
        .or_else(|| {
            rows.iter()
                .find(|r| r.country_code == own_cc && r.party_id == own_pid)
        })
        .or(rows.first());
    Ok(match pick {
        Some(r) => Some((
            serde_json::from_str(&r.object).map_err(AppError::internal)?,
            r.source_platform_id.clone(),
        )),
        None => None,
    })
}

/// An answer decided before any charge point is called.
type Early = OcpiResponse<CommandResponse>;

/// The own location a command addresses; `Err` is the answer already decided: 2003 for an
/// unknown location, or the remote CPO's relayed answer when the location is theirs.
async fn own_location(
    state: &AppState,
    caller: &RoutedCaller,
    command: CommandType,
    location_id: &str,
    body: &Value,
) -> Result<Result<Location, Early>, AppError> {
    let Some((location, source)) = find_location(state, caller, location_id).await? else {
        return Ok(Err(unknown_location("unknown location")));
    };
    match source {
        Some(p) => Ok(Err(forward(
            state,
            caller,
            command,
            &location,
            body.clone(),
            &p,
        )
        .await?)),
        None => Ok(Ok(location)),
    }
}

/// The own EVSE (and connector) a command addresses, its charge point online; `Err` is the
/// answer: 2003 for an unknown EVSE or connector, REJECTED when the charge point is offline.
async fn online_evse(
    state: &AppState,
    location: &Location,
    evse_uid: Option<&str>,
    connector: Option<&str>,
    unknown_evse: &str,
) -> Result<Result<OwnEvse, Early>, AppError> {
    let Some(target) = service::own_evse(state, location, evse_uid).await? else {
        return Ok(Err(unknown_location(unknown_evse)));
    };
    if let Some(conn) = connector
        && location
            .evse(&target.evse_uid)
            .is_none_or(|e| e.connector(conn).is_none())
    {
        return Ok(Err(unknown_location("unknown connector")));
    }
    if target.version.is_none() {
        return Ok(Err(response(
            CommandResponseType::Rejected,
            0,
            "the charge point is offline",
        )));
    }
    Ok(Ok(target))
}

struct NewCommand<'a> {
    command: CommandType,
    caller: &'a RoutedCaller,
    response_url: &'a str,
    request: &'a Value,
    target: Option<&'a OwnEvse>,
    connector: Option<i64>,
    token_uid: Option<&'a str>,
    forwarded_to: Option<&'a str>,
}

async fn record(state: &AppState, n: NewCommand<'_>) -> Result<CommandRow, AppError> {
    let now = crate::db::now();
    let deadline = now + chrono::Duration::seconds(state.settings.command_timeout_secs as i64);
    let row = CommandRow {
        id: uuid::Uuid::new_v4().simple().to_string(),
        command: n.command.as_str().to_string(),
        platform_id: n.caller.caller.platform.id.clone(),
        emsp_country_code: n.caller.from.country_code.to_ascii_uppercase(),
        emsp_party_id: n.caller.from.party_id.to_ascii_uppercase(),
        response_url: n.response_url.to_string(),
        request: n.request.to_string(),
        charger_id: n.target.map(|t| t.charger_id.clone()),
        evse_id: n.target.map(|t| t.evse_id),
        connector_id: n.connector,
        token_uid: n.token_uid.map(str::to_ascii_uppercase),
        remote_start_id: (n.command == CommandType::StartSession)
            .then(|| i64::from(rand::random::<u32>() >> 1)),
        forwarded_to: n.forwarded_to.map(str::to_string),
        state: if n.forwarded_to.is_some() {
            store::FORWARDED.into()
        } else {
            store::SENT.into()
        },
        result: None,
        transaction_ref: None,
        deadline,
        created_at: now,
        finished_at: None,
    };
    let stored = row.clone();
    state.db.write(move |c| store::insert(c, &stored)).await?;
    Ok(row)
}

/// Receiver: one command of an eMSP.
#[utoipa::path(post, path = "/ocpi/2.2.1/receiver/commands/{command}", tag = "commands",
    params(("command" = String, Path, description = "START_SESSION, STOP_SESSION, RESERVE_NOW, CANCEL_RESERVATION or UNLOCK_CONNECTOR")),
    request_body(content = Object, description = "StartSession, StopSession, ReserveNow, CancelReservation or UnlockConnector"),
    responses((status = 200, description = "Envelope with a CommandResponse (2003 with REJECTED for an unknown location or EVSE; 2001 for a body that does not fit the command; 4002/4003 when a remote CPO does not answer)", body = CommandResponse),
               (status = 404, description = "Unknown command")),
    security(("ocpi_token" = [])))]
pub async fn receive(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: RoutedCaller,
    payload: web::Payload,
) -> Result<OcpiResponse<CommandResponse>, AppError> {
    let name = req
        .match_info()
        .get("command")
        .unwrap_or_default()
        .to_string();
    let command = CommandType::parse(&name)
        .ok_or_else(|| AppError::NotFound(format!("unknown command `{name}`")))?;
    let body = read_json_value(&req, payload, state.settings.max_body_bytes).await?;
    let timeout = state.settings.command_timeout_secs;
    match command {
        CommandType::StartSession => {
            let c: StartSession = parse_value(body.clone())?;
            if !owns_token(&caller, &c.token) {
                return Ok(response(
                    CommandResponseType::Rejected,
                    0,
                    "the token is not one of yours",
                ));
            }
            let location = match own_location(
                &state,
                &caller,
                command,
                c.location_id.as_str(),
                &body,
            )
            .await?
            {
                Ok(l) => l,
                Err(answer) => return Ok(answer),
            };
            let target = match online_evse(
                &state,
                &location,
                c.evse_uid.as_ref().map(|e| e.as_str()),
                c.connector_id.as_ref().map(|e| e.as_str()),
                "unknown EVSE, or no EVSE available",
            )
            .await?
            {
                Ok(t) => t,
                Err(answer) => return Ok(answer),
            };
            let cmd = record(
                &state,
                NewCommand {
                    command,
                    caller: &caller,
                    response_url: c.response_url.as_str(),
                    request: &body,
                    target: Some(&target),
                    connector: None,
                    token_uid: Some(c.token.uid.as_str()),
                    forwarded_to: None,
                },
            )
            .await?;
            tokio::spawn(service::run_start(state.clone(), cmd, c.token, target));
            Ok(response(CommandResponseType::Accepted, timeout, ""))
        }
        CommandType::StopSession => {
            let c: StopSession = parse_value(body.clone())?;
            let id = c.session_id.to_string();
            let rows = state
                .db
                .read(move |conn| sessions::by_id(conn, &id))
                .await?;
            if rows.is_empty() {
                return Ok(response(
                    CommandResponseType::UnknownSession,
                    0,
                    "unknown session",
                ));
            }
            let mine = rows.iter().find(|r| {
                crate::http::routing::holds(&caller.roles, &r.emsp_country_code, &r.emsp_party_id)
            });
            let Some(row) = mine else {
                return Ok(response(
                    CommandResponseType::Rejected,
                    0,
                    "the session is not one of yours",
                ));
            };
            if let Some(p) = &row.source_platform_id {
                let cpo = PartyRef {
                    country_code: row.country_code.clone(),
                    party_id: row.party_id.clone(),
                };
                return forward_to_party(&state, &caller, command, body, p, &cpo).await;
            }
            let session: Session = serde_json::from_str(&row.object).map_err(AppError::internal)?;
            if matches!(
                session.status,
                SessionStatus::Completed | SessionStatus::Invalid
            ) {
                return Ok(response(
                    CommandResponseType::Rejected,
                    0,
                    "the session is over",
                ));
            }
            let tx = row.transaction_ref;
            let t = match tx {
                Some(tx) => {
                    state
                        .db
                        .read(move |conn| transactions::by_ref(conn, tx))
                        .await?
                }
                None => None,
            };
            let Some(t) = t else {
                return Ok(response(
                    CommandResponseType::UnknownSession,
                    0,
                    "no transaction for the session",
                ));
            };
            if crate::ocpp::relay::version(&state, &t.charger_id)
                .await
                .is_none()
            {
                return Ok(response(
                    CommandResponseType::Rejected,
                    0,
                    "the charge point is offline",
                ));
            }
            let target = OwnEvse {
                location_id: session.location_id.to_string(),
                evse_uid: session.evse_uid.to_string(),
                charger_id: t.charger_id.clone(),
                evse_id: t.evse_id.or(t.connector_id).unwrap_or(0),
                version: None,
            };
            let cmd = record(
                &state,
                NewCommand {
                    command,
                    caller: &caller,
                    response_url: c.response_url.as_str(),
                    request: &body,
                    target: Some(&target),
                    connector: t.connector_id,
                    token_uid: None,
                    forwarded_to: None,
                },
            )
            .await?;
            tokio::spawn(service::run_stop(
                state.clone(),
                cmd,
                t.charger_id,
                t.transaction_id,
            ));
            Ok(response(CommandResponseType::Accepted, timeout, ""))
        }
        CommandType::ReserveNow => {
            let c: ReserveNow = parse_value(body.clone())?;
            if !owns_token(&caller, &c.token) {
                return Ok(response(
                    CommandResponseType::Rejected,
                    0,
                    "the token is not one of yours",
                ));
            }
            let location = match own_location(
                &state,
                &caller,
                command,
                c.location_id.as_str(),
                &body,
            )
            .await?
            {
                Ok(l) => l,
                Err(answer) => return Ok(answer),
            };
            if c.expiry_date.0 <= chrono::Utc::now() {
                return Ok(response(
                    CommandResponseType::Rejected,
                    0,
                    "expiry_date is in the past",
                ));
            }
            let target = match online_evse(
                &state,
                &location,
                c.evse_uid.as_ref().map(|e| e.as_str()),
                None,
                "unknown EVSE, or no EVSE available",
            )
            .await?
            {
                Ok(t) => t,
                Err(answer) => return Ok(answer),
            };
            let cmd = record(
                &state,
                NewCommand {
                    command,
                    caller: &caller,
                    response_url: c.response_url.as_str(),
                    request: &body,
                    target: Some(&target),
                    connector: None,
                    token_uid: Some(c.token.uid.as_str()),
                    forwarded_to: None,
                },
            )
            .await?;
            // The same eMSP reservation id again replaces the reservation (same charger id).
            let new = service::new_reservation(
                &caller.from,
                c.reservation_id.as_str(),
                &target,
                &c.token,
                c.response_url.as_str(),
                &caller.caller.platform.id,
                &c.expiry_date,
            )?;
            let (cc, pid, rid) = (
                new.emsp_country_code.clone(),
                new.emsp_party_id.clone(),
                c.reservation_id.to_string(),
            );
            let id = state
                .db
                .write(
                    move |conn| match store::reservation_of(conn, &cc, &pid, &rid)? {
                        Some(r)
                            if r.state == store::ACTIVE
                                && r.charger_id == new.charger_id
                                && r.evse_id == new.evse_id =>
                        {
                            store::set_reservation_state(
                                conn,
                                r.id,
                                &[store::ACTIVE],
                                store::ACTIVE,
                                Some(new.expires_at),
                            )?;
                            Ok(r.id)
                        }
                        _ => store::create_reservation(conn, &new),
                    },
                )
                .await?;
            tokio::spawn(service::run_reserve(
                state.clone(),
                cmd,
                c.token,
                target,
                id,
                c.expiry_date,
            ));
            Ok(response(CommandResponseType::Accepted, timeout, ""))
        }
        CommandType::CancelReservation => {
            let c: CancelReservation = parse_value(body.clone())?;
            let (cc, pid, rid) = (
                caller.from.country_code.to_ascii_uppercase(),
                caller.from.party_id.to_ascii_uppercase(),
                c.reservation_id.to_string(),
            );
            let found = state
                .db
                .write(move |conn| store::reservation_of(conn, &cc, &pid, &rid))
                .await?;
            let cmd = record(
                &state,
                NewCommand {
                    command,
                    caller: &caller,
                    response_url: c.response_url.as_str(),
                    request: &body,
                    target: None,
                    connector: None,
                    token_uid: None,
                    forwarded_to: None,
                },
            )
            .await?;
            match found {
                Some(r) if r.state == store::ACTIVE => {
                    tokio::spawn(service::run_cancel(state.clone(), cmd, r));
                }
                _ => {
                    service::conclude(
                        &state,
                        &cmd.id,
                        CommandResultType::UnknownReservation,
                        "no active reservation with this id",
                    )
                    .await;
                }
            }
            Ok(response(CommandResponseType::Accepted, timeout, ""))
        }
        CommandType::UnlockConnector => {
            let c: UnlockConnector = parse_value(body.clone())?;
            let location = match own_location(
                &state,
                &caller,
                command,
                c.location_id.as_str(),
                &body,
            )
            .await?
            {
                Ok(l) => l,
                Err(answer) => return Ok(answer),
            };
            let target = match online_evse(
                &state,
                &location,
                Some(c.evse_uid.as_str()),
                Some(c.connector_id.as_str()),
                "unknown EVSE",
            )
            .await?
            {
                Ok(t) => t,
                Err(answer) => return Ok(answer),
            };
            let connector = c.connector_id.as_str().parse::<i64>().unwrap_or(1);
            let cmd = record(
                &state,
                NewCommand {
                    command,
                    caller: &caller,
                    response_url: c.response_url.as_str(),
                    request: &body,
                    target: Some(&target),
                    connector: Some(connector),
                    token_uid: None,
                    forwarded_to: None,
                },
            )
            .await?;
            tokio::spawn(service::run_unlock(state.clone(), cmd, target, connector));
            Ok(response(CommandResponseType::Accepted, timeout, ""))
        }
    }
}

/// Forward a command about a remote CPO's location to that CPO.
async fn forward(
    state: &AppState,
    caller: &RoutedCaller,
    command: CommandType,
    location: &Location,
    body: Value,
    platform_id: &str,
) -> Result<OcpiResponse<CommandResponse>, AppError> {
    let cpo = PartyRef {
        country_code: location.country_code.as_str().to_string(),
        party_id: location.party_id.as_str().to_string(),
    };
    forward_to_party(state, caller, command, body, platform_id, &cpo).await
}

/// Send the command to the CPO's commands Receiver with the hub's `response_url`, and relay
/// its CommandResponse (4002 when it does not answer in time, 4003 when it cannot be reached).
async fn forward_to_party(
    state: &AppState,
    caller: &RoutedCaller,
    command: CommandType,
    mut body: Value,
    platform_id: &str,
    cpo: &PartyRef,
) -> Result<OcpiResponse<CommandResponse>, AppError> {
    let response_url = body
        .get("response_url")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let original = body.clone();
    let cmd = record(
        state,
        NewCommand {
            command,
            caller,
            response_url: &response_url,
            request: &original,
            target: None,
            connector: None,
            token_uid: None,
            forwarded_to: Some(platform_id),
        },
    )
    .await?;
    body["response_url"] = Value::String(format!(
        "{}/ocpi/2.2.1/sender/commands/{}/{}",
        state.public_url,
        command.as_str(),
        cmd.id
    ));
    let relayed = crate::ocpi::relay::send::<CommandResponse>(
        state,
        &crate::ocpi::relay::Relay {
            platform_id,
            module: "commands",
            role: InterfaceRole::Receiver,
            path: &format!("/{}", command.as_str()),
            method: Method::POST,
            from: &caller.from,
            to: cpo,
        },
        Some(&body),
    )
    .await;
    let outcome = match relayed {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(AppError::ocpi(
            status::HUB_GENERIC_ERROR,
            "the CPO sent no CommandResponse",
        )),
        Err(e) => Err(e),
    };
    // Only an ACCEPTED command gets a result later; otherwise the record is closed now.
    if !matches!(&outcome, Ok(r) if r.result == CommandResponseType::Accepted) {
        let id = cmd.id.clone();
        let closed = state
            .db
            .write(move |c| store::finish(c, &id, "NOT_FORWARDED"))
            .await;
        if let Err(e) = closed {
            tracing::warn!(error = %e, "forwarded command not closed");
        }
    }
    outcome.map(OcpiResponse::ok)
}

/// The hub's result URL for commands it forwarded: the CPO's CommandResult, relayed to the
/// eMSP's own `response_url`. Only the CPO the command went to may post here.
#[utoipa::path(post, path = "/ocpi/2.2.1/sender/commands/{command}/{id}", tag = "commands",
    params(("command" = String, Path, description = "the command type"), ("id" = String, Path, description = "the hub's id of the forwarded command")),
    request_body = CommandResult,
    responses((status = 200, description = "Envelope without data"), (status = 404, description = "Unknown command id")),
    security(("ocpi_token" = [])))]
pub async fn result(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: RoutedCaller,
    payload: web::Payload,
) -> Result<OcpiResponse<()>, AppError> {
    let id = req.match_info().get("id").unwrap_or_default().to_string();
    let body = read_json_value(&req, payload, state.settings.max_body_bytes).await?;
    let r: CommandResult = parse_value(body)?;
    let platform = caller.caller.platform.id.clone();
    let from = caller.from.clone();
    let queued = state
        .db
        .write(move |c| {
            let Some(cmd) = store::get(c, &id)? else {
                return Ok(None);
            };
            if cmd.forwarded_to.as_deref() != Some(platform.as_str()) {
                return Ok(None);
            }
            // A RESERVE_NOW may be followed by CANCELED_RESERVATION later.
            let again = cmd.command == CommandType::ReserveNow.as_str();
            service::queue_result(c, &cmd, &from, &r, again).map(Some)
        })
        .await
        .map_err(|e: DbError| AppError::internal(e))?;
    match queued {
        None => Err(AppError::NotFound("unknown command".into())),
        Some(sent) => {
            if sent {
                state.outbox_wakeup.notify();
            }
            Ok(OcpiResponse::empty())
        }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/ocpi/2.2.1/receiver/commands/{command}")
            .route(web::post().to(receive))
            .default_service(web::to(crate::http::method_not_allowed)),
    );
    cfg.service(
        web::resource("/ocpi/2.2.1/sender/commands/{command}/{id}")
            .route(web::post().to(result))
            .default_service(web::to(crate::http::method_not_allowed)),
    );
}
