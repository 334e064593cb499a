//! Locations Sender interface, for eMSPs: every location the hub knows (its own and those of
//! every remote CPO) in one view, paginated; unpublished ones only for the parties allowed.
//! `GET /ocpi/2.2.1/sender/locations[/{location_id}[/{evse_uid}[/{connector_id}]]]`.

use actix_web::{HttpRequest, web};
use serde_json::Value;

use crate::db::locations as store;
use crate::error::AppError;
use crate::http::auth::RoutedCaller;
use crate::http::envelope::{OcpiResponse, status};
use crate::http::pagination::Pagination;
use crate::state::AppState;

use super::model::Location;
use super::service;

/// A page of locations, oldest change first.
#[utoipa::path(
    get,
    path = "/ocpi/2.2.1/sender/locations",
    tag = "locations",
    params(
        ("date_from" = Option<String>, Query, description = "last_updated >= date_from"),
        ("date_to" = Option<String>, Query, description = "last_updated < date_to"),
        ("offset" = Option<u64>, Query, description = "first object, default 0"),
        ("limit" = Option<u64>, Query, description = "page size, capped by X-Limit"),
    ),
    responses((status = 200, description = "Envelope with a page of Locations; headers X-Total-Count, X-Limit, Link", body = Vec<super::model::Location>)),
    security(("ocpi_token" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: RoutedCaller,
    page: Pagination,
) -> Result<OcpiResponse<Vec<Box<serde_json::value::RawValue>>>, AppError> {
    let q = page.query.clone();
    let mut viewer = caller.roles.clone();
    viewer.sort_by(|a, b| (&a.country_code, &a.party_id).cmp(&(&b.country_code, &b.party_id)));
    let cache_id = format!(
        "{}|{:?}|{:?}",
        viewer
            .iter()
            .map(|p| format!("{}/{}", p.country_code, p.party_id))
            .collect::<Vec<_>>()
            .join(","),
        q.date_from,
        q.date_to
    );
    let (q2, v2, db) = (q.clone(), viewer.clone(), state.db.clone());
    let keys = state
        .location_lists
        .get_or_load(cache_id, || async move {
            db.read(move |c| store::keys(c, &q2, Some(&v2))).await
        })
        .await?;
    let total = keys.len() as i64;
    let start = (q.offset.max(0) as usize).min(keys.len());
    let end = start
        .saturating_add(q.limit.max(0) as usize)
        .min(keys.len());
    let wanted: Vec<String> = keys[start..end].iter().map(|(_, k)| k.clone()).collect();
    let last = keys[start..end].last().map(|(t, k)| (*t, k.clone()));
    let rows = state.db.read(move |c| store::get_many(c, &wanted)).await?;
    // The stored JSON is canonical: it goes out as it is, without a parse and a re-serialise.
    let items = rows
        .into_iter()
        .map(|r| serde_json::value::RawValue::from_string(r.object).map_err(AppError::internal))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page.respond(items, total, last.as_ref().map(|(t, k)| (*t, k.as_str()))))
}

fn unknown(what: String) -> AppError {
    AppError::Unknown {
        code: status::UNKNOWN_LOCATION,
        message: format!("unknown {what}"),
    }
}

/// One Location, EVSE or Connector. Location ids are unique per CPO only: when several CPOs use
/// the same id, the `OCPI-to-*` headers name the one meant.
#[utoipa::path(
    get,
    path = "/ocpi/2.2.1/sender/locations/{location_id}",
    tag = "locations",
    params(("location_id" = String, Path, description = "Location.id")),
    responses((status = 200, description = "Envelope with the Location (EVSE, Connector at the longer paths)", body = super::model::Location),
               (status = 404, description = "Unknown or not visible (2003)")),
    security(("ocpi_token" = []))
)]
pub async fn one(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: RoutedCaller,
) -> Result<OcpiResponse<Value>, AppError> {
    let m = req.match_info();
    let id = m.get("location_id").unwrap_or_default().to_string();
    let evse = m.get("evse_uid").map(str::to_string);
    let connector = m.get("connector_id").map(str::to_string);
    let viewer = caller.roles.clone();
    let lookup = id.clone();
    let rows = state
        .db
        .read(move |c| {
            // Visibility: the same rule as the list.
            let visible = store::find_by_id(c, &lookup)?;
            let mut out = Vec::new();
            for r in visible {
                if r.publish || store::visible_to(c, &r.key, &viewer)? {
                    out.push(r);
                }
            }
            Ok(out)
        })
        .await?;
    let rows: Vec<_> = match &caller.to {
        Some(to) => rows
            .into_iter()
            .filter(|r| r.country_code == to.country_code && r.party_id == to.party_id)
            .collect(),
        None => rows,
    };
    let row = match rows.as_slice() {
        [] => return Err(unknown(format!("location {id}"))),
        [one] => one,
        _ => {
            return Err(AppError::invalid(format!(
                "location id {id} exists for several CPOs: name one with OCPI-to-country-code and OCPI-to-party-id"
            )));
        }
    };
    let loc: Location = service::load(row)?;
    let data = match (&evse, &connector) {
        (None, _) => serde_json::to_value(&loc),
        (Some(uid), None) => serde_json::to_value(
            loc.evse(uid)
                .ok_or_else(|| unknown(format!("EVSE {uid}")))?,
        ),
        (Some(uid), Some(cid)) => serde_json::to_value(
            loc.evse(uid)
                .and_then(|e| e.connector(cid))
                .ok_or_else(|| unknown(format!("connector {uid}/{cid}")))?,
        ),
    }
    .map_err(AppError::internal)?;
    Ok(OcpiResponse::ok(data))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/ocpi/2.2.1/sender/locations")
            .route(web::get().to(list))
            .default_service(web::to(crate::http::method_not_allowed)),
    );
    for p in [
        "/ocpi/2.2.1/sender/locations/{location_id}",
        "/ocpi/2.2.1/sender/locations/{location_id}/{evse_uid}",
        "/ocpi/2.2.1/sender/locations/{location_id}/{evse_uid}/{connector_id}",
    ] {
        cfg.service(
            web::resource(p)
                .route(web::get().to(one))
                .default_service(web::to(crate::http::method_not_allowed)),
        );
    }
}
