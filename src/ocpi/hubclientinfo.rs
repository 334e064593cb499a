//! Hub Client Info, Sender interface: the parties connected to the hub, one ClientInfo per
//! credentials role, paginated like every OCPI list.

use actix_web::{get, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::platforms;
use crate::error::AppError;
use crate::http::auth::PartyCaller;
use crate::http::envelope::OcpiResponse;
use crate::http::pagination::Pagination;
use crate::state::AppState;

use super::types::{DateTime, Role};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ConnectionStatus {
    Connected,
    Offline,
    Planned,
    Suspended,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClientInfo {
    pub party_id: String,
    pub country_code: String,
    pub role: Role,
    pub status: ConnectionStatus,
    #[schema(value_type = String)]
    pub last_updated: DateTime,
}

/// Connected parties, oldest change first. Filters: `date_from`, `date_to`, `offset`, `limit`.
#[utoipa::path(
    tag = "hubclientinfo",
    params(
        ("date_from" = Option<String>, Query, description = "last_updated >= date_from"),
        ("date_to" = Option<String>, Query, description = "last_updated < date_to"),
        ("offset" = Option<u64>, Query, description = "first object, default 0"),
        ("limit" = Option<u64>, Query, description = "page size, capped by X-Limit"),
    ),
    responses((status = 200, description = "Envelope with a page of ClientInfo; headers X-Total-Count, X-Limit, Link", body = Vec<ClientInfo>),
               (status = 401, description = "Missing, unknown or registration-only token")),
    security(("ocpi_token" = []))
)]
#[get("/ocpi/2.2.1/sender/hubclientinfo")]
pub async fn list(
    state: web::Data<AppState>,
    _caller: PartyCaller,
    page: Pagination,
) -> Result<OcpiResponse<Vec<ClientInfo>>, AppError> {
    let q = page.query.clone();
    let (rows, total) = state
        .db
        .read(move |c| {
            Ok((
                platforms::page_roles(c, &q)?,
                platforms::count_roles(c, &q)?,
            ))
        })
        .await?;
    let last = rows.last().map(|(r, _)| (r.last_updated, r.id.clone()));
    let mut items = Vec::with_capacity(rows.len());
    for (r, platform_state) in &rows {
        let status = if !r.active {
            ConnectionStatus::Suspended
        } else if platform_state == platforms::STATE_REGISTERED {
            ConnectionStatus::Connected
        } else {
            ConnectionStatus::Planned
        };
        items.push(ClientInfo {
            party_id: r.party_id.clone(),
            country_code: r.country_code.clone(),
            role: Role::parse(&r.role).map_err(AppError::internal)?,
            status,
            last_updated: DateTime::from_naive(r.last_updated),
        });
    }
    Ok(page.respond(items, total, last.as_ref().map(|(t, id)| (*t, id.as_str()))))
}
