//! Changes to locations, EVSEs and connectors, wherever they come from (a CPO's push, the
//! operator's import, later the OCPP gateway): validated, stored, and enqueued for every eMSP
//! entitled to them, all in one transaction.

use serde_json::Value;

use crate::db::locations::{self as store, LocationRow, object_key};
use crate::db::{DbConnection, DbError, platforms};
use crate::error::AppError;
use crate::http::envelope::status;
use crate::http::json::parse_value;
use crate::http::routing::PartyRef;
use crate::http::routing::same_id;
use crate::push::{self, Change, EMSP_LIKE};
use crate::state::AppState;

use super::model::{Connector, Evse, Location, PublishTokenType};

/// Which object a request addresses.
#[derive(Debug, Clone)]
pub enum Target {
    Location,
    Evse(String),
    Connector(String, String),
}

#[derive(Debug, Clone)]
pub enum Op {
    /// The full object.
    Put(Value),
    /// Changed fields plus `last_updated`.
    Patch(Value),
}

/// Where a change comes from: a partner platform (not pushed back to it) or the hub itself.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub platform_id: Option<String>,
}

/// The address of a location: its owner and id as in the URL.
#[derive(Debug, Clone)]
pub struct LocationRef {
    pub country_code: String,
    pub party_id: String,
    pub location_id: String,
}

impl LocationRef {
    pub fn key(&self) -> String {
        object_key(&self.country_code, &self.party_id, &self.location_id)
    }

    /// The URL suffix of `target` under this location.
    pub fn path(&self, target: &Target) -> String {
        let base = format!(
            "/{}/{}/{}",
            self.country_code.to_ascii_uppercase(),
            self.party_id.to_ascii_uppercase(),
            self.location_id
        );
        match target {
            Target::Location => base,
            Target::Evse(e) => format!("{base}/{e}"),
            Target::Connector(e, c) => format!("{base}/{e}/{c}"),
        }
    }
}

/// What a change did.
#[derive(Debug, Clone)]
pub struct Applied {
    pub created: bool,
    /// The deliveries enqueued for the eMSPs.
    pub deliveries: Vec<i64>,
}

fn unknown_location(r: &LocationRef) -> AppError {
    AppError::Unknown {
        code: status::UNKNOWN_LOCATION,
        message: format!(
            "unknown location {}/{}/{}",
            r.country_code, r.party_id, r.location_id
        ),
    }
}

fn require_last_updated(patch: &Value) -> Result<(), AppError> {
    match patch.get("last_updated") {
        Some(Value::String(_)) => Ok(()),
        _ => Err(AppError::invalid(
            "a PATCH must contain `last_updated` (field missing or not a DateTime string)",
        )),
    }
}

/// Shallow merge: every field of `patch` replaces the stored one.
fn merge(stored: &mut Value, patch: &Value) -> Result<(), AppError> {
    let (Some(obj), Some(p)) = (stored.as_object_mut(), patch.as_object()) else {
        return Err(AppError::invalid("a PATCH body must be a JSON object"));
    };
    for (k, v) in p {
        obj.insert(k.clone(), v.clone());
    }
    Ok(())
}

/// The new state of the location after `op` on `target`, or why it is refused.
fn next_state(
    r: &LocationRef,
    existing: Option<Location>,
    target: &Target,
    op: &Op,
) -> Result<(Location, bool), AppError> {
    let created = existing.is_none();
    let loc = match (target, op) {
        (Target::Location, Op::Put(v)) => {
            let loc: Location = parse_value(v.clone())?;
            same_id("country_code", &r.country_code, loc.country_code.as_str())?;
            same_id("party_id", &r.party_id, loc.party_id.as_str())?;
            same_id("id", &r.location_id, loc.id.as_str())?;
            loc
        }
        (Target::Location, Op::Patch(p)) => {
            require_last_updated(p)?;
            let old = existing.ok_or_else(|| unknown_location(r))?;
            let mut v = serde_json::to_value(&old).map_err(AppError::internal)?;
            merge(&mut v, p)?;
            let loc: Location = parse_value(v)?;
            same_id(
                "country_code",
                old.country_code.as_str(),
                loc.country_code.as_str(),
            )?;
            same_id("party_id", old.party_id.as_str(), loc.party_id.as_str())?;
            same_id("id", old.id.as_str(), loc.id.as_str())?;
            loc
        }
        (Target::Evse(uid), op) => {
            let mut loc = existing.ok_or_else(|| unknown_location(r))?;
            let evse: Evse = match op {
                Op::Put(v) => parse_value(v.clone())?,
                Op::Patch(p) => {
                    require_last_updated(p)?;
                    let old = loc.evse(uid).ok_or_else(|| unknown_evse(r, uid))?;
                    let mut v = serde_json::to_value(old).map_err(AppError::internal)?;
                    merge(&mut v, p)?;
                    parse_value(v)?
                }
            };
            same_id("uid", uid, evse.uid.as_str())?;
            loc.last_updated = evse.last_updated;
            let evses = loc.evses.get_or_insert_with(Vec::new);
            match evses.iter_mut().find(|e| e.uid.eq_ci(uid)) {
                Some(slot) => *slot = evse,
                None => evses.push(evse),
            }
            loc
        }
        (Target::Connector(uid, cid), op) => {
            let mut loc = existing.ok_or_else(|| unknown_location(r))?;
            let updated = {
                let evse = loc.evse_mut(uid).ok_or_else(|| unknown_evse(r, uid))?;
                let conn: Connector = match op {
                    Op::Put(v) => parse_value(v.clone())?,
                    Op::Patch(p) => {
                        require_last_updated(p)?;
                        let old = evse.connector(cid).ok_or_else(|| AppError::Unknown {
                            code: status::UNKNOWN_LOCATION,
                            message: format!("unknown connector {cid} of EVSE {uid}"),
                        })?;
                        let mut v = serde_json::to_value(old).map_err(AppError::internal)?;
                        merge(&mut v, p)?;
                        parse_value(v)?
                    }
                };
                same_id("id", cid, conn.id.as_str())?;
                let ts = conn.last_updated;
                match evse.connectors.iter_mut().find(|c| c.id.eq_ci(cid)) {
                    Some(slot) => *slot = conn,
                    None => evse.connectors.push(conn),
                }
                evse.last_updated = ts;
                ts
            };
            loc.last_updated = updated;
            loc
        }
    };
    // The whole object must still hold together (unique uids, cardinalities).
    validator::Validate::validate(&loc)
        .map_err(|e| AppError::invalid(crate::http::json::describe_validation(&e)))?;
    Ok((loc, created))
}

fn unknown_evse(r: &LocationRef, uid: &str) -> AppError {
    AppError::Unknown {
        code: status::UNKNOWN_LOCATION,
        message: format!("unknown EVSE {uid} of location {}", r.location_id),
    }
}

/// 1e-7 degrees from an OCPI coordinate string (already validated).
fn e7(s: &str) -> i64 {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let mut frac: String = frac.chars().take(7).collect();
    while frac.len() < 7 {
        frac.push('0');
    }
    let v = int.parse::<i64>().unwrap_or(0) * 10_000_000 + frac.parse::<i64>().unwrap_or(0);
    if neg { -v } else { v }
}

/// The parties allowed to see an unpublished location: the registered eMSP-like parties whose
/// business name is the `issuer` of one of the `publish_allowed_to` entries. (Entries that name
/// a token uid or visual number are matched once the hub stores tokens.)
fn visibility(
    conn: &mut DbConnection,
    list: &[PublishTokenType],
) -> Result<Vec<PartyRef>, DbError> {
    let issuers: Vec<String> = list
        .iter()
        .filter_map(|p| p.issuer.as_ref().map(|i| i.as_str().to_lowercase()))
        .collect();
    if issuers.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for p in platforms::list(conn)? {
        for r in platforms::roles_of(conn, &p.id)? {
            let name = serde_json::from_str::<Value>(&r.business_details)
                .ok()
                .and_then(|v| v.get("name").and_then(Value::as_str).map(str::to_lowercase));
            if EMSP_LIKE.contains(&r.role.as_str()) && name.is_some_and(|n| issuers.contains(&n)) {
                out.push(PartyRef {
                    country_code: r.country_code,
                    party_id: r.party_id,
                });
            }
        }
    }
    Ok(out)
}

pub fn row_of(
    loc: &Location,
    source: &Source,
    now: chrono::NaiveDateTime,
) -> Result<LocationRow, AppError> {
    Ok(LocationRow {
        key: object_key(
            loc.country_code.as_str(),
            loc.party_id.as_str(),
            loc.id.as_str(),
        ),
        country_code: loc.country_code.as_str().to_ascii_uppercase(),
        party_id: loc.party_id.as_str().to_ascii_uppercase(),
        id: loc.id.as_str().to_string(),
        object: serde_json::to_string(loc).map_err(AppError::internal)?,
        publish: loc.publish,
        lat_e7: e7(loc.coordinates.latitude.as_str()),
        lon_e7: e7(loc.coordinates.longitude.as_str()),
        source_platform_id: source.platform_id.clone(),
        last_updated: loc.last_updated.naive(),
        created_at: now,
    })
}

/// Apply one change: validate against the stored state, store, enqueue for the eMSPs.
pub async fn apply(
    state: &AppState,
    source: Source,
    r: LocationRef,
    target: Target,
    op: Op,
) -> Result<Applied, AppError> {
    let result = state
        .db
        .write(move |c| {
            let existing = stored(c, &r.key())?;
            Ok(apply_in(c, &source, &r, existing, &target, &op, &mut None)?.map(|(a, _)| a))
        })
        .await??;
    state.location_lists.invalidate();
    state.outbox_wakeup.enqueued(&result.deliveries);
    Ok(result)
}

/// Apply several changes in order in one database transaction (the OCPP gateway's EVSE
/// statuses): the locations they address read with one query, the eMSPs of published
/// locations looked up once. Each change gets its own outcome; one refused change does not
/// stop the others.
pub async fn apply_batch(
    state: &AppState,
    source: Source,
    changes: Vec<(LocationRef, Target, Op)>,
) -> Result<Vec<Result<Applied, AppError>>, AppError> {
    let outcomes = state
        .db
        .write(move |c| {
            let mut keys: Vec<String> = changes.iter().map(|(r, _, _)| r.key()).collect();
            keys.sort_unstable();
            keys.dedup();
            let mut current = std::collections::HashMap::new();
            for row in store::get_many(c, &keys)? {
                current.insert(row.key.clone(), parse_stored(&row)?);
            }
            let mut published = None;
            let mut out = Vec::with_capacity(changes.len());
            for (r, target, op) in &changes {
                let key = r.key();
                let existing = current.get(&key).cloned();
                match apply_in(c, &source, r, existing, target, op, &mut published)? {
                    Ok((applied, loc)) => {
                        current.insert(key, loc);
                        out.push(Ok(applied));
                    }
                    Err(e) => out.push(Err(e)),
                }
            }
            Ok(out)
        })
        .await?;
    state.location_lists.invalidate();
    for a in outcomes.iter().flatten() {
        state.outbox_wakeup.enqueued(&a.deliveries);
    }
    Ok(outcomes)
}

fn parse_stored(row: &LocationRow) -> Result<Location, DbError> {
    serde_json::from_str::<Location>(&row.object)
        .map_err(|e| DbError::Other(format!("stored location {} unreadable: {e}", row.key)))
}

fn stored(c: &mut DbConnection, key: &str) -> Result<Option<Location>, DbError> {
    store::get(c, key)?.as_ref().map(parse_stored).transpose()
}

/// One change on connection `c` in the caller's transaction, from the `existing` state:
/// validated, stored, enqueued; returns the new state. `published` caches the recipients of
/// published locations for a batch (they do not depend on the location).
fn apply_in(
    c: &mut DbConnection,
    source: &Source,
    r: &LocationRef,
    existing: Option<Location>,
    target: &Target,
    op: &Op,
    published: &mut Option<Vec<push::Recipient>>,
) -> Result<Result<(Applied, Location), AppError>, DbError> {
    let key = r.key();
    let (loc, created) = match next_state(r, existing, target, op) {
        Ok(x) => x,
        Err(e) => return Ok(Err(e)),
    };
    let row = match row_of(&loc, source, crate::db::now()) {
        Ok(row) => row,
        Err(e) => return Ok(Err(e)),
    };
    let allowed = if loc.publish {
        Vec::new()
    } else {
        visibility(c, loc.publish_allowed_to.as_deref().unwrap_or_default())?
    };
    store::upsert(c, &row, &allowed)?;
    let recipients = match (loc.publish, published.as_ref()) {
        (true, Some(cached)) => cached.clone(),
        _ => {
            let found = push::recipients(
                c,
                "locations",
                EMSP_LIKE,
                source.platform_id.as_deref(),
                if loc.publish { None } else { Some(&allowed) },
            )?;
            if loc.publish {
                *published = Some(found.clone());
            }
            found
        }
    };
    // PUT carries the canonical object; PATCH the fields as received.
    let body = match (op, target) {
        (Op::Patch(p), _) => p.clone(),
        (Op::Put(_), Target::Location) => {
            serde_json::to_value(&loc).map_err(|e| DbError::Other(e.to_string()))?
        }
        (Op::Put(_), Target::Evse(uid)) => {
            serde_json::to_value(loc.evse(uid)).map_err(|e| DbError::Other(e.to_string()))?
        }
        (Op::Put(_), Target::Connector(uid, cid)) => {
            serde_json::to_value(loc.evse(uid).and_then(|e| e.connector(cid)))
                .map_err(|e| DbError::Other(e.to_string()))?
        }
    };
    let method = match op {
        Op::Put(_) => "PUT",
        Op::Patch(_) => "PATCH",
    };
    let from = PartyRef {
        country_code: row.country_code.clone(),
        party_id: row.party_id.clone(),
    };
    let deliveries = push::fan_out(
        c,
        &Change {
            module: "locations",
            object_group: &key,
            method,
            path: &r.path(target),
            body: Some(&body),
            from: &from,
        },
        &recipients,
    )?;
    Ok(Ok((
        Applied {
            created,
            deliveries,
        },
        loc,
    )))
}

/// The stored location of `key`, parsed.
pub fn load(row: &LocationRow) -> Result<Location, AppError> {
    serde_json::from_str(&row.object).map_err(AppError::internal)
}

#[cfg(test)]
mod tests {
    use super::e7;

    #[test]
    fn coordinates_to_integers() {
        assert_eq!(e7("52.3700000"), 523_700_000);
        assert_eq!(e7("-4.12345"), -41_234_500);
        assert_eq!(e7("0.0000001"), 1);
        assert_eq!(e7("-0.50000"), -5_000_000);
    }
}
