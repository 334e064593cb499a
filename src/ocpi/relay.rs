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

/// Send `body` and return the partner's `data` (None when it sent none).
pub async fn send<T: DeserializeOwned>(
    state: &AppState,
    r: &Relay<'_>,
    body: Option<&Value>,
) -> Result<Option<T>, AppError> {
    let unreachable = |m: &str| AppError::ocpi(status::HUB_CONNECTION_PROBLEM, m.to_string());
    let pid = r.platform_id.to_string();
    let p = state
        .db
        .read(move |c| platforms::get(c, &pid))
        .await?
        .filter(|p| p.is_registered())
        .ok_or_else(|| unreachable("the partner is not connected"))?;
    let base = crate::push::endpoint(p.endpoints.as_deref(), r.module, r.role)
        .ok_or_else(|| unreachable(&format!("the partner has no {} endpoint", r.module)))?;
    let sealed = p
        .their_token
        .as_deref()
        .ok_or_else(|| unreachable("no token for the partner"))?;
    let token = state.keys.open(sealed).map_err(AppError::internal)?;
    let url = format!("{base}{}", r.path);
    let audience = p.versions_url.clone().unwrap_or_default();
    let target = Target {
        url: &url,
        token: &token,
        base64: p.auth_base64,
        audience: &audience,
        correlation_id: None,
        routing: Some((r.from, r.to)),
    };
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
