//! The credentials module, both directions.
//!
//! Partner registers with the hub: an operator issues Token A (`party register`); the partner
//! POSTs its credentials (token B, versions URL, roles) with Token A; the hub fetches the
//! partner's versions and 2.2.1 details with token B, stores them (token B sealed), kills Token A
//! and answers with a fresh token C. PUT re-fetches and rotates C; DELETE unregisters.
//!
//! Hub registers with a partner (`party connect`): the hub fetches the partner's versions with
//! the partner's Token A, POSTs its own credentials (a token it issued) and stores the token the
//! partner returns.

use actix_web::{HttpMessage, HttpRequest, delete, get, post, put, web};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::db::platforms::{
    self, KIND_ACCESS, KIND_REGISTRATION, NewPlatform, NewRole, Platform, Registration,
};
use crate::error::AppError;
use crate::http::auth::{AnyCaller, Caller};
use crate::http::envelope::{OcpiResponse, status};
use crate::http::json::OcpiJson;
use crate::keys::token_hash;
use crate::state::AppState;

use super::VERSION;
use super::client::{ClientError, Target};
use super::types::{BusinessDetails, CountryCode, OcpiString, PartyId, Role, Url};
use super::versions::{Endpoint, Version, VersionDetails};

/// A credentials token: 1 to 64 printable non-whitespace ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CredentialsToken(String);

impl CredentialsToken {
    pub fn new(s: impl Into<String>) -> Result<Self, String> {
        let s = s.into();
        if s.is_empty() || s.len() > 64 {
            return Err(format!(
                "must be 1 to 64 characters, got {}",
                s.chars().count()
            ));
        }
        if let Some(c) = s.chars().find(|c| !('!'..='~').contains(c)) {
            return Err(format!(
                "contains {c:?}: only printable non-whitespace ASCII is allowed"
            ));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for CredentialsToken {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CredentialsToken::new(s).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CredentialsRole {
    pub role: Role,
    pub business_details: BusinessDetails,
    #[schema(value_type = String, max_length = 3)]
    pub party_id: PartyId,
    #[schema(value_type = String, max_length = 2)]
    pub country_code: CountryCode,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
pub struct Credentials {
    #[schema(value_type = String, max_length = 64)]
    pub token: CredentialsToken,
    #[schema(value_type = String)]
    pub url: Url,
    #[validate(
        length(min = 1, message = "at least one role is required"),
        custom(function = "unique_roles")
    )]
    pub roles: Vec<CredentialsRole>,
}

fn unique_roles(roles: &[CredentialsRole]) -> Result<(), ValidationError> {
    for (i, a) in roles.iter().enumerate() {
        for b in &roles[i + 1..] {
            if a.role == b.role
                && a.party_id
                    .as_str()
                    .eq_ignore_ascii_case(b.party_id.as_str())
                && a.country_code
                    .as_str()
                    .eq_ignore_ascii_case(b.country_code.as_str())
            {
                let mut e = ValidationError::new("unique");
                e.message = Some(
                    format!(
                        "role {} {}/{} appears twice",
                        a.role.as_str(),
                        a.country_code.as_str(),
                        a.party_id.as_str()
                    )
                    .into(),
                );
                return Err(e);
            }
        }
    }
    Ok(())
}

fn role_key(r: &CredentialsRole) -> NewRole {
    NewRole {
        role: r.role.as_str().to_string(),
        country_code: r.country_code.as_str().to_ascii_uppercase(),
        party_id: r.party_id.as_str().to_ascii_uppercase(),
        business_details: serde_json::to_string(&r.business_details)
            .unwrap_or_else(|_| "{}".into()),
    }
}

/// The hub's own credentials object, carrying `token` for the partner to use.
pub fn hub_credentials(state: &AppState, token: &str) -> Result<Credentials, AppError> {
    let s = &state.settings;
    Ok(Credentials {
        token: CredentialsToken::new(token).map_err(AppError::internal)?,
        url: Url::new(state.versions_url()).map_err(AppError::internal)?,
        roles: vec![CredentialsRole {
            role: Role::Hub,
            business_details: BusinessDetails {
                name: OcpiString::new(s.business_name.clone()).map_err(AppError::internal)?,
                website: s.business_website.clone().and_then(|w| Url::new(w).ok()),
                logo: None,
            },
            party_id: PartyId::new(&s.party_id).map_err(AppError::internal)?,
            country_code: CountryCode::new(&s.country_code).map_err(AppError::internal)?,
        }],
    })
}

/// The inbound request's correlation id, carried onto the calls it causes.
fn correlation_id(req: &HttpRequest) -> Option<String> {
    req.extensions()
        .get::<crate::http::ids::RequestIds>()
        .map(|ids| ids.correlation_id.clone())
}

fn unusable(what: &str, url: &str, e: ClientError) -> AppError {
    AppError::ocpi(
        status::UNABLE_TO_USE_CLIENT_API,
        format!("unable to use your API: {what} {url} failed: {e}"),
    )
}

/// What the hub learned of a partner's API.
pub struct PartnerApi {
    pub versions_url: String,
    pub details: VersionDetails,
    pub base64: bool,
}

impl PartnerApi {
    pub fn endpoint(&self, module: &str) -> Option<&Endpoint> {
        self.details
            .endpoints
            .iter()
            .find(|e| e.identifier == module)
    }
}

/// Fetch a partner's versions and 2.2.1 details with its token: 3001 when its API cannot be
/// used, 3002 when it has no 2.2.1, 3003 when the credentials endpoint is missing.
pub async fn fetch_partner_api(
    state: &AppState,
    versions_url: &str,
    token: &str,
    base64: bool,
    correlation_id: Option<&str>,
) -> Result<PartnerApi, AppError> {
    let target = Target {
        url: versions_url,
        token,
        base64,
        audience: versions_url,
        correlation_id,
        routing: None,
    };
    let (versions, b64) = state
        .client
        .get_trying_encodings::<Vec<Version>>(&target)
        .await
        .map_err(|e| unusable("GET", versions_url, e))?;
    let v = versions
        .iter()
        .find(|v| v.version == VERSION)
        .ok_or_else(|| {
            AppError::ocpi(
                status::UNSUPPORTED_VERSION,
                format!(
                    "no mutual version: the hub speaks {VERSION}, you offer {}",
                    versions
                        .iter()
                        .map(|v| v.version.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
    let details_url = v.url.as_str().to_string();
    let target = Target {
        url: &details_url,
        base64: b64,
        ..target
    };
    let (details, b64) = state
        .client
        .get_trying_encodings::<VersionDetails>(&target)
        .await
        .map_err(|e| unusable("GET", &details_url, e))?;
    if details.version != VERSION {
        return Err(AppError::ocpi(
            status::UNSUPPORTED_VERSION,
            format!(
                "{details_url} describes version {}, expected {VERSION}",
                details.version
            ),
        ));
    }
    let api = PartnerApi {
        versions_url: versions_url.to_string(),
        details,
        base64: b64,
    };
    if api.endpoint("credentials").is_none() {
        return Err(AppError::ocpi(
            status::NO_MATCHING_ENDPOINTS,
            format!("{details_url} lists no credentials endpoint"),
        ));
    }
    Ok(api)
}

/// Refuse roles that another live platform already holds (2001).
async fn check_role_conflicts(
    state: &AppState,
    platform_id: &str,
    roles: &[NewRole],
) -> Result<(), AppError> {
    let pid = platform_id.to_string();
    let roles = roles.to_vec();
    let clash = state
        .db
        .read(move |c| {
            for p in platforms::list(c)? {
                if p.id == pid || !p.is_registered() {
                    continue;
                }
                for r in platforms::roles_of(c, &p.id)? {
                    if let Some(n) = roles.iter().find(|n| {
                        n.role == r.role
                            && n.country_code == r.country_code
                            && n.party_id == r.party_id
                    }) {
                        return Ok(Some(format!(
                            "{} {}/{}",
                            n.role, n.country_code, n.party_id
                        )));
                    }
                }
            }
            Ok(None)
        })
        .await?;
    match clash {
        Some(role) => Err(AppError::invalid(format!(
            "role {role} is already registered by another platform"
        ))),
        None => Ok(()),
    }
}

fn registration_of(
    state: &AppState,
    api: &PartnerApi,
    creds: &Credentials,
) -> Result<Registration, AppError> {
    let name = creds
        .roles
        .first()
        .map(|r| r.business_details.name.as_str().to_string())
        .unwrap_or_default();
    Ok(Registration {
        name,
        versions_url: api.versions_url.clone(),
        version: VERSION.to_string(),
        endpoints_json: serde_json::to_string(&api.details.endpoints)
            .map_err(AppError::internal)?,
        their_token_sealed: state
            .keys
            .seal(creds.token.as_str())
            .map_err(AppError::internal)?,
        roles: creds.roles.iter().map(role_key).collect(),
    })
}

fn map_conflict(e: crate::db::DbError) -> AppError {
    if e.is_unique_violation() {
        AppError::invalid("one of the roles is already registered by another platform")
    } else {
        e.into()
    }
}

/// Create a pending partner with a fresh Token A. Returns the platform and Token A (shown once).
pub async fn register_party(
    state: &AppState,
    role: Role,
    country_code: &CountryCode,
    party_id: &PartyId,
    name: &str,
) -> Result<(Platform, String), AppError> {
    OcpiString::<100>::new(name).map_err(|e| AppError::invalid(format!("invalid name: {e}")))?;
    let token = state.keys.issue_token();
    let new = NewPlatform {
        name: name.to_string(),
        initiated_by: "PARTNER".into(),
        expected_role: Some(role.as_str().into()),
        expected_country_code: Some(country_code.as_str().to_ascii_uppercase()),
        expected_party_id: Some(party_id.as_str().to_ascii_uppercase()),
        versions_url: None,
    };
    let hash = token_hash(&token);
    let platform = state
        .db
        .write(move |c| platforms::create(c, &new, &hash, KIND_REGISTRATION))
        .await?;
    tracing::info!(party.platform_id = %platform.id, "partner created; Token A issued");
    Ok((platform, token))
}

/// GET: the hub's credentials, carrying the token the caller used.
#[utoipa::path(
    tag = "credentials",
    responses((status = 200, description = "Envelope with the hub's Credentials", body = Credentials),
               (status = 401, description = "Missing or unknown credentials token")),
    security(("ocpi_token" = []))
)]
#[get("/ocpi/2.2.1/credentials")]
pub async fn get_credentials(
    state: web::Data<AppState>,
    caller: AnyCaller,
) -> Result<OcpiResponse<Credentials>, AppError> {
    Ok(OcpiResponse::ok(hub_credentials(&state, &caller.0.token)?))
}

/// POST: register with Token A. 405 when already registered.
#[utoipa::path(
    tag = "credentials",
    request_body = Credentials,
    responses((status = 201, description = "Registered: envelope with the hub's Credentials and a new token C", body = Credentials),
               (status = 200, description = "OCPI error 2001 (invalid), 3001 (your API unusable), 3002 (no 2.2.1), 3003 (no credentials endpoint)"),
               (status = 400, description = "Body is not JSON"),
               (status = 401, description = "Missing or unknown credentials token"),
               (status = 405, description = "Already registered")),
    security(("ocpi_token" = []))
)]
#[post("/ocpi/2.2.1/credentials")]
pub async fn post_credentials(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AnyCaller,
    body: OcpiJson<Credentials>,
) -> Result<OcpiResponse<Credentials>, AppError> {
    let caller = caller.0;
    if caller.platform.is_registered() || caller.token_kind != KIND_REGISTRATION {
        return Err(AppError::MethodNotAllowed(
            "already registered: use PUT to update credentials, DELETE to unregister".into(),
        ));
    }
    let creds = body.into_inner();
    check_expected_role(&caller.platform, &creds)?;
    let (reg, b64) = prepare_registration(&state, &req, &caller, &creds).await?;
    let token_c = state.keys.issue_token();
    let hash_c = token_hash(&token_c);
    let token_a_hash = token_hash(&caller.token);
    let pid = caller.platform.id.clone();
    state
        .db
        .write(move |c| {
            // A concurrent POST may have won: with the platform row locked, Token A must
            // still be live.
            crate::db::dialect::lock_platform(c, &pid)?;
            let still = platforms::find_by_token(c, &token_a_hash)?;
            if still.is_none() {
                return Ok(false);
            }
            platforms::complete_registration(c, &pid, &reg, Some(&hash_c))?;
            platforms::set_auth_base64(c, &pid, b64)?;
            Ok(true)
        })
        .await
        .map_err(map_conflict)
        .and_then(|done| {
            if done {
                Ok(())
            } else {
                Err(AppError::MethodNotAllowed("already registered".into()))
            }
        })?;
    tracing::info!(party.platform_id = %caller.platform.id, "partner registered");
    Ok(OcpiResponse::created(hub_credentials(&state, &token_c)?))
}

/// The part POST and PUT share: refuse roles held elsewhere, read the partner's API with its
/// new token, and build what will be stored. Returns it with the token form that worked.
async fn prepare_registration(
    state: &AppState,
    req: &HttpRequest,
    caller: &Caller,
    creds: &Credentials,
) -> Result<(Registration, bool), AppError> {
    let roles: Vec<NewRole> = creds.roles.iter().map(role_key).collect();
    check_role_conflicts(state, &caller.platform.id, &roles).await?;
    let api = fetch_partner_api(
        state,
        creds.url.as_str(),
        creds.token.as_str(),
        caller.encoded,
        correlation_id(req).as_deref(),
    )
    .await?;
    Ok((registration_of(state, &api, creds)?, api.base64))
}

fn check_expected_role(platform: &Platform, creds: &Credentials) -> Result<(), AppError> {
    if let (Some(role), Some(cc), Some(pid)) = (
        &platform.expected_role,
        &platform.expected_country_code,
        &platform.expected_party_id,
    ) {
        let found = creds.roles.iter().any(|r| {
            r.role.as_str() == role
                && r.country_code.as_str().eq_ignore_ascii_case(cc)
                && r.party_id.as_str().eq_ignore_ascii_case(pid)
        });
        if !found {
            return Err(AppError::invalid(format!(
                "roles must include {role} {cc}/{pid}, the party this token was issued to"
            )));
        }
    }
    Ok(())
}

/// PUT: new token B / endpoints / version switch; answers with a new token C. The old token C
/// keeps working until the new one has been issued.
#[utoipa::path(
    tag = "credentials",
    request_body = Credentials,
    responses((status = 200, description = "Envelope with the hub's Credentials and a new token C (or an OCPI error 2001/3001/3002/3003)", body = Credentials),
               (status = 401, description = "Missing or unknown credentials token"),
               (status = 405, description = "Not registered")),
    security(("ocpi_token" = []))
)]
#[put("/ocpi/2.2.1/credentials")]
pub async fn put_credentials(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AnyCaller,
    body: OcpiJson<Credentials>,
) -> Result<OcpiResponse<Credentials>, AppError> {
    let caller = require_registered(caller.0)?;
    let creds = body.into_inner();
    let (reg, b64) = prepare_registration(&state, &req, &caller, &creds).await?;
    let token_c = state.keys.issue_token();
    let hash_c = token_hash(&token_c);
    let pid = caller.platform.id.clone();
    state
        .db
        .write(move |c| {
            platforms::complete_registration(c, &pid, &reg, Some(&hash_c))?;
            platforms::set_auth_base64(c, &pid, b64)
        })
        .await
        .map_err(map_conflict)?;
    tracing::info!(party.platform_id = %caller.platform.id, "partner credentials updated, token rotated");
    Ok(OcpiResponse::ok(hub_credentials(&state, &token_c)?))
}

fn require_registered(caller: Caller) -> Result<Caller, AppError> {
    if !caller.is_registered() {
        return Err(AppError::MethodNotAllowed(
            "not registered: POST your credentials first".into(),
        ));
    }
    Ok(caller)
}

/// DELETE: unregister. Every token of the partner stops working at once.
#[utoipa::path(
    tag = "credentials",
    responses((status = 200, description = "Unregistered (envelope without data)"),
               (status = 401, description = "Missing or unknown credentials token"),
               (status = 405, description = "Not registered")),
    security(("ocpi_token" = []))
)]
#[delete("/ocpi/2.2.1/credentials")]
pub async fn delete_credentials(
    state: web::Data<AppState>,
    caller: AnyCaller,
) -> Result<OcpiResponse<()>, AppError> {
    let caller = require_registered(caller.0)?;
    let pid = caller.platform.id.clone();
    state
        .db
        .write(move |c| platforms::unregister(c, &pid))
        .await?;
    tracing::info!(party.platform_id = %caller.platform.id, "partner unregistered");
    Ok(OcpiResponse::empty())
}

/// The hub registers with a partner that gave us `token_a` and its versions URL. Every call
/// of the handshake shares one correlation id (the caller's, or a new one).
pub async fn connect(
    state: &AppState,
    versions_url: &str,
    token_a: &str,
    correlation_id: Option<&str>,
) -> Result<Platform, AppError> {
    let cid = correlation_id
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let versions_url = Url::new(versions_url)
        .map_err(|e| AppError::invalid(format!("invalid versions URL: {e}")))?
        .as_str()
        .to_string();
    CredentialsToken::new(token_a).map_err(|e| AppError::invalid(format!("invalid token: {e}")))?;
    let api = fetch_partner_api(state, &versions_url, token_a, true, Some(&cid)).await?;
    let cred_url = api
        .endpoint("credentials")
        .map(|e| e.url.as_str().to_string())
        .ok_or_else(|| AppError::ocpi(status::NO_MATCHING_ENDPOINTS, "no credentials endpoint"))?;

    // The token the partner will use to call us; valid for versions/credentials until done.
    let ours = state.keys.issue_token();
    let new = NewPlatform {
        name: versions_url.clone(),
        initiated_by: "HUB".into(),
        versions_url: Some(versions_url.clone()),
        ..Default::default()
    };
    let hash = token_hash(&ours);
    let b64 = api.base64;
    let platform = state
        .db
        .write(move |c| {
            let p = platforms::create(c, &new, &hash, KIND_ACCESS)?;
            platforms::set_auth_base64(c, &p.id, b64)?;
            Ok(p)
        })
        .await?;
    let result = finish_connect(state, &platform, &api, &cred_url, token_a, &ours, &cid).await;
    if let Err(e) = &result {
        tracing::warn!(party.platform_id = %platform.id, error = %e, "connect failed; partner removed");
        let id = platform.id.clone();
        state
            .db
            .write(move |c| platforms::delete_unregistered(c, &id))
            .await?;
    }
    result
}

async fn finish_connect(
    state: &AppState,
    platform: &Platform,
    api: &PartnerApi,
    cred_url: &str,
    token_a: &str,
    ours: &str,
    cid: &str,
) -> Result<Platform, AppError> {
    let body = serde_json::to_value(hub_credentials(state, ours)?).map_err(AppError::internal)?;
    let target = Target {
        url: cred_url,
        token: token_a,
        base64: api.base64,
        audience: &api.versions_url,
        correlation_id: Some(cid),
        routing: None,
    };
    let reply = state
        .client
        .call::<serde_json::Value>(Method::POST, &target, Some(&body))
        .await
        .map_err(|e| unusable("POST", cred_url, e))?;
    let data = reply.data.ok_or_else(|| {
        AppError::ocpi(
            status::UNABLE_TO_USE_CLIENT_API,
            "partner answered without credentials",
        )
    })?;
    let theirs: Credentials =
        crate::http::json::parse_body(data.to_string().as_bytes()).map_err(|e| {
            AppError::ocpi(
                status::UNABLE_TO_USE_CLIENT_API,
                format!("partner's credentials are invalid: {e}"),
            )
        })?;
    // Their versions URL may differ from the one we were given: read it with the new token.
    let api = if theirs.url.as_str() != api.versions_url {
        fetch_partner_api(
            state,
            theirs.url.as_str(),
            theirs.token.as_str(),
            api.base64,
            Some(cid),
        )
        .await?
    } else {
        PartnerApi {
            versions_url: api.versions_url.clone(),
            details: api.details.clone(),
            base64: api.base64,
        }
    };
    let reg = registration_of(state, &api, &theirs)?;
    check_role_conflicts(state, &platform.id, &reg.roles).await?;
    let id = platform.id.clone();
    let stored = state
        .db
        .write(move |c| {
            platforms::complete_registration(c, &id, &reg, None)?;
            platforms::get(c, &id)
        })
        .await
        .map_err(map_conflict)?
        .ok_or_else(|| AppError::internal("platform vanished"))?;
    tracing::info!(party.platform_id = %stored.id, "registered with partner");
    Ok(stored)
}
