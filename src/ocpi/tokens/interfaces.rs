//! Tokens Receiver interface (eMSPs push: `GET|PUT|PATCH
//! /ocpi/2.2.1/receiver/tokens/{country_code}/{party_id}/{token_uid}[?type=]`) and Sender
//! interface (CPOs pull: `GET /ocpi/2.2.1/sender/tokens`, and ask:
//! `POST /ocpi/2.2.1/sender/tokens/{token_uid}/authorize[?type=]`). Tokens are never deleted;
//! an eMSP sends `valid: false`. Every change is forwarded to the CPO partners that have a
//! tokens Receiver (a PUT of the whole token), in the same transaction as the store.

use actix_web::{HttpRequest, web};
use serde::Deserialize;
use serde_json::Value;

use crate::db::tokens::{self as store, TokenRow, token_key};
use crate::db::{DbConnection, DbError};
use crate::error::AppError;
use crate::http::auth::RoutedCaller;
use crate::http::envelope::{OcpiResponse, status};
use crate::http::json::{parse_value, read_json_value};
use crate::http::pagination::Pagination;
use crate::http::routing::PartyRef;
use crate::push::{self, Change};
use crate::state::AppState;

use super::authorize::{self, AskError};
use super::model::{AuthorizationInfo, LocationReferences, Token, TokenType};

#[derive(Debug, Deserialize)]
pub struct TypeParam {
    #[serde(rename = "type")]
    pub token_type: Option<String>,
}

fn token_type(q: &TypeParam) -> Result<TokenType, AppError> {
    authorize::token_type_param(q.token_type.as_deref())
        .map_err(|e| AppError::invalid(format!("query parameter `type`: {e}")))
}

fn address(req: &HttpRequest, caller: &RoutedCaller) -> Result<(String, String, String), AppError> {
    crate::http::routing::owned_address(req, &caller.roles, "token_uid")
}

fn row_of(token: &Token, source: Option<String>) -> Result<TokenRow, AppError> {
    Ok(TokenRow {
        key: token_key(
            token.country_code.as_str(),
            token.party_id.as_str(),
            token.uid.as_str(),
            token.token_type.as_str(),
        ),
        country_code: token.country_code.as_str().to_ascii_uppercase(),
        party_id: token.party_id.as_str().to_ascii_uppercase(),
        uid: token.uid.as_str().to_string(),
        uid_key: token.uid.as_str().to_ascii_uppercase(),
        token_type: token.token_type.as_str().to_string(),
        valid: token.valid,
        whitelist: token.whitelist.as_str().to_string(),
        object: serde_json::to_string(token).map_err(AppError::internal)?,
        source_platform_id: source,
        last_updated: token.last_updated.naive(),
        created_at: crate::db::now(),
    })
}

/// Forward a token to every CPO partner with a tokens Receiver, except its source.
fn enqueue(c: &mut DbConnection, row: &TokenRow, body: &Value) -> Result<Vec<i64>, DbError> {
    let to = push::recipients(
        c,
        "tokens",
        &["CPO"],
        row.source_platform_id.as_deref(),
        None,
    )?;
    push::fan_out(
        c,
        &Change {
            module: "tokens",
            object_group: &row.key,
            method: "PUT",
            path: &format!(
                "/{}/{}/{}?type={}",
                row.country_code,
                row.party_id,
                url::form_urlencoded::byte_serialize(row.uid.as_bytes()).collect::<String>(),
                row.token_type
            ),
            body: Some(body),
            from: &PartyRef {
                country_code: row.country_code.clone(),
                party_id: row.party_id.clone(),
            },
        },
        &to,
    )
}

/// Store a token (validated) and forward it; returns true when new.
pub async fn store_token(
    state: &AppState,
    source: Option<String>,
    token: Token,
) -> Result<bool, AppError> {
    let row = row_of(&token, source)?;
    let body = serde_json::to_value(&token).map_err(AppError::internal)?;
    let (created, n) = state
        .db
        .write(move |c| {
            let created = store::upsert(c, &row)?;
            let n = enqueue(c, &row, &body)?;
            Ok((created, n))
        })
        .await?;
    state.outbox_wakeup.enqueued(&n);
    Ok(created)
}

async fn stored(state: &AppState, key: String) -> Result<Option<TokenRow>, AppError> {
    Ok(state.db.read(move |c| store::get(c, &key)).await?)
}

/// GET: the token as the hub stores it.
#[utoipa::path(get, path = "/ocpi/2.2.1/receiver/tokens/{country_code}/{party_id}/{token_uid}", tag = "tokens",
    params(
        ("country_code" = String, Path, description = "eMSP country code, one of the caller's roles"),
        ("party_id" = String, Path, description = "eMSP party id"),
        ("token_uid" = String, Path, description = "Token.uid (case-insensitive)"),
        ("type" = Option<String>, Query, description = "TokenType, default RFID"),
    ),
    responses((status = 200, description = "Envelope with the Token", body = Token), (status = 404, description = "Unknown token")),
    security(("ocpi_token" = [])))]
pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: RoutedCaller,
    q: web::Query<TypeParam>,
) -> Result<OcpiResponse<Value>, AppError> {
    let (cc, pid, uid) = address(&req, &caller)?;
    let t = token_type(&q)?;
    let row = stored(&state, token_key(&cc, &pid, &uid, t.as_str()))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("unknown token {cc}/{pid}/{uid} ({t:?})")))?;
    Ok(OcpiResponse::ok(
        serde_json::from_str(&row.object).map_err(AppError::internal)?,
    ))
}

/// PUT: a new or replaced token (201 when new).
#[utoipa::path(put, path = "/ocpi/2.2.1/receiver/tokens/{country_code}/{party_id}/{token_uid}", tag = "tokens",
    params(
        ("country_code" = String, Path, description = "eMSP country code, one of the caller's roles"),
        ("party_id" = String, Path, description = "eMSP party id"),
        ("token_uid" = String, Path, description = "Token.uid"),
        ("type" = Option<String>, Query, description = "TokenType, default RFID; must match the body"),
    ),
    request_body = Token,
    responses((status = 201, description = "Created"), (status = 200, description = "Replaced, or OCPI 2001 naming the invalid field")),
    security(("ocpi_token" = [])))]
pub async fn put(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: RoutedCaller,
    q: web::Query<TypeParam>,
    payload: web::Payload,
) -> Result<OcpiResponse<()>, AppError> {
    let (cc, pid, uid) = address(&req, &caller)?;
    let t = token_type(&q)?;
    let v = read_json_value(&req, payload, state.settings.max_body_bytes).await?;
    let token: Token = parse_value(v)?;
    same_address(&token, &cc, &pid, &uid, t)?;
    let created = store_token(&state, Some(caller.caller.platform.id.clone()), token).await?;
    let mut resp = OcpiResponse::empty();
    if created {
        resp.http = actix_web::http::StatusCode::CREATED;
    }
    Ok(resp)
}

fn same_address(
    token: &Token,
    cc: &str,
    pid: &str,
    uid: &str,
    t: TokenType,
) -> Result<(), AppError> {
    crate::http::routing::same_ids(&[
        ("country_code", cc, token.country_code.as_str()),
        ("party_id", pid, token.party_id.as_str()),
        ("uid", uid, token.uid.as_str()),
        ("type", t.as_str(), token.token_type.as_str()),
    ])
}

/// PATCH: changed fields plus `last_updated`, merged into the stored token and re-validated.
#[utoipa::path(patch, path = "/ocpi/2.2.1/receiver/tokens/{country_code}/{party_id}/{token_uid}", tag = "tokens",
    params(
        ("country_code" = String, Path, description = "eMSP country code, one of the caller's roles"),
        ("party_id" = String, Path, description = "eMSP party id"),
        ("token_uid" = String, Path, description = "Token.uid"),
        ("type" = Option<String>, Query, description = "TokenType, default RFID"),
    ),
    request_body(content = Object, description = "Changed fields and `last_updated`"),
    responses((status = 200, description = "Merged, or OCPI 2001 (no last_updated, invalid result)"), (status = 404, description = "Unknown token: PUT it")),
    security(("ocpi_token" = [])))]
pub async fn patch(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: RoutedCaller,
    q: web::Query<TypeParam>,
    payload: web::Payload,
) -> Result<OcpiResponse<()>, AppError> {
    let (cc, pid, uid) = address(&req, &caller)?;
    let t = token_type(&q)?;
    let patch = read_json_value(&req, payload, state.settings.max_body_bytes).await?;
    let p = crate::http::json::patch_object(&patch)?;
    let row = stored(&state, token_key(&cc, &pid, &uid, t.as_str()))
        .await?
        .ok_or_else(|| {
            AppError::NotFound(format!("unknown token {cc}/{pid}/{uid}: PUT it first"))
        })?;
    let mut merged: Value = serde_json::from_str(&row.object).map_err(AppError::internal)?;
    if let Some(o) = merged.as_object_mut() {
        for (k, v) in p {
            o.insert(k.clone(), v.clone());
        }
    }
    let token: Token = parse_value(merged)?;
    same_address(&token, &cc, &pid, &uid, t)?;
    store_token(&state, Some(caller.caller.platform.id.clone()), token).await?;
    Ok(OcpiResponse::empty())
}

/// Sender: a page of tokens, oldest change first: every eMSP's for a CPO partner, only its own
/// for any other caller.
#[utoipa::path(get, path = "/ocpi/2.2.1/sender/tokens", tag = "tokens",
    params(
        ("date_from" = Option<String>, Query, description = "last_updated >= date_from"),
        ("date_to" = Option<String>, Query, description = "last_updated < date_to"),
        ("offset" = Option<u64>, Query, description = "first object, default 0"),
        ("limit" = Option<u64>, Query, description = "page size, capped by X-Limit"),
    ),
    responses((status = 200, description = "Envelope with a page of Tokens; headers X-Total-Count, X-Limit, Link", body = Vec<Token>)),
    security(("ocpi_token" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: RoutedCaller,
    page: Pagination,
) -> Result<OcpiResponse<Vec<Box<serde_json::value::RawValue>>>, AppError> {
    let q = page.query.clone();
    let platform = caller.caller.platform.id.clone();
    let own = crate::ocpi::sessions::interfaces::owners(&caller);
    let (rows, total) = state
        .db
        .read(move |c| {
            // CPOs (and hubs) get every eMSP's tokens; any other party only its own.
            let cpo = crate::db::platforms::roles_of(c, &platform)?
                .iter()
                .any(|r| r.role == "CPO" || r.role == "HUB");
            let owners = (!cpo).then_some(own.as_slice());
            store::stored_page(c, &q, owners)
        })
        .await?;
    page.respond_stored(rows, total)
}

/// Sender: real-time authorisation for a CPO partner. A token whose whitelist lets the store
/// decide (ALWAYS, or ALLOWED and valid) is answered by the hub; otherwise the owning eMSP is
/// asked and its answer relayed (OCPI 4002 when it does not answer in time, 4003 when it cannot
/// be reached). Unknown token: HTTP 404 with 2004.
#[utoipa::path(post, path = "/ocpi/2.2.1/sender/tokens/{token_uid}/authorize", tag = "tokens",
    params(
        ("token_uid" = String, Path, description = "Token.uid"),
        ("type" = Option<String>, Query, description = "TokenType, default RFID"),
    ),
    request_body(content = Option<LocationReferences>, description = "Where the driver wants to charge"),
    responses((status = 200, description = "Envelope with AuthorizationInfo", body = AuthorizationInfo),
               (status = 404, description = "Unknown token (2004)")),
    security(("ocpi_token" = [])))]
pub async fn authorize_request(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: RoutedCaller,
    q: web::Query<TypeParam>,
    body: web::Bytes,
) -> Result<OcpiResponse<AuthorizationInfo>, AppError> {
    let uid = req
        .match_info()
        .get("token_uid")
        .unwrap_or_default()
        .to_string();
    let t = token_type(&q)?;
    let location: Option<LocationReferences> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| AppError::MalformedJson(format!("request body is not valid JSON: {e}")))?;
        Some(parse_value(v)?)
    };
    let lookup = uid.clone();
    let rows = state
        .db
        .read(move |c| store::by_uid(c, &lookup, &[t.as_str()]))
        .await?;
    // Addressed to one eMSP (OCPI-to-*, not the hub itself): only its token.
    let to = caller.to.clone().filter(|to| {
        !(to.country_code
            .eq_ignore_ascii_case(&state.settings.country_code)
            && to.party_id.eq_ignore_ascii_case(&state.settings.party_id))
    });
    let row = rows
        .into_iter()
        .find(|r| {
            to.as_ref().is_none_or(|to| {
                to.country_code.eq_ignore_ascii_case(&r.country_code)
                    && to.party_id.eq_ignore_ascii_case(&r.party_id)
            })
        })
        .ok_or(AppError::Unknown {
            code: status::UNKNOWN_TOKEN,
            message: format!("unknown token {uid} ({})", t.as_str()),
        })?;
    let token: Token = serde_json::from_str(&row.object).map_err(AppError::internal)?;
    if authorize::store_decides(&row) {
        return Ok(OcpiResponse::ok(AuthorizationInfo {
            allowed: authorize::stored_answer(&row),
            token,
            location,
            authorization_reference: None,
            info: None,
        }));
    }
    match authorize::ask(&state, &row, location.as_ref()).await {
        Ok(info) => Ok(OcpiResponse::ok(info)),
        Err(AskError::Unknown) => Err(AppError::Unknown {
            code: status::UNKNOWN_TOKEN,
            message: format!("the eMSP does not know token {uid}"),
        }),
        Err(AskError::Timeout(why)) => Err(AppError::ocpi(status::HUB_TIMEOUT, why)),
        Err(AskError::Unreachable(why)) => Err(AppError::ocpi(status::HUB_CONNECTION_PROBLEM, why)),
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/ocpi/2.2.1/receiver/tokens/{country_code}/{party_id}/{token_uid}")
            .route(web::get().to(get))
            .route(web::put().to(put))
            .route(web::patch().to(patch))
            .default_service(web::to(crate::http::method_not_allowed)),
    );
    cfg.service(
        web::resource("/ocpi/2.2.1/sender/tokens")
            .route(web::get().to(list))
            .default_service(web::to(crate::http::method_not_allowed)),
    );
    cfg.service(
        web::resource("/ocpi/2.2.1/sender/tokens/{token_uid}/authorize")
            .route(web::post().to(authorize_request))
            .default_service(web::to(crate::http::method_not_allowed)),
    );
}
