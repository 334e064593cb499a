//! Sessions Sender interface (eMSPs pull their sessions: `GET /ocpi/2.2.1/sender/sessions`
//! with the required `date_from`, and set `PUT …/sessions/{session_id}/charging_preferences`)
//! and Receiver interface (remote CPOs push: `GET|PUT|PATCH
//! /ocpi/2.2.1/receiver/sessions/{country_code}/{party_id}/{session_id}`). A session is only
//! ever visible to, and forwarded to, the eMSP that owns its `cdr_token`.

use actix_web::{HttpRequest, web};
use serde_json::Value;

use crate::db::sessions::{self as store, SessionRow};
use crate::error::AppError;
use crate::http::auth::RoutedCaller;
use crate::http::envelope::{OcpiResponse, status};
use crate::http::json::{parse_value, read_json_value};
use crate::http::pagination::Pagination;
use crate::http::routing::PartyRef;
use crate::ocpi::locations::model::{Capability, Location};
use crate::ocpp::bridge;
use crate::state::AppState;

use super::model::{ChargingPreferences, ChargingPreferencesResponse, Session, SessionStatus};

/// The (country_code, party_id) pairs of the caller: whose sessions and CDRs it may read.
pub fn owners(caller: &RoutedCaller) -> Vec<(String, String)> {
    caller
        .roles
        .iter()
        .map(|r| {
            (
                r.country_code.to_ascii_uppercase(),
                r.party_id.to_ascii_uppercase(),
            )
        })
        .collect()
}

/// Sender: a page of the caller's sessions (as token owner), oldest change first.
#[utoipa::path(get, path = "/ocpi/2.2.1/sender/sessions", tag = "sessions",
    params(
        ("date_from" = String, Query, description = "Required: last_updated >= date_from"),
        ("date_to" = Option<String>, Query, description = "last_updated < date_to"),
        ("offset" = Option<u64>, Query, description = "first object, default 0"),
        ("limit" = Option<u64>, Query, description = "page size, capped by X-Limit"),
    ),
    responses((status = 200, description = "Envelope with a page of Sessions (only the caller's); OCPI 2001 without date_from. Headers X-Total-Count, X-Limit, Link", body = Vec<Session>)),
    security(("ocpi_token" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: RoutedCaller,
    page: Pagination,
) -> Result<OcpiResponse<Vec<Box<serde_json::value::RawValue>>>, AppError> {
    if page.query.date_from.is_none() {
        return Err(AppError::invalid(
            "query parameter `date_from` is required for sessions",
        ));
    }
    let q = page.query.clone();
    let owners = owners(&caller);
    let (rows, total) = state
        .db
        .read(move |c| store::stored_page(c, &q, Some(&owners)))
        .await?;
    page.respond_stored(rows, total)
}

/// The caller's session with this id (404 when there is none: another eMSP's session is
/// indistinguishable from an unknown one).
async fn own_session(
    state: &AppState,
    caller: &RoutedCaller,
    id: &str,
) -> Result<SessionRow, AppError> {
    let id = id.to_string();
    let rows = state.db.read(move |c| store::by_id(c, &id)).await?;
    rows.into_iter()
        .find(|r| {
            crate::http::routing::holds(&caller.roles, &r.emsp_country_code, &r.emsp_party_id)
        })
        .ok_or_else(|| AppError::NotFound("unknown session".into()))
}

/// Sender: the driver's charging preferences for a session. For the hub's own sessions: stored
/// with the session (smart charging acts on them); ACCEPTED while it runs, NOT_POSSIBLE once it
/// is over; HTTP 404 with 2001 when the EVSE is not CHARGING_PREFERENCES_CAPABLE. For a remote
/// CPO's session: relayed to that CPO's sessions Sender and its answer returned (4002/4003
/// when it does not answer / cannot be reached).
#[utoipa::path(put, path = "/ocpi/2.2.1/sender/sessions/{session_id}/charging_preferences", tag = "sessions",
    params(("session_id" = String, Path, description = "Session.id of one of the caller's sessions")),
    request_body = ChargingPreferences,
    responses((status = 200, description = "Envelope with a ChargingPreferencesResponse", body = ChargingPreferencesResponse),
               (status = 404, description = "Unknown session, or (with 2001) the EVSE does not take preferences")),
    security(("ocpi_token" = [])))]
pub async fn charging_preferences(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: RoutedCaller,
    payload: web::Payload,
) -> Result<OcpiResponse<ChargingPreferencesResponse>, AppError> {
    let id = req
        .match_info()
        .get("session_id")
        .unwrap_or_default()
        .to_string();
    let v = read_json_value(&req, payload, state.settings.max_body_bytes).await?;
    let prefs: ChargingPreferences = parse_value(v)?;
    let row = own_session(&state, &caller, &id).await?;
    let session: Session = serde_json::from_str(&row.object).map_err(AppError::internal)?;
    if let Some(platform_id) = &row.source_platform_id {
        // A remote CPO's session: its CPO decides; the hub relays the answer.
        let body = serde_json::to_value(&prefs).map_err(AppError::internal)?;
        let cpo = PartyRef {
            country_code: row.country_code.clone(),
            party_id: row.party_id.clone(),
        };
        let answer = crate::ocpi::relay::send::<ChargingPreferencesResponse>(
            &state,
            &crate::ocpi::relay::Relay {
                platform_id,
                module: "sessions",
                role: crate::ocpi::versions::InterfaceRole::Sender,
                path: &format!("/{}/charging_preferences", session.id),
                method: reqwest::Method::PUT,
                from: &caller.from,
                to: &cpo,
            },
            Some(&body),
        )
        .await?
        .ok_or_else(|| {
            AppError::ocpi(
                status::HUB_GENERIC_ERROR,
                "the CPO sent no ChargingPreferencesResponse",
            )
        })?;
        if answer == ChargingPreferencesResponse::Accepted {
            let (key, json) = (row.key.clone(), body.to_string());
            state
                .db
                .write(move |c| store::set_preferences(c, &key, &json))
                .await?;
        }
        return Ok(OcpiResponse::ok(answer));
    }
    let (cc, pid) = (row.country_code.clone(), row.party_id.clone());
    let location_id = session.location_id.to_string();
    let location: Option<Location> = state
        .db
        .read(move |c| {
            crate::db::locations::get(
                c,
                &crate::db::locations::object_key(&cc, &pid, &location_id),
            )
        })
        .await?
        .and_then(|r| serde_json::from_str(&r.object).ok());
    let capable = location
        .as_ref()
        .and_then(|l| l.evse(session.evse_uid.as_str()))
        .and_then(|e| e.capabilities.as_ref())
        .is_some_and(|caps| caps.contains(&Capability::ChargingPreferencesCapable));
    if !capable {
        return Err(AppError::Unknown {
            code: status::INVALID_PARAMETERS,
            message: "the session's EVSE does not take charging preferences".into(),
        });
    }
    if matches!(
        session.status,
        SessionStatus::Completed | SessionStatus::Invalid
    ) {
        return Ok(OcpiResponse::ok(ChargingPreferencesResponse::NotPossible));
    }
    let json = serde_json::to_string(&prefs).map_err(AppError::internal)?;
    let key = row.key.clone();
    state
        .db
        .write(move |c| store::set_preferences(c, &key, &json))
        .await?;
    Ok(OcpiResponse::ok(ChargingPreferencesResponse::Accepted))
}

fn address(req: &HttpRequest, caller: &RoutedCaller) -> Result<(String, String, String), AppError> {
    crate::http::routing::owned_address(req, &caller.roles, "session_id")
}

fn same_address(s: &Session, cc: &str, pid: &str, id: &str) -> Result<(), AppError> {
    crate::http::routing::same_ids(&[
        ("country_code", cc, s.country_code.as_str()),
        ("party_id", pid, s.party_id.as_str()),
        ("id", id, s.id.as_str()),
    ])
}

async fn stored(state: &AppState, key: String) -> Result<Option<SessionRow>, AppError> {
    Ok(state.db.read(move |c| store::get(c, &key)).await?)
}

/// Receiver GET: the session as the hub stores it.
#[utoipa::path(get, path = "/ocpi/2.2.1/receiver/sessions/{country_code}/{party_id}/{session_id}", tag = "sessions",
    params(
        ("country_code" = String, Path, description = "CPO country code, one of the caller's roles"),
        ("party_id" = String, Path, description = "CPO party id"),
        ("session_id" = String, Path, description = "Session.id"),
    ),
    responses((status = 200, description = "Envelope with the Session", body = Session), (status = 404, description = "Unknown session")),
    security(("ocpi_token" = [])))]
pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: RoutedCaller,
) -> Result<OcpiResponse<Value>, AppError> {
    let (cc, pid, id) = address(&req, &caller)?;
    let row = stored(&state, store::object_key(&cc, &pid, &id))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("unknown session {cc}/{pid}/{id}")))?;
    Ok(OcpiResponse::ok(
        serde_json::from_str(&row.object).map_err(AppError::internal)?,
    ))
}

/// Store a CPO's session and forward `method`/`body` to the token owner.
async fn store_and_forward(
    state: &AppState,
    caller: &RoutedCaller,
    session: &Session,
    method: &'static str,
    body: Value,
) -> Result<bool, AppError> {
    let key = store::object_key(
        session.country_code.as_str(),
        session.party_id.as_str(),
        session.id.as_str(),
    );
    let now = crate::db::now();
    let row = SessionRow {
        key: key.clone(),
        country_code: session.country_code.as_str().to_ascii_uppercase(),
        party_id: session.party_id.as_str().to_ascii_uppercase(),
        id: session.id.to_string(),
        emsp_country_code: session.cdr_token.country_code.as_str().to_ascii_uppercase(),
        emsp_party_id: session.cdr_token.party_id.as_str().to_ascii_uppercase(),
        status: session.status.as_str().to_string(),
        object: serde_json::to_string(session).map_err(AppError::internal)?,
        transaction_ref: None,
        source_platform_id: Some(caller.caller.platform.id.clone()),
        pushed_periods: None,
        charging_preferences: None,
        snapshot: None,
        last_updated: session.last_updated.naive(),
        created_at: now,
    };
    let from = PartyRef {
        country_code: row.country_code.clone(),
        party_id: row.party_id.clone(),
    };
    let owner = PartyRef {
        country_code: row.emsp_country_code.clone(),
        party_id: row.emsp_party_id.clone(),
    };
    let path = format!(
        "/{}/{}/{}",
        session.country_code.as_str(),
        session.party_id.as_str(),
        session.id
    );
    let source = caller.caller.platform.id.clone();
    let recipients = state.recipients.clone();
    let (created, sent) = state
        .db
        .write(move |c| {
            let previous = store::get(c, &row.key)?;
            let mut row = row;
            if let Some(p) = &previous {
                row.charging_preferences = p.charging_preferences.clone();
            }
            let created = store::upsert(c, &row)?;
            let sent = bridge::send_from(
                c,
                Some(&recipients),
                "sessions",
                &format!("session:{key}"),
                method,
                &path,
                Some(&body),
                &from,
                &owner,
                Some(&source),
            )?;
            Ok((created, sent))
        })
        .await?;
    state.outbox_wakeup.enqueued(&sent);
    Ok(created)
}

/// Receiver PUT: a new or replaced session (periods replaced too), forwarded to its eMSP.
#[utoipa::path(put, path = "/ocpi/2.2.1/receiver/sessions/{country_code}/{party_id}/{session_id}", tag = "sessions",
    params(
        ("country_code" = String, Path, description = "CPO country code, one of the caller's roles"),
        ("party_id" = String, Path, description = "CPO party id"),
        ("session_id" = String, Path, description = "Session.id"),
    ),
    request_body = Session,
    responses((status = 201, description = "Created"), (status = 200, description = "Replaced, or OCPI 2001 naming the invalid field")),
    security(("ocpi_token" = [])))]
pub async fn put(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: RoutedCaller,
    payload: web::Payload,
) -> Result<OcpiResponse<()>, AppError> {
    let (cc, pid, id) = address(&req, &caller)?;
    let v = read_json_value(&req, payload, state.settings.max_body_bytes).await?;
    let session: Session = parse_value(v)?;
    same_address(&session, &cc, &pid, &id)?;
    let body = serde_json::to_value(&session).map_err(AppError::internal)?;
    let created = store_and_forward(&state, &caller, &session, "PUT", body).await?;
    let mut resp = OcpiResponse::empty();
    if created {
        resp.http = actix_web::http::StatusCode::CREATED;
    }
    Ok(resp)
}

/// Receiver PATCH: changed fields and `last_updated`; `charging_periods` are appended.
#[utoipa::path(patch, path = "/ocpi/2.2.1/receiver/sessions/{country_code}/{party_id}/{session_id}", tag = "sessions",
    params(
        ("country_code" = String, Path, description = "CPO country code, one of the caller's roles"),
        ("party_id" = String, Path, description = "CPO party id"),
        ("session_id" = String, Path, description = "Session.id"),
    ),
    request_body(content = Object, description = "Changed fields and `last_updated`; charging_periods to append"),
    responses((status = 200, description = "Merged, or OCPI 2001 (no last_updated, invalid result)"), (status = 404, description = "Unknown session: PUT it")),
    security(("ocpi_token" = [])))]
pub async fn patch(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: RoutedCaller,
    payload: web::Payload,
) -> Result<OcpiResponse<()>, AppError> {
    let (cc, pid, id) = address(&req, &caller)?;
    let patch = read_json_value(&req, payload, state.settings.max_body_bytes).await?;
    let p = crate::http::json::patch_object(&patch)?;
    let row = stored(&state, store::object_key(&cc, &pid, &id))
        .await?
        .ok_or_else(|| {
            AppError::NotFound(format!("unknown session {cc}/{pid}/{id}: PUT it first"))
        })?;
    let mut merged: Value = serde_json::from_str(&row.object).map_err(AppError::internal)?;
    if let Some(o) = merged.as_object_mut() {
        for (k, v) in p {
            if k == "charging_periods" {
                // Appended, never replaced (only a PUT replaces periods).
                let added = v.as_array().cloned().unwrap_or_default();
                let list = o
                    .entry("charging_periods")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Some(existing) = list.as_array_mut() {
                    existing.extend(added);
                }
            } else {
                o.insert(k.clone(), v.clone());
            }
        }
    }
    let session: Session = parse_value(merged)?;
    same_address(&session, &cc, &pid, &id)?;
    store_and_forward(&state, &caller, &session, "PATCH", patch).await?;
    Ok(OcpiResponse::empty())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/ocpi/2.2.1/receiver/sessions/{country_code}/{party_id}/{session_id}")
            .route(web::get().to(get))
            .route(web::put().to(put))
            .route(web::patch().to(patch))
            .default_service(web::to(crate::http::method_not_allowed)),
    );
    cfg.service(
        web::resource("/ocpi/2.2.1/sender/sessions")
            .route(web::get().to(list))
            .default_service(web::to(crate::http::method_not_allowed)),
    );
    cfg.service(
        web::resource("/ocpi/2.2.1/sender/sessions/{session_id}/charging_preferences")
            .route(web::put().to(charging_preferences))
            .default_service(web::to(crate::http::method_not_allowed)),
    );
}
