//! CDRs Sender interface (eMSPs pull their CDRs: `GET /ocpi/2.2.1/sender/cdrs`) and Receiver
//! interface (remote CPOs push: `POST /ocpi/2.2.1/receiver/cdrs`, answered with a `Location`
//! the CPO can GET). A pushed CDR is stored once (a repeated POST of the same id is answered
//! with the same `Location` and not forwarded again) and forwarded to the eMSP that owns its
//! `cdr_token`, after that session's pushes when the hub holds the session.

use actix_web::{HttpRequest, web};
use serde_json::Value;

use crate::db::cdrs as store;
use crate::db::sessions;
use crate::error::AppError;
use crate::http::auth::RoutedCaller;
use crate::http::envelope::OcpiResponse;
use crate::http::json::{parse_value, read_json_value};
use crate::http::pagination::Pagination;
use crate::http::routing::holds;
use crate::ocpi::sessions::interfaces::owners;
use crate::ocpp::bridge;
use crate::state::AppState;

use super::model::Cdr;

/// Sender: a page of the caller's CDRs (as token owner), oldest first.
#[utoipa::path(get, path = "/ocpi/2.2.1/sender/cdrs", tag = "cdrs",
    params(
        ("date_from" = Option<String>, Query, description = "last_updated >= date_from"),
        ("date_to" = Option<String>, Query, description = "last_updated < date_to"),
        ("offset" = Option<u64>, Query, description = "first object, default 0"),
        ("limit" = Option<u64>, Query, description = "page size, capped by X-Limit"),
    ),
    responses((status = 200, description = "Envelope with a page of CDRs (only the caller's); headers X-Total-Count, X-Limit, Link", body = Vec<Cdr>)),
    security(("ocpi_token" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: RoutedCaller,
    page: Pagination,
) -> Result<OcpiResponse<Vec<Box<serde_json::value::RawValue>>>, AppError> {
    let q = page.query.clone();
    let owners = owners(&caller);
    let (rows, total) = state
        .db
        .read(move |c| store::stored_page(c, &q, Some(&owners)))
        .await?;
    page.respond_stored(rows, total)
}

fn location_of(state: &AppState, cdr: &Cdr) -> String {
    format!(
        "{}/ocpi/2.2.1/receiver/cdrs/{}/{}/{}",
        state.public_url,
        cdr.country_code.as_str().to_ascii_uppercase(),
        cdr.party_id.as_str().to_ascii_uppercase(),
        url::form_urlencoded::byte_serialize(cdr.id.as_str().as_bytes()).collect::<String>()
    )
}

/// Receiver POST: a CPO's final CDR. 201 with `Location` when new; 200 with the same
/// `Location` when this CDR id was received before (nothing changes: CDRs are immutable).
#[utoipa::path(post, path = "/ocpi/2.2.1/receiver/cdrs", tag = "cdrs",
    request_body = Cdr,
    responses((status = 201, description = "Stored; header Location: where to GET it"),
               (status = 200, description = "Already stored (same Location), or OCPI 2001 naming the invalid field")),
    security(("ocpi_token" = [])))]
pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: RoutedCaller,
    payload: web::Payload,
) -> Result<OcpiResponse<()>, AppError> {
    let v = read_json_value(&req, payload, state.settings.max_body_bytes).await?;
    let cdr: Cdr = parse_value(v)?;
    if !holds(
        &caller.roles,
        cdr.country_code.as_str(),
        cdr.party_id.as_str(),
    ) {
        return Err(AppError::invalid(format!(
            "field `country_code`/`party_id`: {}/{} is not one of your credentials roles",
            cdr.country_code.as_str(),
            cdr.party_id.as_str()
        )));
    }
    let location = location_of(&state, &cdr);
    let source = caller.caller.platform.id.clone();
    let to_store = cdr.clone();
    let (created, sent) = state
        .db
        .write(move |c| {
            let session_key = to_store.session_id.as_ref().map(|s| {
                sessions::object_key(
                    to_store.country_code.as_str(),
                    to_store.party_id.as_str(),
                    s.as_str(),
                )
            });
            let session_key = match session_key {
                Some(k) if sessions::get(c, &k)?.is_some() => Some(k),
                _ => None,
            };
            // A repeated POST of a stored CDR changes nothing and is not forwarded again.
            let stored = bridge::store_and_send_cdr(
                c,
                None,
                &to_store,
                None,
                session_key.as_deref(),
                Some(&source),
            )?;
            Ok((stored.is_some(), stored.unwrap_or_default()))
        })
        .await?;
    state.outbox_wakeup.enqueued(&sent);
    let mut resp = OcpiResponse::empty().header("Location", location);
    if created {
        resp.http = actix_web::http::StatusCode::CREATED;
    }
    Ok(resp)
}

/// Receiver GET: a CDR the caller pushed, at the `Location` the POST answered.
#[utoipa::path(get, path = "/ocpi/2.2.1/receiver/cdrs/{country_code}/{party_id}/{cdr_id}", tag = "cdrs",
    params(
        ("country_code" = String, Path, description = "CPO country code, one of the caller's roles"),
        ("party_id" = String, Path, description = "CPO party id"),
        ("cdr_id" = String, Path, description = "CDR.id"),
    ),
    responses((status = 200, description = "Envelope with the CDR", body = Cdr), (status = 404, description = "Unknown CDR")),
    security(("ocpi_token" = [])))]
pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: RoutedCaller,
) -> Result<OcpiResponse<Value>, AppError> {
    let m = req.match_info();
    let cc = m.get("country_code").unwrap_or_default().to_string();
    let pid = m.get("party_id").unwrap_or_default().to_string();
    let id = m.get("cdr_id").unwrap_or_default().to_string();
    if !holds(&caller.roles, &cc, &pid) {
        return Err(AppError::NotFound(format!(
            "{cc}/{pid} is not one of your credentials roles"
        )));
    }
    let key = sessions::object_key(&cc, &pid, &id);
    let row = state
        .db
        .read(move |c| store::get(c, &key))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("unknown CDR {cc}/{pid}/{id}")))?;
    Ok(OcpiResponse::ok(
        serde_json::from_str(&row.object).map_err(AppError::internal)?,
    ))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/ocpi/2.2.1/receiver/cdrs")
            .route(web::post().to(post))
            .default_service(web::to(crate::http::method_not_allowed)),
    );
    cfg.service(
        web::resource("/ocpi/2.2.1/receiver/cdrs/{country_code}/{party_id}/{cdr_id}")
            .route(web::get().to(get))
            .default_service(web::to(crate::http::method_not_allowed)),
    );
    cfg.service(
        web::resource("/ocpi/2.2.1/sender/cdrs")
            .route(web::get().to(list))
            .default_service(web::to(crate::http::method_not_allowed)),
    );
}
