//! The operator API under `/admin`, behind an admin JWT (`ocpi-hub admin-token`). Answers use
//! the OCPI envelope too, so one client handles both APIs.

pub mod cdrs;
pub mod chargers;

use actix_web::{delete, get, patch, post, web};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::db::platforms::{self, Platform, RoleRow};
use crate::error::AppError;
use crate::http::auth::Admin;
use crate::http::envelope::OcpiResponse;
use crate::http::json::OcpiJson;
use crate::ocpi::client::Target;
use crate::ocpi::credentials;
use crate::ocpi::types::{CountryCode, DateTime, PartyId, Role};
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PartyRole {
    pub role: String,
    pub country_code: String,
    pub party_id: String,
    pub business_name: Option<String>,
}

/// A partner platform as the operator sees it. Never carries a token.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PartySummary {
    pub id: String,
    pub name: String,
    /// PENDING, REGISTERED or UNREGISTERED.
    pub state: String,
    /// PARTNER (it registered with the hub) or HUB (the hub registered with it).
    pub initiated_by: String,
    pub roles: Vec<PartyRole>,
    /// The role Token A was issued for, while registration is pending.
    pub expected: Option<PartyRole>,
    pub versions_url: Option<String>,
    pub version: Option<String>,
    /// Whether the partner Base64-encodes its credentials token.
    pub token_base64: bool,
    /// Failed pushes are queued and retried (true) or dropped (false).
    pub store_and_forward: bool,
    #[schema(value_type = String)]
    pub created_at: DateTime,
    #[schema(value_type = String)]
    pub updated_at: DateTime,
}

pub fn summarize(p: &Platform, roles: &[RoleRow]) -> PartySummary {
    let expected = match (
        &p.expected_role,
        &p.expected_country_code,
        &p.expected_party_id,
    ) {
        (Some(r), Some(c), Some(id)) if !p.is_registered() => Some(PartyRole {
            role: r.clone(),
            country_code: c.clone(),
            party_id: id.clone(),
            business_name: None,
        }),
        _ => None,
    };
    PartySummary {
        id: p.id.clone(),
        name: p.name.clone(),
        state: p.state.clone(),
        initiated_by: p.initiated_by.clone(),
        roles: roles
            .iter()
            .map(|r| PartyRole {
                role: r.role.clone(),
                country_code: r.country_code.clone(),
                party_id: r.party_id.clone(),
                business_name: serde_json::from_str::<serde_json::Value>(&r.business_details)
                    .ok()
                    .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_string)),
            })
            .collect(),
        expected,
        versions_url: p.versions_url.clone(),
        version: p.version.clone(),
        token_base64: p.auth_base64,
        store_and_forward: p.store_and_forward,
        created_at: DateTime::from_naive(p.created_at),
        updated_at: DateTime::from_naive(p.updated_at),
    }
}

/// Every partner with its roles.
pub async fn list_parties(state: &AppState) -> Result<Vec<PartySummary>, AppError> {
    Ok(state
        .db
        .read(|c| {
            let mut out = Vec::new();
            for p in platforms::list(c)? {
                let roles = platforms::roles_of(c, &p.id)?;
                out.push(summarize(&p, &roles));
            }
            Ok(out)
        })
        .await?)
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
pub struct RegisterRequest {
    pub role: Role,
    #[schema(value_type = String)]
    pub country_code: CountryCode,
    #[schema(value_type = String)]
    pub party_id: PartyId,
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters"))]
    pub name: String,
}

/// Token A and where to use it: shown once, never stored in clear.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RegisterResponse {
    pub platform_id: String,
    pub token_a: String,
    pub versions_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
pub struct ConnectRequest {
    #[validate(url(message = "must be a URL"))]
    pub versions_url: String,
    #[validate(length(min = 1, max = 64, message = "must be 1 to 64 characters"))]
    pub token: String,
}

/// List partners.
#[utoipa::path(
    tag = "admin",
    responses((status = 200, description = "Envelope with every partner", body = Vec<PartySummary>),
               (status = 401, description = "Missing, forged or expired admin token")),
    security(("admin_jwt" = []))
)]
#[get("/admin/parties")]
pub async fn get_parties(
    state: web::Data<AppState>,
    _a: Admin,
) -> Result<OcpiResponse<Vec<PartySummary>>, AppError> {
    Ok(OcpiResponse::ok(list_parties(&state).await?))
}

/// Create a partner and its Token A (what `ocpi-hub party register` does).
#[utoipa::path(
    tag = "admin",
    request_body = RegisterRequest,
    responses((status = 201, description = "Envelope with Token A and the hub's versions URL", body = RegisterResponse),
               (status = 401, description = "Missing, forged or expired admin token")),
    security(("admin_jwt" = []))
)]
#[post("/admin/parties")]
pub async fn post_party(
    state: web::Data<AppState>,
    _a: Admin,
    body: OcpiJson<RegisterRequest>,
) -> Result<OcpiResponse<RegisterResponse>, AppError> {
    let r = body.into_inner();
    let (p, token) =
        credentials::register_party(&state, r.role, &r.country_code, &r.party_id, &r.name).await?;
    Ok(OcpiResponse::created(RegisterResponse {
        platform_id: p.id,
        token_a: token,
        versions_url: state.versions_url(),
    }))
}

/// Run the credentials handshake from the hub's side (what `ocpi-hub party connect` does).
#[utoipa::path(
    tag = "admin",
    request_body = ConnectRequest,
    responses((status = 201, description = "Envelope with the registered partner", body = PartySummary),
               (status = 200, description = "OCPI error 3001/3002/3003 when the partner's API cannot be used"),
               (status = 401, description = "Missing, forged or expired admin token")),
    security(("admin_jwt" = []))
)]
#[post("/admin/parties/connect")]
pub async fn post_connect(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    _a: Admin,
    body: OcpiJson<ConnectRequest>,
) -> Result<OcpiResponse<PartySummary>, AppError> {
    let r = body.into_inner();
    let cid = actix_web::HttpMessage::extensions(&req)
        .get::<crate::http::ids::RequestIds>()
        .map(|ids| ids.correlation_id.clone());
    let p = credentials::connect(&state, &r.versions_url, &r.token, cid.as_deref()).await?;
    let id = p.id.clone();
    let roles = state.db.read(move |c| platforms::roles_of(c, &id)).await?;
    Ok(OcpiResponse::created(summarize(&p, &roles)))
}

/// Unregister a partner: its tokens stop working at once; the partner is told with a DELETE on
/// its credentials endpoint (best effort).
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "platform id")),
    responses((status = 200, description = "Envelope with the partner, now UNREGISTERED", body = PartySummary),
               (status = 404, description = "No such partner"),
               (status = 401, description = "Missing, forged or expired admin token")),
    security(("admin_jwt" = []))
)]
#[delete("/admin/parties/{id}")]
pub async fn delete_party(
    state: web::Data<AppState>,
    _a: Admin,
    id: web::Path<String>,
) -> Result<OcpiResponse<PartySummary>, AppError> {
    let id = id.into_inner();
    let lookup = id.clone();
    let p = state
        .db
        .read(move |c| platforms::get(c, &lookup))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no partner {id}")))?;
    if p.is_registered() {
        notify_unregister(&state, &p).await;
    }
    let pid = p.id.clone();
    let p = state
        .db
        .write(move |c| {
            platforms::unregister(c, &pid)?;
            platforms::get(c, &pid)
        })
        .await?
        .ok_or_else(|| AppError::internal("platform vanished"))?;
    Ok(OcpiResponse::ok(summarize(&p, &[])))
}

async fn notify_unregister(state: &AppState, p: &Platform) {
    let endpoint = p
        .endpoints
        .as_deref()
        .and_then(|e| serde_json::from_str::<Vec<crate::ocpi::versions::Endpoint>>(e).ok())
        .and_then(|eps| eps.into_iter().find(|e| e.identifier == "credentials"));
    let (Some(ep), Some(sealed)) = (endpoint, &p.their_token) else {
        return;
    };
    let Ok(token) = state.keys.open(sealed) else {
        tracing::warn!(party.platform_id = %p.id, "cannot open the partner's token");
        return;
    };
    let audience = p.versions_url.clone().unwrap_or_default();
    let target = Target {
        url: ep.url.as_str(),
        token: &token,
        base64: p.auth_base64,
        audience: &audience,
        correlation_id: None,
        routing: None,
    };
    if let Err(e) = state
        .client
        .call::<serde_json::Value>(Method::DELETE, &target, None)
        .await
    {
        tracing::warn!(party.platform_id = %p.id, error = %e, "partner not told of unregistration");
    }
}

/// A delivery of the push outbox, as operators see it (the body only on the single view).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub platform_id: String,
    pub module: String,
    pub method: String,
    pub path: String,
    /// PENDING, DELIVERED, DEAD, DROPPED or DISCARDED.
    pub state: String,
    pub attempts: i64,
    #[schema(value_type = String)]
    pub next_attempt_at: DateTime,
    pub last_error: Option<String>,
    #[schema(value_type = String)]
    pub created_at: DateTime,
    #[schema(value_type = Option<String>)]
    pub finished_at: Option<DateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

fn view(d: crate::db::outbox::Delivery, with_body: bool) -> DeliveryView {
    DeliveryView {
        id: d.id,
        platform_id: d.platform_id,
        module: d.module,
        method: d.method,
        path: d.path,
        state: d.state,
        attempts: d.attempts,
        next_attempt_at: DateTime::from_naive(d.next_attempt_at),
        last_error: d.last_error,
        created_at: DateTime::from_naive(d.created_at),
        finished_at: d.finished_at.map(DateTime::from_naive),
        body: if with_body {
            d.body.and_then(|b| serde_json::from_str(&b).ok())
        } else {
            None
        },
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct OutboxFilter {
    /// PENDING, DELIVERED, DEAD, DROPPED or DISCARDED.
    pub state: Option<String>,
    pub platform_id: Option<String>,
    /// At most this many, oldest first (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// Deliveries of the push outbox, oldest first.
#[utoipa::path(
    tag = "admin",
    params(OutboxFilter),
    responses((status = 200, description = "Envelope with deliveries", body = Vec<DeliveryView>),
               (status = 401, description = "Missing, forged or expired admin token")),
    security(("admin_jwt" = []))
)]
#[get("/admin/outbox")]
pub async fn get_outbox(
    state: web::Data<AppState>,
    _a: Admin,
    filter: web::Query<OutboxFilter>,
) -> Result<OcpiResponse<Vec<DeliveryView>>, AppError> {
    let f = filter.into_inner();
    if let Some(s) = &f.state
        && !["PENDING", "DELIVERED", "DEAD", "DROPPED", "DISCARDED"].contains(&s.as_str())
    {
        return Err(AppError::invalid(format!(
            "query parameter `state`: unknown state `{s}`"
        )));
    }
    let limit = f.limit.unwrap_or(100).clamp(1, 1000);
    let rows = state
        .db
        .read(move |c| {
            crate::db::outbox::list(c, f.state.as_deref(), f.platform_id.as_deref(), limit)
        })
        .await?;
    Ok(OcpiResponse::ok(
        rows.into_iter().map(|d| view(d, false)).collect(),
    ))
}

/// One delivery, with its body.
#[utoipa::path(
    tag = "admin",
    params(("id" = i64, Path, description = "delivery id")),
    responses((status = 200, description = "Envelope with the delivery", body = DeliveryView),
               (status = 404, description = "No such delivery")),
    security(("admin_jwt" = []))
)]
#[get("/admin/outbox/{id}")]
pub async fn get_delivery(
    state: web::Data<AppState>,
    _a: Admin,
    id: web::Path<i64>,
) -> Result<OcpiResponse<DeliveryView>, AppError> {
    let id = id.into_inner();
    let d = state
        .db
        .read(move |c| crate::db::outbox::get(c, id))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no delivery {id}")))?;
    Ok(OcpiResponse::ok(view(d, true)))
}

async fn outbox_action(
    state: &AppState,
    id: i64,
    action: fn(&mut crate::db::DbConnection, i64) -> Result<bool, crate::db::DbError>,
    refused: &str,
) -> Result<OcpiResponse<DeliveryView>, AppError> {
    let (done, d) = state
        .db
        .write(move |c| Ok((action(c, id)?, crate::db::outbox::get(c, id)?)))
        .await?;
    let d = d.ok_or_else(|| AppError::NotFound(format!("no delivery {id}")))?;
    if !done {
        return Err(AppError::invalid(format!(
            "delivery {id} is {}: {refused}",
            d.state
        )));
    }
    state.outbox_wakeup.notify();
    Ok(OcpiResponse::ok(view(d, false)))
}

/// Put a DEAD or DROPPED delivery back in the queue, due now.
#[utoipa::path(
    tag = "admin",
    params(("id" = i64, Path, description = "delivery id")),
    responses((status = 200, description = "Envelope with the delivery, PENDING again (2001 when it is not DEAD or DROPPED)", body = DeliveryView),
               (status = 404, description = "No such delivery")),
    security(("admin_jwt" = []))
)]
#[post("/admin/outbox/{id}/retry")]
pub async fn retry_delivery(
    state: web::Data<AppState>,
    _a: Admin,
    id: web::Path<i64>,
) -> Result<OcpiResponse<DeliveryView>, AppError> {
    outbox_action(
        &state,
        id.into_inner(),
        crate::db::outbox::retry,
        "only DEAD or DROPPED deliveries can be retried",
    )
    .await
}

/// Give up on a delivery that is not delivered yet.
#[utoipa::path(
    tag = "admin",
    params(("id" = i64, Path, description = "delivery id")),
    responses((status = 200, description = "Envelope with the delivery, DISCARDED (2001 when already delivered or discarded)", body = DeliveryView),
               (status = 404, description = "No such delivery")),
    security(("admin_jwt" = []))
)]
#[post("/admin/outbox/{id}/discard")]
pub async fn discard_delivery(
    state: web::Data<AppState>,
    _a: Admin,
    id: web::Path<i64>,
) -> Result<OcpiResponse<DeliveryView>, AppError> {
    outbox_action(
        &state,
        id.into_inner(),
        crate::db::outbox::discard,
        "only undelivered deliveries can be discarded",
    )
    .await
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
pub struct PartyUpdate {
    /// Queue and retry failed pushes to this partner (true, the default) or drop them at the
    /// first failure (OCPI's "do not queue"; the partner re-syncs by GET).
    pub store_and_forward: bool,
}

/// Change a partner's settings.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "platform id")),
    request_body = PartyUpdate,
    responses((status = 200, description = "Envelope with the partner", body = PartySummary),
               (status = 404, description = "No such partner")),
    security(("admin_jwt" = []))
)]
#[patch("/admin/parties/{id}")]
pub async fn patch_party(
    state: web::Data<AppState>,
    _a: Admin,
    id: web::Path<String>,
    body: OcpiJson<PartyUpdate>,
) -> Result<OcpiResponse<PartySummary>, AppError> {
    let id = id.into_inner();
    let sf = body.into_inner().store_and_forward;
    let lookup = id.clone();
    let found = state
        .db
        .write(move |c| {
            if platforms::get(c, &lookup)?.is_none() {
                return Ok(None);
            }
            platforms::set_store_and_forward(c, &lookup, sf)?;
            let p = platforms::get(c, &lookup)?;
            let roles = platforms::roles_of(c, &lookup)?;
            Ok(p.map(|p| (p, roles)))
        })
        .await?;
    let (p, roles) = found.ok_or_else(|| AppError::NotFound(format!("no partner {id}")))?;
    Ok(OcpiResponse::ok(summarize(&p, &roles)))
}

/// Create or replace locations of the hub's own charge points (one Location or an array).
#[utoipa::path(
    tag = "admin",
    request_body(content = Object, description = "One OCPI Location or an array; owned by HUB_CPO_COUNTRY_CODE/HUB_CPO_PARTY_ID"),
    responses((status = 200, description = "Envelope with counts", body = crate::ocpi::import::ImportReport),
               (status = 401, description = "Missing, forged or expired admin token")),
    security(("admin_jwt" = []))
)]
#[post("/admin/locations")]
pub async fn post_locations(
    state: web::Data<AppState>,
    _a: Admin,
    body: OcpiJson<crate::http::json::AnyJson>,
) -> Result<OcpiResponse<crate::ocpi::import::ImportReport>, AppError> {
    Ok(OcpiResponse::ok(
        crate::ocpi::import::import_locations(&state, body.into_inner().0).await?,
    ))
}

/// Create or replace tariffs of the hub's own charge points (one Tariff or an array).
#[utoipa::path(
    tag = "admin",
    request_body(content = Object, description = "One OCPI Tariff or an array"),
    responses((status = 200, description = "Envelope with counts", body = crate::ocpi::import::ImportReport),
               (status = 401, description = "Missing, forged or expired admin token")),
    security(("admin_jwt" = []))
)]
#[post("/admin/tariffs")]
pub async fn post_tariffs(
    state: web::Data<AppState>,
    _a: Admin,
    body: OcpiJson<crate::http::json::AnyJson>,
) -> Result<OcpiResponse<crate::ocpi::import::ImportReport>, AppError> {
    Ok(OcpiResponse::ok(
        crate::ocpi::import::import_tariffs(&state, body.into_inner().0).await?,
    ))
}
