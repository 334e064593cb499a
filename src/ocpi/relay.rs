//! A request the hub relays synchronously to one partner's endpoint (a command to a remote
//! CPO, charging preferences of a remote session): the partner's answer comes back, or OCPI
//! 4003 when it cannot be reached and 4002 when it does not answer in time.

use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::db::platforms;
use crate::error::AppError;
use crate::http::envelope::status;
use crate::http::routing::PartyRef;
use crate::ocpi::client::{ClientError, Target};
use crate::ocpi::versions::InterfaceRole;
use crate::state::AppState;

/// Where to send: the partner platform, its endpoint (module and role) and the path after it.
pub struct Relay<'a> {
    pub platform_id: &'a str,
    pub module: &'a str,
    pub role: InterfaceRole,
    pub path: &'a str,
    pub method: Method,
    pub from: &'a PartyRef,
    pub to: &'a PartyRef,
}

/// How to call one endpoint of a registered partner.
pub struct PartnerEndpoint {
    /// The endpoint's URL, without a trailing slash.
    pub base: String,
    /// The partner's token (opened).
    pub token: String,
    pub base64: bool,
    /// The partner's versions URL (the signature's `aud`).
    pub audience: String,
}

impl PartnerEndpoint {
    /// The request target `url` (under this endpoint) with the partner's token and audience,
    /// routed `from` → `to`.
    pub fn target<'a>(&'a self, url: &'a str, from: &'a PartyRef, to: &'a PartyRef) -> Target<'a> {
        Target {
            url,
            token: &self.token,
            base64: self.base64,
            audience: &self.audience,
            correlation_id: None,
            routing: Some((from, to)),
        }
    }
}

/// The `module`/`role` endpoint of registered platform `platform_id`; why not, otherwise.
pub async fn partner_endpoint(
    state: &AppState,
    platform_id: &str,
    module: &str,
    role: InterfaceRole,
) -> Result<PartnerEndpoint, String> {
    let pid = platform_id.to_string();
    let p = state
        .db
        .read(move |c| platforms::get(c, &pid))
        .await
        .map_err(|e| e.to_string())?
        .filter(|p| p.is_registered())
        .ok_or_else(|| "the partner is not registered".to_string())?;
    let base = crate::push::endpoint(p.endpoints.as_deref(), module, role)
        .ok_or_else(|| format!("the partner has no {module} {role:?} endpoint"))?;
    let sealed = p
        .their_token
        .as_deref()
        .ok_or_else(|| "no token for the partner".to_string())?;
    let token = state.keys.open(sealed).map_err(|e| e.to_string())?;
    Ok(PartnerEndpoint {
        base,
        token,
        base64: p.auth_base64,
        audience: p.versions_url.clone().unwrap_or_default(),
    })
}

/// Send `body` and return the partner's `data` (None when it sent none).
pub async fn send<T: DeserializeOwned>(
    state: &AppState,
    r: &Relay<'_>,
    body: Option<&Value>,
) -> Result<Option<T>, AppError> {
    let unreachable = |m: &str| AppError::ocpi(status::HUB_CONNECTION_PROBLEM, m.to_string());
    let ep = partner_endpoint(state, r.platform_id, r.module, r.role)
        .await
        .map_err(|e| unreachable(&e))?;
    let url = format!("{}{}", ep.base, r.path);
    let target = ep.target(&url, r.from, r.to);
    let wait = Duration::from_secs(state.settings.outbound_timeout_secs);
    match tokio::time::timeout(
        wait,
        state.client.call::<T>(r.method.clone(), &target, body),
    )
    .await
    {
        Err(_) | Ok(Err(ClientError::Timeout)) => Err(AppError::ocpi(
            status::HUB_TIMEOUT,
            "the partner did not answer in time",
        )),
        Ok(Err(ClientError::Ocpi { code, message })) => Err(AppError::ocpi(code, message)),
        Ok(Err(e)) => Err(unreachable(&e.to_string())),
        Ok(Ok(reply)) => Ok(reply.data),
    }
}
