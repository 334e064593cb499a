//! The push outbox. A change to an object enqueues, inside the same database transaction, one
//! delivery per partner entitled to it; the worker (`worker.rs`) sends them in FIFO order per
//! (partner, object group), retries with back-off and dead-letters what keeps failing.

pub mod worker;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// The platform holding the eMSP-like role `owner` with a RECEIVER for `module` (not
/// `exclude`), as [`recipients`] finds it.
pub fn owner_recipient(
    conn: &mut DbConnection,
    module: &str,
    owner: &PartyRef,
    exclude: Option<&str>,
) -> Result<Option<Recipient>, DbError> {
    Ok(recipients(
        conn,
        module,
        EMSP_LIKE,
        exclude,
        Some(std::slice::from_ref(owner)),
    )?
    .into_iter()
    .next())
}

/// How long [`RecipientCache`] keeps a party's platform by default.
pub const RECIPIENT_TTL: Duration = Duration::from_secs(1);

/// The platform that gets a party's deliveries of one module, as last looked up, for
/// a TTL ([`RECIPIENT_TTL`]): the pushes of a running session look their eMSP's platform up once a
/// second instead of once per change. Only found platforms are kept, so a party that has just
/// registered is served at once; any other change of registration (unregistered, endpoint or
/// role moved) reaches new deliveries within the TTL, and the worker reads the platform again
/// before each send (a delivery to a platform that is no longer registered is refused there).
#[derive(Debug)]
pub struct RecipientCache {
    ttl: Duration,
    map: Mutex<HashMap<RecipientKey, (Instant, Recipient)>>,
}

impl Default for RecipientCache {
    fn default() -> Self {
        Self::with_ttl(RECIPIENT_TTL)
    }
}

/// Module, country code, party id, excluded platform.
type RecipientKey = (String, String, String, Option<String>);

impl RecipientCache {
    pub fn with_ttl(ttl: Duration) -> Self {
        Self {
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// [`owner_recipient`], through the cache.
    pub fn owner(
        &self,
        conn: &mut DbConnection,
        module: &str,
        owner: &PartyRef,
        exclude: Option<&str>,
    ) -> Result<Option<Recipient>, DbError> {
        let key = (
            module.to_string(),
            owner.country_code.clone(),
            owner.party_id.clone(),
            exclude.map(str::to_string),
        );
        if let Some((at, r)) = self.lock().get(&key)
            && at.elapsed() < self.ttl
        {
            return Ok(Some(r.clone()));
        }
        let found = owner_recipient(conn, module, owner, exclude)?;
        if let Some(r) = &found {
            let mut map = self.lock();
            let ttl = self.ttl;
            map.retain(|_, (at, _)| at.elapsed() < ttl);
            map.insert(key, (Instant::now(), r.clone()));
        }
        Ok(found)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RecipientKey, (Instant, Recipient)>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
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
) -> Result<Vec<i64>, DbError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::platforms::{NewPlatform, NewRole, Registration};

    fn emsp(conn: &mut DbConnection, name: &str, cc: &str, pid: &str) -> String {
        let p = platforms::create(
            conn,
            &NewPlatform {
                name: name.into(),
                initiated_by: "THEM".into(),
                expected_role: None,
                expected_country_code: None,
                expected_party_id: None,
                versions_url: None,
            },
            &format!("hash-{name}"),
            platforms::KIND_REGISTRATION,
        )
        .unwrap();
        let endpoints = serde_json::json!([{
            "identifier": "sessions", "role": "RECEIVER",
            "url": format!("https://{name}.example/sessions")
        }]);
        platforms::complete_registration(
            conn,
            &p.id,
            &Registration {
                name: name.into(),
                versions_url: format!("https://{name}.example/versions"),
                version: "2.2.1".into(),
                endpoints_json: endpoints.to_string(),
                their_token_sealed: "sealed".into(),
                roles: vec![NewRole {
                    role: "EMSP".into(),
                    country_code: cc.into(),
                    party_id: pid.into(),
                    business_details: "{}".into(),
                }],
            },
            None,
        )
        .unwrap();
        p.id
    }

    #[test]
    fn a_found_platform_is_kept_for_the_ttl_a_missing_one_is_looked_up_again() {
        let (_dir, db) = crate::db::temp_sqlite();
        let mut c = db.get().unwrap();
        let c = &mut *c;
        let ttl = Duration::from_millis(300);
        let cache = RecipientCache::with_ttl(ttl);
        let owner = PartyRef {
            country_code: "DE".into(),
            party_id: "EMS".into(),
        };
        // Not registered yet: nothing, and nothing kept.
        assert!(cache.owner(c, "sessions", &owner, None).unwrap().is_none());
        let first = emsp(c, "first", "DE", "EMS");
        let found = cache.owner(c, "sessions", &owner, None).unwrap().unwrap();
        assert_eq!(found.platform_id, first);
        assert_eq!(found.to.party_id, "EMS");
        // No RECEIVER for that module, or the platform excluded: not this one.
        assert!(cache.owner(c, "cdrs", &owner, None).unwrap().is_none());
        assert!(
            cache
                .owner(c, "sessions", &owner, Some(&first))
                .unwrap()
                .is_none()
        );
        // Unregistered: still served from the cache within the TTL, looked up again after.
        platforms::unregister(c, &first).unwrap();
        let cached = cache.owner(c, "sessions", &owner, None).unwrap().unwrap();
        assert_eq!(cached.platform_id, first);
        std::thread::sleep(ttl);
        assert!(cache.owner(c, "sessions", &owner, None).unwrap().is_none());
    }
}
