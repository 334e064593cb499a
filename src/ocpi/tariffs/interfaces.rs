//! Tariffs Receiver interface (CPOs push: `GET|PUT|DELETE
//! /ocpi/2.2.1/receiver/tariffs/{country_code}/{party_id}/{tariff_id}`) and Sender interface
//! (eMSPs pull: `GET /ocpi/2.2.1/sender/tariffs`). Every change is stored and enqueued for the
//! eMSPs in one transaction.

use actix_web::{HttpRequest, web};
use serde_json::Value;

use crate::db::DbError;
use crate::db::locations::{self as store, TariffRow, object_key};
use crate::error::AppError;
use crate::http::auth::RoutedCaller;
use crate::http::envelope::OcpiResponse;
use crate::http::json::{parse_value, read_json_value};
use crate::http::pagination::Pagination;
use crate::http::routing::PartyRef;
use crate::push::{self, Change, EMSP_LIKE};
use crate::state::AppState;

use super::model::Tariff;

/// Store a tariff (validated) and enqueue a PUT for every eMSP; returns true when new.
pub async fn store_tariff(
    state: &AppState,
    source_platform: Option<String>,
    tariff: Tariff,
) -> Result<bool, AppError> {
    let key = object_key(
        tariff.country_code.as_str(),
        tariff.party_id.as_str(),
        tariff.id.as_str(),
    );
    let row = TariffRow {
        key: key.clone(),
        country_code: tariff.country_code.as_str().to_ascii_uppercase(),
        party_id: tariff.party_id.as_str().to_ascii_uppercase(),
        id: tariff.id.as_str().to_string(),
        object: serde_json::to_string(&tariff).map_err(AppError::internal)?,
        source_platform_id: source_platform.clone(),
        last_updated: tariff.last_updated.naive(),
        created_at: crate::db::now(),
    };
    let body = serde_json::to_value(&tariff).map_err(AppError::internal)?;
    let (created, n) = state
        .db
        .write(move |c| {
            let created = store::upsert_tariff(c, &row)?;
            let n = enqueue(c, &row, "PUT", Some(&body), source_platform.as_deref())?;
            Ok((created, n))
        })
        .await?;
    state.outbox_wakeup.enqueued(&n);
    Ok(created)
}

fn enqueue(
    c: &mut crate::db::DbConnection,
    row: &TariffRow,
    method: &str,
    body: Option<&Value>,
    exclude: Option<&str>,
) -> Result<Vec<i64>, DbError> {
    let to = push::recipients(c, "tariffs", EMSP_LIKE, exclude, None)?;
    push::fan_out(
        c,
        &Change {
            module: "tariffs",
            object_group: &row.key,
            method,
            path: &format!("/{}/{}/{}", row.country_code, row.party_id, row.id),
            body,
            from: &PartyRef {
                country_code: row.country_code.clone(),
                party_id: row.party_id.clone(),
            },
        },
        &to,
    )
}

fn address(req: &HttpRequest, caller: &RoutedCaller) -> Result<(String, String, String), AppError> {
    crate::http::routing::owned_address(req, &caller.roles, "tariff_id")
}

/// GET: the tariff as the hub stores it.
#[utoipa::path(get, path = "/ocpi/2.2.1/receiver/tariffs/{country_code}/{party_id}/{tariff_id}", tag = "tariffs",
    params(
        ("country_code" = String, Path, description = "CPO country code, one of the caller's roles"),
        ("party_id" = String, Path, description = "CPO party id"),
        ("tariff_id" = String, Path, description = "Tariff.id"),
    ),
    responses((status = 200, description = "Envelope with the Tariff", body = super::model::Tariff), (status = 404, description = "Unknown tariff")),
    security(("ocpi_token" = [])))]
pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: RoutedCaller,
) -> Result<OcpiResponse<Value>, AppError> {
    let (cc, pid, id) = address(&req, &caller)?;
    let key = object_key(&cc, &pid, &id);
    let row = state
        .db
        .read(move |c| store::get_tariff(c, &key))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("unknown tariff {cc}/{pid}/{id}")))?;
    Ok(OcpiResponse::ok(
        serde_json::from_str(&row.object).map_err(AppError::internal)?,
    ))
}

/// PUT: a new or replaced tariff (201 when new).
#[utoipa::path(put, path = "/ocpi/2.2.1/receiver/tariffs/{country_code}/{party_id}/{tariff_id}", tag = "tariffs",
    params(
        ("country_code" = String, Path, description = "CPO country code, one of the caller's roles"),
        ("party_id" = String, Path, description = "CPO party id"),
        ("tariff_id" = String, Path, description = "Tariff.id"),
    ),
    request_body = super::model::Tariff,
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
    let tariff: Tariff = parse_value(v)?;
    crate::http::routing::same_ids(&[
        ("country_code", cc.as_str(), tariff.country_code.as_str()),
        ("party_id", pid.as_str(), tariff.party_id.as_str()),
        ("id", id.as_str(), tariff.id.as_str()),
    ])?;
    let created = store_tariff(&state, Some(caller.caller.platform.id.clone()), tariff).await?;
    let mut resp = OcpiResponse::empty();
    if created {
        resp.http = actix_web::http::StatusCode::CREATED;
    }
    Ok(resp)
}

/// DELETE: the tariff is gone; eMSPs are told with a DELETE.
#[utoipa::path(delete, path = "/ocpi/2.2.1/receiver/tariffs/{country_code}/{party_id}/{tariff_id}", tag = "tariffs",
    params(
        ("country_code" = String, Path, description = "CPO country code, one of the caller's roles"),
        ("party_id" = String, Path, description = "CPO party id"),
        ("tariff_id" = String, Path, description = "Tariff.id"),
    ),
    responses((status = 200, description = "Deleted"), (status = 404, description = "Unknown tariff")),
    security(("ocpi_token" = [])))]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: RoutedCaller,
) -> Result<OcpiResponse<()>, AppError> {
    let (cc, pid, id) = address(&req, &caller)?;
    let key = object_key(&cc, &pid, &id);
    let exclude = caller.caller.platform.id.clone();
    let removed = state
        .db
        .write(move |c| {
            let Some(row) = store::get_tariff(c, &key)? else {
                return Ok(None);
            };
            store::delete_tariff(c, &key)?;
            Ok(Some(enqueue(c, &row, "DELETE", None, Some(&exclude))?))
        })
        .await?;
    match removed {
        None => Err(AppError::NotFound(format!(
            "unknown tariff {cc}/{pid}/{id}"
        ))),
        Some(n) => {
            state.outbox_wakeup.enqueued(&n);
            Ok(OcpiResponse::empty())
        }
    }
}

/// Sender: a page of tariffs, oldest change first.
#[utoipa::path(get, path = "/ocpi/2.2.1/sender/tariffs", tag = "tariffs",
    params(
        ("date_from" = Option<String>, Query, description = "last_updated >= date_from"),
        ("date_to" = Option<String>, Query, description = "last_updated < date_to"),
        ("offset" = Option<u64>, Query, description = "first object, default 0"),
        ("limit" = Option<u64>, Query, description = "page size, capped by X-Limit"),
    ),
    responses((status = 200, description = "Envelope with a page of Tariffs; headers X-Total-Count, X-Limit, Link", body = Vec<super::model::Tariff>)),
    security(("ocpi_token" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    _caller: RoutedCaller,
    page: Pagination,
) -> Result<OcpiResponse<Vec<Box<serde_json::value::RawValue>>>, AppError> {
    let q = page.query.clone();
    let (rows, total) = state
        .db
        .read(move |c| Ok((store::page_tariffs(c, &q)?, store::count_tariffs(c, &q)?)))
        .await?;
    let rows = rows
        .into_iter()
        .map(|r| (r.last_updated, r.key, r.object))
        .collect();
    page.respond_stored(rows, total)
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/ocpi/2.2.1/receiver/tariffs/{country_code}/{party_id}/{tariff_id}")
            .route(web::get().to(get))
            .route(web::put().to(put))
            .route(web::delete().to(delete))
            .default_service(web::to(crate::http::method_not_allowed)),
    );
    cfg.service(
        web::resource("/ocpi/2.2.1/sender/tariffs")
            .route(web::get().to(list))
            .default_service(web::to(crate::http::method_not_allowed)),
    );
}
