//! Locations Receiver interface, for CPO partners pushing their locations into the hub:
//! `GET|PUT|PATCH /ocpi/2.2.1/receiver/locations/{country_code}/{party_id}/{location_id}[/{evse_uid}[/{connector_id}]]`.

use actix_web::{HttpRequest, web};
use serde_json::Value;

use crate::db::locations as store;
use crate::error::AppError;
use crate::http::auth::RoutedCaller;
use crate::http::envelope::{OcpiResponse, status};
use crate::http::json::read_json_value;
use crate::state::AppState;

use super::service::{self, LocationRef, Op, Source, Target};

/// The URL's party must be one of the caller's roles: 404 otherwise (the spec's way of hiding
/// other parties' objects).
fn check_owner(caller: &RoutedCaller, cc: &str, pid: &str) -> Result<(), AppError> {
    if crate::http::routing::holds(&caller.roles, cc, pid) {
        Ok(())
    } else {
        Err(AppError::NotFound(format!(
            "{cc}/{pid} is not one of your credentials roles"
        )))
    }
}

fn address(req: &HttpRequest) -> Result<(LocationRef, Target), AppError> {
    let m = req.match_info();
    let seg = |k: &str| m.get(k).map(str::to_string);
    let r = LocationRef {
        country_code: seg("country_code").unwrap_or_default(),
        party_id: seg("party_id").unwrap_or_default(),
        location_id: seg("location_id").unwrap_or_default(),
    };
    for (name, v, max) in [
        ("country_code", Some(r.country_code.as_str()), 2),
        ("party_id", Some(r.party_id.as_str()), 3),
        ("location_id", Some(r.location_id.as_str()), 36),
        ("evse_uid", m.get("evse_uid"), 36),
        ("connector_id", m.get("connector_id"), 36),
    ] {
        if let Some(v) = v
            && (v.is_empty() || v.len() > max || !v.chars().all(|c| (' '..='~').contains(&c)))
        {
            return Err(AppError::invalid(format!(
                "URL segment `{name}`: `{v}` is not a CiString({max})"
            )));
        }
    }
    let target = match (seg("evse_uid"), seg("connector_id")) {
        (Some(e), Some(c)) => Target::Connector(e, c),
        (Some(e), None) => Target::Evse(e),
        _ => Target::Location,
    };
    Ok((r, target))
}

/// GET: the object as the hub stores it.
#[utoipa::path(
    get,
    path = "/ocpi/2.2.1/receiver/locations/{country_code}/{party_id}/{location_id}",
    tag = "locations",
    params(
        ("country_code" = String, Path, description = "CPO country code, one of the caller's roles"),
        ("party_id" = String, Path, description = "CPO party id, one of the caller's roles"),
        ("location_id" = String, Path, description = "Location.id"),
    ),
    responses((status = 200, description = "Envelope with the Location (EVSE, Connector at the longer paths)", body = super::model::Location),
               (status = 404, description = "Unknown object (2003) or a party that is not the caller's")),
    security(("ocpi_token" = []))
)]
pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: RoutedCaller,
) -> Result<OcpiResponse<Value>, AppError> {
    let (r, target) = address(&req)?;
    check_owner(&caller, &r.country_code, &r.party_id)?;
    let key = r.key();
    let row = state.db.read(move |c| store::get(c, &key)).await?;
    let unknown = |what: String| AppError::Unknown {
        code: status::UNKNOWN_LOCATION,
        message: format!("unknown {what}"),
    };
    let loc = service::load(&row.ok_or_else(|| unknown(format!("location {}", r.location_id)))?)?;
    let data = match &target {
        Target::Location => serde_json::to_value(&loc),
        Target::Evse(uid) => serde_json::to_value(
            loc.evse(uid)
                .ok_or_else(|| unknown(format!("EVSE {uid}")))?,
        ),
        Target::Connector(uid, cid) => serde_json::to_value(
            loc.evse(uid)
                .and_then(|e| e.connector(cid))
                .ok_or_else(|| unknown(format!("connector {uid}/{cid}")))?,
        ),
    }
    .map_err(AppError::internal)?;
    Ok(OcpiResponse::ok(data))
}

async fn change(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: RoutedCaller,
    payload: web::Payload,
    patch: bool,
) -> Result<OcpiResponse<()>, AppError> {
    let (r, target) = address(&req)?;
    check_owner(&caller, &r.country_code, &r.party_id)?;
    let body = read_json_value(&req, payload, state.settings.max_body_bytes).await?;
    let op = if patch {
        Op::Patch(body)
    } else {
        Op::Put(body)
    };
    let source = Source {
        platform_id: Some(caller.caller.platform.id.clone()),
    };
    let applied = service::apply(&state, source, r, target, op).await?;
    Ok(if applied.created {
        let mut resp = OcpiResponse::empty();
        resp.http = actix_web::http::StatusCode::CREATED;
        resp
    } else {
        OcpiResponse::empty()
    })
}

/// PUT: a new or replaced Location, EVSE or Connector (201 when new).
#[utoipa::path(
    put,
    path = "/ocpi/2.2.1/receiver/locations/{country_code}/{party_id}/{location_id}",
    tag = "locations",
    params(
        ("country_code" = String, Path, description = "CPO country code, one of the caller's roles"),
        ("party_id" = String, Path, description = "CPO party id, one of the caller's roles"),
        ("location_id" = String, Path, description = "Location.id"),
    ),
    request_body = super::model::Location,
    responses((status = 201, description = "Created (no data)"), (status = 200, description = "Replaced, or OCPI 2001 naming the invalid field"),
               (status = 404, description = "A party that is not the caller's, or (EVSE/Connector) an unknown location (2003)")),
    security(("ocpi_token" = []))
)]
pub async fn put(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: RoutedCaller,
    payload: web::Payload,
) -> Result<OcpiResponse<()>, AppError> {
    change(req, state, caller, payload, false).await
}

/// PATCH: changed fields plus `last_updated`; parents' `last_updated` follow.
#[utoipa::path(
    patch,
    path = "/ocpi/2.2.1/receiver/locations/{country_code}/{party_id}/{location_id}",
    tag = "locations",
    params(
        ("country_code" = String, Path, description = "CPO country code, one of the caller's roles"),
        ("party_id" = String, Path, description = "CPO party id, one of the caller's roles"),
        ("location_id" = String, Path, description = "Location.id"),
    ),
    request_body(content = Object, description = "Changed fields and `last_updated`"),
    responses((status = 200, description = "Merged, or OCPI 2001 (no last_updated, invalid result)"),
               (status = 404, description = "Unknown object (2003) or a party that is not the caller's")),
    security(("ocpi_token" = []))
)]
pub async fn patch(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: RoutedCaller,
    payload: web::Payload,
) -> Result<OcpiResponse<()>, AppError> {
    change(req, state, caller, payload, true).await
}

pub const PATHS: [&str; 3] = [
    "/ocpi/2.2.1/receiver/locations/{country_code}/{party_id}/{location_id}",
    "/ocpi/2.2.1/receiver/locations/{country_code}/{party_id}/{location_id}/{evse_uid}",
    "/ocpi/2.2.1/receiver/locations/{country_code}/{party_id}/{location_id}/{evse_uid}/{connector_id}",
];

pub fn routes(cfg: &mut web::ServiceConfig) {
    for p in PATHS {
        cfg.service(
            web::resource(p)
                .route(web::get().to(get))
                .route(web::put().to(put))
                .route(web::patch().to(patch))
                .default_service(web::to(crate::http::method_not_allowed)),
        );
    }
}
