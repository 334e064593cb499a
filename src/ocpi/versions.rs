//! The versions module: the list of versions and the 2.2.1 details with every endpoint the hub
//! implements. A hub serves both interfaces of a module: SENDER endpoints live under
//! `/ocpi/2.2.1/sender/…`, RECEIVER endpoints under `/ocpi/2.2.1/receiver/…`.

use actix_web::{get, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::AppError;
use crate::http::auth::AnyCaller;
use crate::http::envelope::OcpiResponse;
use crate::state::AppState;

use super::types::Url;
use super::{BASE, VERSION};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Version {
    pub version: String,
    #[schema(value_type = String)]
    pub url: Url,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum InterfaceRole {
    Sender,
    Receiver,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Endpoint {
    /// A ModuleID (custom ids are accepted from partners).
    pub identifier: String,
    pub role: InterfaceRole,
    #[schema(value_type = String)]
    pub url: Url,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionDetails {
    pub version: String,
    pub endpoints: Vec<Endpoint>,
}

/// The modules this hub implements: (ModuleID, interface role, path).
pub const MODULES: &[(&str, InterfaceRole, &str)] = &[
    ("credentials", InterfaceRole::Sender, "/credentials"),
    (
        "hubclientinfo",
        InterfaceRole::Sender,
        "/sender/hubclientinfo",
    ),
    ("locations", InterfaceRole::Sender, "/sender/locations"),
    ("locations", InterfaceRole::Receiver, "/receiver/locations"),
    ("tariffs", InterfaceRole::Sender, "/sender/tariffs"),
    ("tariffs", InterfaceRole::Receiver, "/receiver/tariffs"),
    ("tokens", InterfaceRole::Sender, "/sender/tokens"),
    ("tokens", InterfaceRole::Receiver, "/receiver/tokens"),
    ("sessions", InterfaceRole::Sender, "/sender/sessions"),
    ("sessions", InterfaceRole::Receiver, "/receiver/sessions"),
    ("cdrs", InterfaceRole::Sender, "/sender/cdrs"),
    ("cdrs", InterfaceRole::Receiver, "/receiver/cdrs"),
    ("commands", InterfaceRole::Receiver, "/receiver/commands"),
];

pub fn details(public_url: &str) -> Result<VersionDetails, AppError> {
    let endpoints = MODULES
        .iter()
        .map(|(id, role, path)| {
            Ok(Endpoint {
                identifier: (*id).to_string(),
                role: *role,
                url: Url::new(format!("{public_url}{BASE}{path}")).map_err(AppError::internal)?,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    Ok(VersionDetails {
        version: VERSION.to_string(),
        endpoints,
    })
}

/// The OCPI versions this hub supports.
#[utoipa::path(
    tag = "versions",
    responses((status = 200, description = "Envelope with a list of Version", body = Vec<Version>),
               (status = 401, description = "Missing or unknown credentials token")),
    security(("ocpi_token" = []))
)]
#[get("/ocpi/versions")]
pub async fn versions(
    state: web::Data<AppState>,
    _caller: AnyCaller,
) -> Result<OcpiResponse<Vec<Version>>, AppError> {
    let url = Url::new(state.url(BASE)).map_err(AppError::internal)?;
    Ok(OcpiResponse::ok(vec![Version {
        version: VERSION.to_string(),
        url,
    }]))
}

/// The 2.2.1 endpoints of this hub.
#[utoipa::path(
    tag = "versions",
    responses((status = 200, description = "Envelope with VersionDetails", body = VersionDetails),
               (status = 401, description = "Missing or unknown credentials token")),
    security(("ocpi_token" = []))
)]
#[get("/ocpi/2.2.1")]
pub async fn version_details(
    state: web::Data<AppState>,
    _caller: AnyCaller,
) -> Result<OcpiResponse<VersionDetails>, AppError> {
    Ok(OcpiResponse::ok(details(&state.public_url)?))
}
