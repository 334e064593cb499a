//! Calls to a charge point connected to another hub instance, through the database: the asking
//! instance writes an `ocpp_calls` row and watches it; every instance takes the rows for the
//! charge points it holds (every 100 ms), calls, and writes the answer back. Works on one
//! PostgreSQL shared by several instances (and on one SQLite file shared by processes).

use std::time::Duration;

use actix_web::web;
use serde_json::Value;

use crate::db::{chargers, remote_calls};
use crate::state::AppState;

use super::frame::Version;
use super::gateway::CallError;
use super::schema::Direction;

const POLL: Duration = Duration::from_millis(50);
const SERVE_EVERY: Duration = Duration::from_millis(100);

/// The protocol of a charge point connected here or to another instance.
pub async fn version(state: &AppState, id: &str) -> Option<Version> {
    if let Some(v) = state.ocpp_registry.version(id) {
        return Some(v);
    }
    let lookup = id.to_string();
    let c = state
        .db
        .read(move |c| chargers::get(c, &lookup))
        .await
        .ok()??;
    if !c.connected {
        return None;
    }
    c.protocol.as_deref().and_then(Version::from_subprotocol)
}

/// Call a charge point wherever it is connected.
pub async fn call(
    state: &AppState,
    id: &str,
    action: &str,
    payload: &Value,
) -> Result<Value, CallError> {
    let timeout = Duration::from_secs(state.settings.ocpp_call_timeout_secs);
    let schemas = state.ocpp_schemas.as_deref();
    if let Some(s) = schemas
        && let Some(v) = version(state, id).await
    {
        s.check(v, Direction::Request, action, payload)
            .map_err(|e| CallError::Invalid(e.description))?;
    }
    match state
        .ocpp_registry
        .call(id, action, payload, timeout, &state.ocpp_log)
        .await
    {
        Err(CallError::NotConnected(_)) => {}
        Ok(answer) => {
            // A non-conforming answer is passed on (it is what the charge point said) and noted.
            if let (Some(s), Some(v)) = (schemas, state.ocpp_registry.version(id))
                && let Err(e) = s.check(v, Direction::Response, action, &answer)
            {
                tracing::warn!(ocpp.charge_point_id = %id, ocpp.action = %action, violation = %e.description, "answer does not match its schema");
            }
            return Ok(answer);
        }
        other => return other,
    }
    let lookup = id.to_string();
    let connected = state
        .db
        .read(move |c| chargers::get(c, &lookup))
        .await
        .ok()
        .flatten()
        .is_some_and(|c| c.connected);
    if !connected {
        return Err(CallError::NotConnected(id.to_string()));
    }
    let deadline = crate::db::now() + chrono::Duration::from_std(timeout).unwrap_or_default();
    let (cid, act, body) = (id.to_string(), action.to_string(), payload.to_string());
    let row = state
        .db
        .write(move |c| remote_calls::create(c, &cid, &act, &body, deadline))
        .await
        .map_err(|_| CallError::Closed)?;
    let give_up = tokio::time::Instant::now() + timeout + Duration::from_secs(1);
    loop {
        tokio::time::sleep(POLL).await;
        let r = state
            .db
            .read(move |c| remote_calls::get(c, row))
            .await
            .ok()
            .flatten();
        match r {
            Some(r) if r.state == remote_calls::DONE => {
                return serde_json::from_str(r.response.as_deref().unwrap_or("{}"))
                    .map_err(|_| CallError::Closed);
            }
            Some(r) if r.state == remote_calls::FAILED => {
                let e = r.error.unwrap_or_default();
                return Err(match r.error_kind.as_deref() {
                    Some("timeout") => CallError::Timeout(timeout.as_secs()),
                    Some("not_connected") => CallError::NotConnected(id.to_string()),
                    Some("rejected") => {
                        let (code, description) = e.split_once(": ").unwrap_or((e.as_str(), ""));
                        CallError::Rejected {
                            code: code.to_string(),
                            description: description.to_string(),
                        }
                    }
                    _ => CallError::Closed,
                });
            }
            _ if tokio::time::Instant::now() > give_up => {
                return Err(CallError::Timeout(timeout.as_secs()));
            }
            _ => {}
        }
    }
}

/// Take and perform the calls other instances relay to charge points held here.
pub async fn serve(state: web::Data<AppState>) {
    let owner = uuid::Uuid::new_v4().simple().to_string();
    let mut prune = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(SERVE_EVERY) => {}
            _ = prune.tick() => {
                let before = crate::db::now() - chrono::Duration::hours(1);
                if let Err(e) = state.db.write(move |c| remote_calls::prune(c, before)).await {
                    tracing::error!(error = %e, "relayed calls not pruned");
                }
                continue;
            }
        }
        let held: Vec<String> = state
            .ocpp_registry
            .connected()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        if held.is_empty() {
            continue;
        }
        let now = crate::db::now();
        let o = owner.clone();
        let taken = match state
            .db
            .write(move |c| remote_calls::take(c, &held, &o, now))
            .await
        {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "relayed calls not read");
                continue;
            }
        };
        for r in taken {
            let state = state.clone();
            tokio::spawn(async move {
                let left = (r.deadline - crate::db::now()).to_std().unwrap_or_default();
                let payload: Value = serde_json::from_str(&r.payload).unwrap_or(Value::Null);
                let result = state
                    .ocpp_registry
                    .call(&r.charger_id, &r.action, &payload, left, &state.ocpp_log)
                    .await
                    .map(|v| v.to_string())
                    .map_err(|e| match e {
                        CallError::Timeout(_) => ("timeout".to_string(), e.to_string()),
                        CallError::NotConnected(_) => ("not_connected".to_string(), e.to_string()),
                        CallError::Rejected { code, description } => {
                            ("rejected".to_string(), format!("{code}: {description}"))
                        }
                        CallError::Closed | CallError::Invalid(_) => {
                            ("closed".to_string(), e.to_string())
                        }
                    });
                if let Err(e) = state
                    .db
                    .write(move |c| remote_calls::finish(c, r.id, result))
                    .await
                {
                    tracing::error!(error = %e, "relayed call answer not stored");
                }
            });
        }
    }
}
