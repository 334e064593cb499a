//! The push outbox. A change to an object enqueues, inside the same database transaction, one
//! delivery per partner entitled to it; the worker (`worker.rs`) sends them in FIFO order per
//! (partner, object group), retries with back-off and dead-letters what keeps failing.

pub mod worker;

use crate::db::outbox::{self, NewDelivery};
use crate::db::platforms;
use crate::db::{DbConnection, DbError};
use crate::http::routing::PartyRef;
use crate::ocpi::versions::{Endpoint, InterfaceRole};

/// Roles that receive CPO data (locations, tariffs): eMSPs and the roles the spec treats alike.
pub const EMSP_LIKE: &[&str] = &["EMSP", "NSP", "NAP", "OTHER"];

/// A partner platform that gets a delivery, and the party it is addressed to.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub platform_id: String,
    pub to: PartyRef,
}

/// The receiver endpoint of `module` in a platform's stored endpoints.
pub fn receiver_endpoint(endpoints_json: Option<&str>, module: &str) -> Option<String> {
    endpoint(endpoints_json, module, InterfaceRole::Receiver)
}

/// The endpoint of `module` in `role` among a platform's stored endpoints.
pub fn endpoint(endpoints_json: Option<&str>, module: &str, role: InterfaceRole) -> Option<String> {
    let eps: Vec<Endpoint> = serde_json::from_str(endpoints_json?).ok()?;
    eps.into_iter()
        .find(|e| e.identifier == module && e.role == role)
        .map(|e| e.url.as_str().trim_end_matches('/').to_string())
}

/// Registered platforms with a RECEIVER endpoint for `module` and a role in `roles`, except
/// `exclude` (the platform the change came from). `only` restricts to those parties.
pub fn recipients(
    conn: &mut DbConnection,
    module: &str,
    roles: &[&str],
    exclude: Option<&str>,
    only: Option<&[PartyRef]>,
) -> Result<Vec<Recipient>, DbError> {
    if let Some(parties) = only {
        // Addressed to known parties: only their platforms, in one query.
        let mut out: Vec<Recipient> = Vec::new();
        for (p, r) in platforms::holding(conn, parties, roles)? {
            if !p.is_registered()
                || Some(p.id.as_str()) == exclude
                || receiver_endpoint(p.endpoints.as_deref(), module).is_none()
                || out.iter().any(|o| o.platform_id == p.id)
            {
                continue;
            }
            out.push(Recipient {
                platform_id: p.id.clone(),
                to: PartyRef {
                    country_code: r.country_code,
                    party_id: r.party_id,
                },
            });
        }
        return Ok(out);
    }
    let mut out = Vec::new();
    for p in platforms::list(conn)? {
        if !p.is_registered() || Some(p.id.as_str()) == exclude {
            continue;
        }
        if receiver_endpoint(p.endpoints.as_deref(), module).is_none() {
            continue;
        }
        let chosen = platforms::roles_of(conn, &p.id)?.into_iter().find(|r| {
            roles.contains(&r.role.as_str())
                && only.is_none_or(|allowed| {
                    allowed
                        .iter()
                        .any(|a| a.country_code == r.country_code && a.party_id == r.party_id)
                })
        });
        if let Some(r) = chosen {
            out.push(Recipient {
                platform_id: p.id.clone(),
                to: PartyRef {
                    country_code: r.country_code,
                    party_id: r.party_id,
                },
            });
        }
    }
    Ok(out)
}

/// One change to send to several recipients.
pub struct Change<'a> {
    pub module: &'a str,
    pub object_group: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub body: Option<&'a serde_json::Value>,
    pub from: &'a PartyRef,
}

/// Enqueue `change` for every recipient; returns how many deliveries were written.
pub fn fan_out(
    conn: &mut DbConnection,
    change: &Change<'_>,
    to: &[Recipient],
) -> Result<usize, DbError> {
    let body = change.body.map(|b| b.to_string());
    let rows: Vec<NewDelivery> = to
        .iter()
        .map(|r| NewDelivery {
            platform_id: r.platform_id.clone(),
            module: change.module.to_string(),
            object_group: change.object_group.to_string(),
            method: change.method.to_string(),
            path: change.path.to_string(),
            body: body.clone(),
            from_country_code: change.from.country_code.clone(),
            from_party_id: change.from.party_id.clone(),
            to: None,
        })
        .collect();
    outbox::enqueue(conn, &rows)
}
