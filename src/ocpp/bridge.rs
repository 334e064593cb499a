//! From OCPP transactions to OCPI sessions and CDRs, inside the database transaction that
//! stored the OCPP message (nothing is derived from a message that was not stored, and every
//! push is enqueued with the change that causes it).
//!
//! - A transaction gets a session once the hub knows its token (stored token → `cdr_token`
//!   with the owning eMSP). Transactions on tokens the hub does not know have no OCPI owner and
//!   produce no session.
//! - The session is recomputed from the transaction and its meter values on every message:
//!   energy register samples become intervals, the pricing engine cuts them into charging
//!   periods at every cost-relevant boundary of the tariff and prices them.
//! - Pushes go to the token owner only: PUT when the session is created, then PATCH with the
//!   changed fields and the charging periods that closed since the last push (OCPI appends
//!   them); if earlier pushed periods changed (late, offline-queued meter values), a PUT
//!   replaces the eMSP's copy. The last period stays open until the next boundary or the end.
//! - When the transaction ends the session is COMPLETED and the CDR is built from the tariff
//!   and location as they were at session start, stored (immutable) and POSTed to the eMSP,
//!   after the session's last PATCH (same delivery group).

use std::sync::Arc;

use chrono::{NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::db::cdrs::{self, CdrRow};
use crate::db::sessions::{self, SessionRow};
use crate::db::transactions::{self as store, ENDED, MeterValue, Transaction};
use crate::db::{DbConnection, DbError, chargers, locations, tokens};
use crate::http::routing::PartyRef;
use crate::ocpi::cdrs::model::{
    Amount, AuthMethod, Cdr, CdrDimension, CdrDimensionType, CdrLocation, CdrToken, ChargingPeriod,
    SignedData, SignedValue,
};
use crate::ocpi::locations::model::Location;
use crate::ocpi::sessions::model::{Session, SessionStatus};
use crate::ocpi::tariffs::model::{Currency, Tariff};
use crate::ocpi::tokens::model::Token;
use crate::ocpi::types::{CiString, CountryCode, DateTime, OcpiString, PartyId};
use crate::pricing::{self, Interval, Period};
use crate::push;

/// What the bridge needs from the settings.
#[derive(Debug, Clone)]
pub struct BridgeSettings {
    pub own: PartyRef,
    pub default_tariff_id: Option<String>,
    /// Currency of sessions without a tariff.
    pub currency: String,
    /// The hub's cache of eMSP platforms (one per process).
    pub recipients: Arc<push::RecipientCache>,
}

impl BridgeSettings {
    pub fn of(state: &crate::state::AppState) -> Self {
        let s = &state.settings;
        let (country_code, party_id) = s.own_cpo();
        Self {
            own: PartyRef {
                country_code,
                party_id,
            },
            default_tariff_id: s.default_tariff_id.clone(),
            currency: "EUR".into(),
            recipients: state.recipients.clone(),
        }
    }
}

/// Fixed at session start: what the session is priced and located by.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Snapshot {
    tariff: Option<Tariff>,
    cdr_location: Option<CdrLocation>,
    location_id: String,
    evse_uid: String,
    connector_id: String,
    time_zone: String,
}

/// The ids of the deliveries a change enqueued (none: empty), for the push worker once the
/// change is committed ([`crate::push::worker::Wakeup::enqueued`]).
pub type Enqueued = Vec<i64>;

fn delivery_group(session_key: &str) -> String {
    format!("session:{session_key}")
}

fn utc(n: NaiveDateTime) -> chrono::DateTime<Utc> {
    n.and_utc()
}

fn dec(s: &str) -> Option<Decimal> {
    s.parse().ok()
}

/// Bring the OCPI session (and, at the end, the CDR) of transaction `tx` up to date.
pub fn sync(conn: &mut DbConnection, cfg: &BridgeSettings, tx: i64) -> Result<Enqueued, DbError> {
    let Some(t) = store::by_ref(conn, tx)? else {
        return Ok(Vec::new());
    };
    sync_read(conn, cfg, t)
}

/// [`sync`] of a transaction the caller has just read in the current database transaction
/// (after its last change): batches read all theirs with one query.
pub fn sync_read(
    conn: &mut DbConnection,
    cfg: &BridgeSettings,
    t: store::Transaction,
) -> Result<Enqueued, DbError> {
    sync_from(conn, cfg, t, None)
}

/// [`sync_read`] of a transaction created in the current database transaction with no meter
/// values: it has no session and no samples yet, so neither is read, and the EVSE's active
/// reservation is the one the caller read to decide on the token (`reservation`), not read
/// again.
pub fn sync_created(
    conn: &mut DbConnection,
    cfg: &BridgeSettings,
    t: store::Transaction,
    reservation: Option<&crate::db::commands::Reservation>,
) -> Result<Enqueued, DbError> {
    sync_from(conn, cfg, t, Some(reservation))
}

/// `created`: the transaction is new (see [`sync_created`]), with the reservation known.
fn sync_from(
    conn: &mut DbConnection,
    cfg: &BridgeSettings,
    t: store::Transaction,
    created: Option<Option<&crate::db::commands::Reservation>>,
) -> Result<Enqueued, DbError> {
    let tx = t.id;
    let mut existing = match created {
        Some(_) => None,
        None => sessions::of_transaction(conn, tx)?,
    };
    // What the eMSP has: the stored object (its `cdr_token` is the token the session was
    // started with, so the token is read only for a new session).
    let mut previous = stored_session(existing.as_ref());
    let cdr_token = match &previous {
        Some(p) => p.cdr_token.clone(),
        None => {
            // The token: a command's (kept on the transaction), else the stored one.
            let object = match (&t.token_object, &t.token_key) {
                (Some(o), _) => o.clone(),
                (None, Some(key)) => match tokens::get(conn, key)? {
                    Some(row) => row.object,
                    None => return Ok(Vec::new()),
                },
                (None, None) => return Ok(Vec::new()),
            };
            let token: Token = serde_json::from_str(&object)
                .map_err(|e| DbError::Other(format!("token unreadable: {e}")))?;
            if existing.is_none() {
                // The session of a reservation this token made on this EVSE becomes the
                // transaction's.
                existing = adopt_reservation_session(conn, &t, token.uid.as_str(), created)?;
                previous = stored_session(existing.as_ref());
            }
            CdrToken {
                country_code: token.country_code,
                party_id: token.party_id,
                uid: token.uid,
                token_type: token.token_type,
                contract_id: token.contract_id,
            }
        }
    };
    let owner_cc = cdr_token.country_code.as_str().to_ascii_uppercase();
    let owner_pid = cdr_token.party_id.as_str().to_ascii_uppercase();
    let snapshot = match existing.as_ref().and_then(|r| r.snapshot.as_deref()) {
        Some(s) => serde_json::from_str(s)
            .map_err(|e| DbError::Other(format!("session snapshot unreadable: {e}")))?,
        None => take_snapshot(conn, cfg, &t)?,
    };
    let samples = match created {
        Some(_) => Vec::new(),
        None => store::meter_values(conn, tx)?,
    };
    let now = crate::db::now();
    let start = t.started_at.unwrap_or(t.created_at);
    let ended = t.state == ENDED;
    let end = if ended {
        t.stopped_at.unwrap_or(now).max(start)
    } else {
        samples
            .iter()
            .map(|m| m.sampled_at)
            .filter(|at| *at >= start)
            .max()
            .unwrap_or(start)
    };
    let tz = pricing::zone(&snapshot.time_zone).unwrap_or(chrono_tz::UTC);
    let intervals = intervals(&t, &samples, start, end);
    let periods = pricing::periods(snapshot.tariff.as_ref(), tz, utc(start), &intervals);
    let costs = snapshot
        .tariff
        .as_ref()
        .map(|tariff| pricing::price(tariff, tz, utc(start), &periods, utc(end)));
    let kwh: Decimal = intervals.iter().map(|i| i.energy_kwh).sum();

    let id = match &existing {
        Some(r) => r.id.clone(),
        None => uuid::Uuid::new_v4().simple().to_string(),
    };
    let status = if !t.authorized.unwrap_or(true) {
        SessionStatus::Invalid
    } else if ended {
        SessionStatus::Completed
    } else if t.started_at.is_none() {
        SessionStatus::Pending
    } else {
        SessionStatus::Active
    };
    let auth_method = t
        .auth_method
        .as_deref()
        .and_then(AuthMethod::parse)
        .unwrap_or(AuthMethod::Whitelist);
    let reference = t
        .authorization_reference
        .as_deref()
        .and_then(|r| CiString::new(r).ok());
    let currency = snapshot
        .tariff
        .as_ref()
        .map(|t| t.currency.clone())
        .or_else(|| Currency::new(cfg.currency.clone()).ok())
        .ok_or_else(|| DbError::Other("no currency".into()))?;
    let session_periods: Vec<ChargingPeriod> = periods.iter().map(session_period).collect();
    let ci = |s: &str| {
        CiString::new(s.to_string())
            .map_err(|e| DbError::Other(format!("session field `{s}`: {e}")))
    };
    let session = Session {
        country_code: CountryCode::new(&cfg.own.country_code).map_err(DbError::Other)?,
        party_id: PartyId::new(&cfg.own.party_id).map_err(DbError::Other)?,
        id: ci(&id)?,
        start_date_time: DateTime::from_naive(start),
        end_date_time: ended.then(|| DateTime::from_naive(end)),
        kwh,
        cdr_token: cdr_token.clone(),
        auth_method,
        authorization_reference: reference.clone(),
        location_id: ci(&snapshot.location_id)?,
        evse_uid: ci(&snapshot.evse_uid)?,
        connector_id: ci(&snapshot.connector_id)?,
        meter_id: None,
        currency: currency.clone(),
        charging_periods: (!session_periods.is_empty()).then(|| session_periods.clone()),
        total_cost: costs.as_ref().map(|c| c.total_cost.into()),
        status,
        last_updated: DateTime::from_naive(now),
    };
    let key = sessions::object_key(&cfg.own.country_code, &cfg.own.party_id, &id);

    // The periods the eMSP has so far.
    let pushed: Vec<ChargingPeriod> = existing
        .as_ref()
        .and_then(|r| r.pushed_periods.as_deref())
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    // Periods the eMSP may hold: all once the session is over, else all but the open last one.
    let closed = if ended || session_periods.is_empty() {
        session_periods.len()
    } else {
        session_periods.len() - 1
    };
    let closed_periods = &session_periods[..closed];
    if let Some(prev) = &previous
        && same_state(prev, &session)
        && pushed.len() == closed
    {
        // Nothing the eMSP would see changed: keep the stored object and its last_updated.
        if ended {
            return finish(
                conn,
                cfg,
                &t,
                &key,
                prev,
                &snapshot,
                &periods,
                costs.as_ref(),
            );
        }
        return Ok(Vec::new());
    }
    let object = serde_json::to_string(&session)
        .map_err(|e| DbError::Other(format!("session not serialisable: {e}")))?;
    let row = SessionRow {
        key: key.clone(),
        country_code: cfg.own.country_code.clone(),
        party_id: cfg.own.party_id.clone(),
        id: id.clone(),
        emsp_country_code: owner_cc.clone(),
        emsp_party_id: owner_pid.clone(),
        status: status.as_str().to_string(),
        object,
        transaction_ref: Some(tx),
        source_platform_id: None,
        pushed_periods: Some(
            serde_json::to_string(closed_periods).map_err(|e| DbError::Other(e.to_string()))?,
        ),
        charging_preferences: existing
            .as_ref()
            .and_then(|r| r.charging_preferences.clone()),
        snapshot: Some(
            serde_json::to_string(&snapshot).map_err(|e| DbError::Other(e.to_string()))?,
        ),
        last_updated: now,
        created_at: now,
    };
    sessions::save(conn, &row, existing.as_ref())?;

    let owner = PartyRef {
        country_code: owner_cc,
        party_id: owner_pid,
    };
    let path = format!("/{}/{}/{}", cfg.own.country_code, cfg.own.party_id, id);
    let prefix_kept = pushed.len() <= closed && pushed[..] == session_periods[..pushed.len()];
    let mut put_body = serde_json::to_value(&session).map_err(|e| DbError::Other(e.to_string()))?;
    if closed_periods.is_empty() {
        if let Some(o) = put_body.as_object_mut() {
            o.remove("charging_periods");
        }
    } else {
        put_body["charging_periods"] =
            serde_json::to_value(closed_periods).map_err(|e| DbError::Other(e.to_string()))?;
    }
    let (method, body) = match &previous {
        Some(prev) if prefix_kept => (
            "PATCH",
            patch_body(prev, &session, &session_periods[pushed.len()..closed])?,
        ),
        _ => ("PUT", put_body),
    };
    let mut enqueued = send_to_owner(
        conn,
        cfg,
        "sessions",
        &key,
        method,
        &path,
        Some(&body),
        &owner,
    )?;
    if ended {
        enqueued.extend(finish(
            conn,
            cfg,
            &t,
            &key,
            &session,
            &snapshot,
            &periods,
            costs.as_ref(),
        )?);
    }
    Ok(enqueued)
}

/// The session object stored in `row` (None when there is none or it does not parse).
fn stored_session(row: Option<&SessionRow>) -> Option<Session> {
    row.and_then(|r| serde_json::from_str(&r.object).ok())
}

/// The RESERVATION session of an active reservation of the transaction's EVSE for this token,
/// now tied to the transaction.
fn adopt_reservation_session(
    conn: &mut DbConnection,
    t: &Transaction,
    uid: &str,
    known: Option<Option<&crate::db::commands::Reservation>>,
) -> Result<Option<SessionRow>, DbError> {
    let Some(evse) = t.evse_id.or(t.connector_id) else {
        return Ok(None);
    };
    let r = match known {
        Some(r) => r.cloned(),
        None => crate::db::commands::active_on(conn, &t.charger_id, evse)?,
    };
    let Some(r) = r else {
        return Ok(None);
    };
    let Some(key) = r
        .session_key
        .filter(|_| r.token_uid.eq_ignore_ascii_case(uid))
    else {
        return Ok(None);
    };
    let Some(mut row) = sessions::get(conn, &key)? else {
        return Ok(None);
    };
    if row.transaction_ref.is_some() {
        return Ok(None);
    }
    row.transaction_ref = Some(t.id);
    sessions::upsert(conn, &row)?;
    Ok(Some(row))
}

/// Open the RESERVATION session of an accepted reservation and PUT it to the token's eMSP.
/// Returns the session key and the delivery enqueued (if any).
pub fn open_reservation_session(
    conn: &mut DbConnection,
    cfg: &BridgeSettings,
    r: &crate::db::commands::Reservation,
    reference: Option<&str>,
) -> Result<(String, Enqueued), DbError> {
    let token: Token = serde_json::from_str(&r.token)
        .map_err(|e| DbError::Other(format!("reservation token unreadable: {e}")))?;
    let location: Option<Location> = locations::get(
        conn,
        &locations::object_key(&cfg.own.country_code, &cfg.own.party_id, &r.location_id),
    )?
    .and_then(|row| serde_json::from_str(&row.object).ok());
    let connector = location
        .as_ref()
        .and_then(|l| l.evse(&r.evse_uid))
        .and_then(|e| e.connectors.first())
        .map(|c| c.id.to_string())
        .unwrap_or_else(|| "1".into());
    let id = uuid::Uuid::new_v4().simple().to_string();
    let now = crate::db::now();
    let ci = |s: &str| CiString::new(s.to_string()).map_err(DbError::Other);
    let session = Session {
        country_code: CountryCode::new(&cfg.own.country_code).map_err(DbError::Other)?,
        party_id: PartyId::new(&cfg.own.party_id).map_err(DbError::Other)?,
        id: ci(&id)?,
        start_date_time: DateTime::from_naive(now),
        end_date_time: None,
        kwh: Decimal::ZERO,
        cdr_token: CdrToken {
            country_code: token.country_code.clone(),
            party_id: token.party_id.clone(),
            uid: token.uid.clone(),
            token_type: token.token_type,
            contract_id: token.contract_id.clone(),
        },
        auth_method: AuthMethod::Command,
        authorization_reference: reference.and_then(|r| CiString::new(r).ok()),
        location_id: ci(&r.location_id)?,
        evse_uid: ci(&r.evse_uid)?,
        connector_id: ci(&connector)?,
        meter_id: None,
        currency: Currency::new(cfg.currency.clone()).map_err(DbError::Other)?,
        charging_periods: None,
        total_cost: None,
        status: SessionStatus::Reservation,
        last_updated: DateTime::from_naive(now),
    };
    let key = sessions::object_key(&cfg.own.country_code, &cfg.own.party_id, &id);
    let object = serde_json::to_string(&session).map_err(|e| DbError::Other(e.to_string()))?;
    sessions::upsert(
        conn,
        &SessionRow {
            key: key.clone(),
            country_code: cfg.own.country_code.clone(),
            party_id: cfg.own.party_id.clone(),
            id: id.clone(),
            emsp_country_code: token.country_code.as_str().to_ascii_uppercase(),
            emsp_party_id: token.party_id.as_str().to_ascii_uppercase(),
            status: SessionStatus::Reservation.as_str().into(),
            object,
            transaction_ref: None,
            source_platform_id: None,
            pushed_periods: None,
            charging_preferences: None,
            snapshot: None,
            last_updated: now,
            created_at: now,
        },
    )?;
    let owner = PartyRef {
        country_code: token.country_code.as_str().to_ascii_uppercase(),
        party_id: token.party_id.as_str().to_ascii_uppercase(),
    };
    let path = format!("/{}/{}/{}", cfg.own.country_code, cfg.own.party_id, id);
    let body = serde_json::to_value(&session).map_err(|e| DbError::Other(e.to_string()))?;
    let pushed = send_to_owner(
        conn,
        cfg,
        "sessions",
        &key,
        "PUT",
        &path,
        Some(&body),
        &owner,
    )?;
    Ok((key, pushed))
}

/// End the RESERVATION session of a reservation that expired or was cancelled (COMPLETED,
/// no charging). Empty when there was nothing to do.
pub fn close_reservation_session(
    conn: &mut DbConnection,
    cfg: &BridgeSettings,
    key: &str,
) -> Result<Enqueued, DbError> {
    let Some(mut row) = sessions::get(conn, key)? else {
        return Ok(Vec::new());
    };
    let Ok(mut session) = serde_json::from_str::<Session>(&row.object) else {
        return Ok(Vec::new());
    };
    if session.status != SessionStatus::Reservation || row.transaction_ref.is_some() {
        return Ok(Vec::new());
    }
    let now = crate::db::now();
    session.status = SessionStatus::Completed;
    session.end_date_time = Some(DateTime::from_naive(now));
    session.last_updated = DateTime::from_naive(now);
    row.status = SessionStatus::Completed.as_str().into();
    row.object = serde_json::to_string(&session).map_err(|e| DbError::Other(e.to_string()))?;
    row.last_updated = now;
    sessions::upsert(conn, &row)?;
    let owner = PartyRef {
        country_code: row.emsp_country_code.clone(),
        party_id: row.emsp_party_id.clone(),
    };
    let path = format!("/{}/{}/{}", row.country_code, row.party_id, row.id);
    let body = json!({"status": "COMPLETED", "end_date_time": session.end_date_time, "last_updated": session.last_updated});
    send_to_owner(
        conn,
        cfg,
        "sessions",
        key,
        "PATCH",
        &path,
        Some(&body),
        &owner,
    )
}

/// Same state as the eMSP would see it (ignoring `last_updated` and the open period's growth
/// beyond kWh and cost, which are compared).
fn same_state(a: &Session, b: &Session) -> bool {
    a.kwh == b.kwh
        && a.status == b.status
        && a.total_cost == b.total_cost
        && a.end_date_time == b.end_date_time
        && a.auth_method == b.auth_method
        && a.authorization_reference == b.authorization_reference
}

/// The fields that changed, `last_updated`, and the periods to append.
fn patch_body(
    prev: &Session,
    now: &Session,
    new_periods: &[ChargingPeriod],
) -> Result<Value, DbError> {
    let mut p = json!({"last_updated": now.last_updated.to_string()});
    let a = serde_json::to_value(prev).map_err(|e| DbError::Other(e.to_string()))?;
    let b = serde_json::to_value(now).map_err(|e| DbError::Other(e.to_string()))?;
    for k in [
        "kwh",
        "status",
        "total_cost",
        "end_date_time",
        "start_date_time",
        "auth_method",
        "authorization_reference",
    ] {
        if a.get(k) != b.get(k)
            && let Some(v) = b.get(k)
        {
            p[k] = v.clone();
        }
    }
    if !new_periods.is_empty() {
        p["charging_periods"] =
            serde_json::to_value(new_periods).map_err(|e| DbError::Other(e.to_string()))?;
    }
    Ok(p)
}

/// Enqueue one delivery of `module` to the platform that holds the eMSP role `owner`, if it
/// has a RECEIVER for the module. Returns what was enqueued.
#[allow(clippy::too_many_arguments)]
pub fn send_to_owner(
    conn: &mut DbConnection,
    cfg: &BridgeSettings,
    module: &str,
    session_key: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    owner: &PartyRef,
) -> Result<Enqueued, DbError> {
    send_from(
        conn,
        Some(&cfg.recipients),
        module,
        &delivery_group(session_key),
        method,
        path,
        body,
        &cfg.own,
        owner,
        None,
    )
}

/// Enqueue a delivery from `from` to `owner` (never back to `exclude`), looking the owner's
/// platform up through `cache` when given.
#[allow(clippy::too_many_arguments)]
pub fn send_from(
    conn: &mut DbConnection,
    cache: Option<&push::RecipientCache>,
    module: &str,
    group: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    from: &PartyRef,
    owner: &PartyRef,
    exclude: Option<&str>,
) -> Result<Enqueued, DbError> {
    let found = match cache {
        Some(cache) => cache.owner(conn, module, owner, exclude)?,
        None => push::owner_recipient(conn, module, owner, exclude)?,
    };
    let Some(r) = found else {
        return Ok(Vec::new());
    };
    let row = crate::db::outbox::NewDelivery {
        platform_id: r.platform_id,
        module: module.to_string(),
        object_group: group.to_string(),
        method: method.to_string(),
        path: path.to_string(),
        body: body.map(Value::to_string),
        from_country_code: from.country_code.clone(),
        from_party_id: from.party_id.clone(),
        to: Some((owner.country_code.clone(), owner.party_id.clone())),
    };
    crate::db::outbox::enqueue(conn, &[row])
}

/// Build, store and send the CDR of an ended transaction (once).
#[allow(clippy::too_many_arguments)]
fn finish(
    conn: &mut DbConnection,
    cfg: &BridgeSettings,
    t: &Transaction,
    session_key: &str,
    session: &Session,
    snapshot: &Snapshot,
    periods: &[Period],
    costs: Option<&pricing::Costs>,
) -> Result<Enqueued, DbError> {
    if session.status != SessionStatus::Completed
        || !cdrs::of_session(conn, session_key)?.is_empty()
    {
        return Ok(Vec::new());
    }
    let Some(cdr_location) = snapshot.cdr_location.clone() else {
        tracing::warn!(ocpp.charge_point_id = %t.charger_id, "no CDR: the charge point's EVSE is not declared in a location");
        return Ok(Vec::new());
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut cdr_periods: Vec<ChargingPeriod> = periods.iter().map(cdr_period).collect();
    if cdr_periods.is_empty() {
        cdr_periods.push(ChargingPeriod {
            start_date_time: session.start_date_time,
            dimensions: vec![
                CdrDimension {
                    dimension: CdrDimensionType::Energy,
                    volume: Decimal::ZERO,
                },
                CdrDimension {
                    dimension: CdrDimensionType::Time,
                    volume: Decimal::ZERO,
                },
            ],
            tariff_id: snapshot.tariff.as_ref().map(|t| t.id.clone()),
        });
    }
    let end = session.end_date_time.unwrap_or(session.last_updated);
    let hours =
        |d: chrono::Duration| Decimal::from(d.num_milliseconds()) / Decimal::from(3_600_000);
    let total_time = hours(end.0 - session.start_date_time.0).round_dp(6);
    let parking: Decimal = periods
        .iter()
        .filter(|p| !p.charging)
        .map(|p| hours(p.end - p.start))
        .sum::<Decimal>()
        .round_dp(6);
    let cost = |p: Option<crate::ocpi::tariffs::model::Price>| p.map(Amount::from);
    let cdr = Cdr {
        country_code: session.country_code.clone(),
        party_id: session.party_id.clone(),
        id: CiString::new(id.clone()).map_err(DbError::Other)?,
        start_date_time: session.start_date_time,
        end_date_time: end,
        session_id: CiString::new(session.id.to_string()).ok(),
        cdr_token: session.cdr_token.clone(),
        auth_method: session.auth_method,
        authorization_reference: session.authorization_reference.clone(),
        cdr_location,
        meter_id: None,
        currency: session.currency.clone(),
        tariffs: snapshot.tariff.clone().map(|t| vec![t]),
        charging_periods: cdr_periods,
        signed_data: signed_data(conn, t.id)?,
        total_cost: costs
            .map(|c| c.total_cost.into())
            .unwrap_or_else(Amount::zero),
        total_fixed_cost: costs.and_then(|c| cost(c.total_fixed_cost)),
        total_energy: session.kwh,
        total_energy_cost: costs.and_then(|c| cost(c.total_energy_cost)),
        total_time,
        total_time_cost: costs.and_then(|c| cost(c.total_time_cost)),
        total_parking_time: Some(parking),
        total_parking_cost: costs.and_then(|c| cost(c.total_parking_cost)),
        total_reservation_cost: costs.and_then(|c| cost(c.total_reservation_cost)),
        remark: t
            .stop_reason
            .as_deref()
            .and_then(|r| OcpiString::new(format!("Stopped: {r}")).ok()),
        invoice_reference_id: None,
        credit: None,
        credit_reference_id: None,
        home_charging_compensation: None,
        last_updated: DateTime::from_naive(crate::db::now()),
    };
    store_and_send_cdr(
        conn,
        Some(&cfg.recipients),
        &cdr,
        None,
        Some(session_key),
        None,
    )
    .map(Option::unwrap_or_default)
}

/// The delivery group of a CDR: its session's (so it follows the session's pushes), else its own.
pub fn cdr_group(session_key: Option<&str>, cdr_key: &str) -> String {
    match session_key {
        Some(s) => delivery_group(s),
        None => format!("cdr:{cdr_key}"),
    }
}

/// Store a new CDR and POST it to the token owner (in delivery group `group`; never back to
/// `source_platform_id`; the owner's platform looked up through `cache` when given). `None`
/// when a CDR with that key exists already (nothing written), else the delivery enqueued (if
/// any).
pub fn store_and_send_cdr(
    conn: &mut DbConnection,
    cache: Option<&push::RecipientCache>,
    cdr: &Cdr,
    group: Option<&str>,
    session_key: Option<&str>,
    source_platform_id: Option<&str>,
) -> Result<Option<Enqueued>, DbError> {
    let object = serde_json::to_string(cdr).map_err(|e| DbError::Other(e.to_string()))?;
    let key = sessions::object_key(
        cdr.country_code.as_str(),
        cdr.party_id.as_str(),
        cdr.id.as_str(),
    );
    let row = CdrRow {
        key: key.clone(),
        country_code: cdr.country_code.as_str().to_ascii_uppercase(),
        party_id: cdr.party_id.as_str().to_ascii_uppercase(),
        id: cdr.id.to_string(),
        emsp_country_code: cdr.cdr_token.country_code.as_str().to_ascii_uppercase(),
        emsp_party_id: cdr.cdr_token.party_id.as_str().to_ascii_uppercase(),
        session_key: session_key.map(str::to_string),
        object,
        credit_reference_id: cdr.credit_reference_id.as_ref().map(|c| c.to_string()),
        source_platform_id: source_platform_id.map(str::to_string),
        emsp_location: None,
        last_updated: cdr.last_updated.naive(),
        created_at: crate::db::now(),
    };
    if !cdrs::insert(conn, &row)? {
        return Ok(None);
    }
    let owner = PartyRef {
        country_code: row.emsp_country_code.clone(),
        party_id: row.emsp_party_id.clone(),
    };
    let from = PartyRef {
        country_code: row.country_code.clone(),
        party_id: row.party_id.clone(),
    };
    let group = group
        .map(str::to_string)
        .unwrap_or_else(|| cdr_group(session_key, &key));
    let body = serde_json::to_value(cdr).map_err(|e| DbError::Other(e.to_string()))?;
    send_from(
        conn,
        cache,
        "cdrs",
        &group,
        "POST",
        "",
        Some(&body),
        &from,
        &owner,
        source_platform_id,
    )
    .map(Some)
}

/// Decide the session's location, EVSE, connector and tariff at its start.
fn take_snapshot(
    conn: &mut DbConnection,
    cfg: &BridgeSettings,
    t: &Transaction,
) -> Result<Snapshot, DbError> {
    let charger = chargers::get(conn, &t.charger_id)?;
    let location_id = charger
        .as_ref()
        .and_then(|c| c.location_id.clone())
        .unwrap_or_else(|| "#NA".into());
    let evse_no = t.evse_id.or(t.connector_id).unwrap_or(1);
    let evse_uid = format!("{}-{}", t.charger_id, evse_no);
    let connector_no = t.connector_id.unwrap_or(1).to_string();
    let location: Option<Location> = locations::get(
        conn,
        &locations::object_key(&cfg.own.country_code, &cfg.own.party_id, &location_id),
    )?
    .and_then(|r| serde_json::from_str(&r.object).ok());
    let mut snap = Snapshot {
        tariff: None,
        cdr_location: None,
        location_id: location_id.clone(),
        evse_uid: evse_uid.clone(),
        connector_id: connector_no.clone(),
        time_zone: "UTC".into(),
    };
    let Some(loc) = location else {
        snap.tariff = default_tariff(conn, cfg)?;
        return Ok(snap);
    };
    snap.time_zone = loc.time_zone.to_string();
    let Some(evse) = loc.evse(&evse_uid) else {
        snap.tariff = default_tariff(conn, cfg)?;
        return Ok(snap);
    };
    snap.evse_uid = evse.uid.to_string();
    let connector = evse
        .connector(&connector_no)
        .or_else(|| evse.connectors.first());
    if let Some(c) = connector {
        snap.connector_id = c.id.to_string();
        let at = DateTime::from_naive(t.started_at.unwrap_or(t.created_at));
        let mut chosen = None;
        for id in c.tariff_ids.iter().flatten() {
            let row = locations::get_tariff(
                conn,
                &locations::object_key(&cfg.own.country_code, &cfg.own.party_id, id.as_str()),
            )?;
            if let Some(tariff) = row.and_then(|r| serde_json::from_str::<Tariff>(&r.object).ok())
                && tariff.is_active_at(&at)
            {
                chosen = Some(tariff);
                break;
            }
        }
        snap.tariff = match chosen {
            Some(t) => Some(t),
            None if c.tariff_ids.as_ref().is_none_or(|v| v.is_empty()) => {
                default_tariff(conn, cfg)?
            }
            None => None,
        };
        snap.cdr_location = Some(CdrLocation {
            id: loc.id.clone(),
            name: loc.name.clone(),
            address: loc.address.clone(),
            city: loc.city.clone(),
            postal_code: loc.postal_code.clone(),
            state: loc.state.clone(),
            country: loc.country.clone(),
            coordinates: loc.coordinates.clone(),
            evse_uid: evse.uid.clone(),
            evse_id: match &evse.evse_id {
                Some(e) => e.clone(),
                None => CiString::new(evse.uid.to_string()).map_err(DbError::Other)?,
            },
            connector_id: c.id.clone(),
            connector_standard: c.standard,
            connector_format: c.format,
            connector_power_type: c.power_type,
        });
    }
    Ok(snap)
}

fn default_tariff(
    conn: &mut DbConnection,
    cfg: &BridgeSettings,
) -> Result<Option<Tariff>, DbError> {
    let Some(id) = &cfg.default_tariff_id else {
        return Ok(None);
    };
    Ok(locations::get_tariff(
        conn,
        &locations::object_key(&cfg.own.country_code, &cfg.own.party_id, id),
    )?
    .and_then(|r| serde_json::from_str(&r.object).ok()))
}

/// Intervals between consecutive energy register readings (the transaction's meter start, its
/// samples, its meter stop). An interval in which no energy flowed counts as not charging.
fn intervals(
    t: &Transaction,
    samples: &[MeterValue],
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> Vec<Interval> {
    let kwh = |wh: Decimal| wh / Decimal::from(1000);
    let mut points: Vec<(NaiveDateTime, Decimal)> = Vec::new();
    let register = samples.iter().filter(|m| {
        m.measurand == "Energy.Active.Import.Register"
            && m.unit == "Wh"
            && m.phase.is_none()
            && m.sampled_at >= start
            && m.sampled_at <= end
    });
    let first = t.meter_start_wh.as_deref().and_then(dec);
    match first {
        Some(wh) => points.push((start, wh)),
        None => {
            if let Some(m) = register.clone().next()
                && let Some(v) = dec(&m.value)
            {
                points.push((start, v));
            }
        }
    }
    for m in register {
        if let Some(v) = dec(&m.value) {
            points.push((m.sampled_at, v));
        }
    }
    if t.state == ENDED
        && let Some(v) = t.meter_stop_wh.as_deref().and_then(dec)
    {
        points.push((end, v));
    }
    points.sort_by_key(|p| p.0);
    let mut out: Vec<Interval> = Vec::new();
    for w in points.windows(2) {
        let ((a, wa), (b, wb)) = (w[0], w[1]);
        if b <= a {
            continue;
        }
        let energy = kwh((wb - wa).max(Decimal::ZERO));
        let secs = Decimal::from((b - a).num_seconds().max(1));
        let power = (energy * Decimal::from(3600) / secs).round_dp(3);
        let current = samples
            .iter()
            .filter(|m| m.measurand == "Current.Import" && m.sampled_at > a && m.sampled_at <= b)
            .filter_map(|m| dec(&m.value))
            .fold(None, |acc: Option<Decimal>, v| {
                Some(acc.unwrap_or_default() + v)
            });
        out.push(Interval {
            start: utc(a),
            end: utc(b),
            energy_kwh: energy,
            charging: energy > Decimal::ZERO,
            power_kw: Some(power),
            current_a: current,
        });
    }
    // The session so far, even when no reading covers it yet.
    let covered = out.last().map(|i| i.end.naive_utc()).unwrap_or(start);
    if end > covered {
        out.push(Interval {
            start: utc(covered),
            end: utc(end),
            energy_kwh: Decimal::ZERO,
            charging: out.is_empty(),
            power_kw: None,
            current_a: None,
        });
    }
    out
}

fn hours_between(p: &Period) -> Decimal {
    (Decimal::from((p.end - p.start).num_milliseconds()) / Decimal::from(3_600_000)).round_dp(6)
}

fn base_dimensions(p: &Period) -> Vec<CdrDimension> {
    vec![
        CdrDimension {
            dimension: CdrDimensionType::Energy,
            volume: p.energy_kwh.round_dp(6),
        },
        CdrDimension {
            dimension: if p.charging {
                CdrDimensionType::Time
            } else {
                CdrDimensionType::ParkingTime
            },
            volume: hours_between(p),
        },
    ]
}

fn tariff_id(p: &Period) -> Option<CiString<36>> {
    p.tariff_id
        .as_ref()
        .and_then(|t| CiString::new(t.clone()).ok())
}

/// A period as a session shows it: energy, time or parking time, average power and current.
fn session_period(p: &Period) -> ChargingPeriod {
    let mut dimensions = base_dimensions(p);
    if let Some(kw) = p.power_kw {
        dimensions.push(CdrDimension {
            dimension: CdrDimensionType::Power,
            volume: kw,
        });
    }
    if let Some(a) = p.current_a {
        dimensions.push(CdrDimension {
            dimension: CdrDimensionType::Current,
            volume: a,
        });
    }
    ChargingPeriod {
        start_date_time: DateTime::from_utc(p.start),
        dimensions,
        tariff_id: tariff_id(p),
    }
}

/// A period as a CDR shows it: no session-only dimensions.
fn cdr_period(p: &Period) -> ChargingPeriod {
    let mut dimensions = base_dimensions(p);
    if let Some(kw) = p.power_kw.filter(|_| p.charging) {
        dimensions.push(CdrDimension {
            dimension: CdrDimensionType::MaxPower,
            volume: kw,
        });
    }
    ChargingPeriod {
        start_date_time: DateTime::from_utc(p.start),
        dimensions,
        tariff_id: tariff_id(p),
    }
}

/// Signed meter values the charger sent (2.0.1 `signedMeterValue`, 1.6 `format: SignedData`),
/// as the CDR's `signed_data`.
fn signed_data(conn: &mut DbConnection, tx: i64) -> Result<Option<SignedData>, DbError> {
    let mut method: Option<String> = None;
    let mut public_key: Option<String> = None;
    let mut values: Vec<(String, String, String)> = Vec::new();
    for raw in store::event_payloads(conn, tx)? {
        let Ok(p) = serde_json::from_str::<Value>(&raw) else {
            continue;
        };
        let lists = ["meterValue", "transactionData"];
        for mv in lists
            .iter()
            .filter_map(|k| p.get(*k).and_then(Value::as_array))
            .flatten()
        {
            for sv in mv
                .get("sampledValue")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let context = sv.get("context").and_then(Value::as_str).unwrap_or("");
                let nature = match context {
                    "Transaction.Begin" => "Start",
                    "Transaction.End" => "End",
                    _ => "Intermediate",
                };
                if let Some(s) = sv.get("signedMeterValue") {
                    let data = s
                        .get("signedMeterData")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    method = method.or_else(|| {
                        s.get("encodingMethod")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    });
                    if public_key.is_none() {
                        public_key = s
                            .get("publicKey")
                            .and_then(Value::as_str)
                            .filter(|k| !k.is_empty())
                            .map(str::to_string);
                    }
                    values.push((nature.into(), data.to_string(), data.to_string()));
                } else if sv.get("format").and_then(Value::as_str) == Some("SignedData") {
                    let data = sv.get("value").and_then(Value::as_str).unwrap_or("");
                    values.push((nature.into(), data.to_string(), data.to_string()));
                }
            }
        }
    }
    if values.is_empty() {
        return Ok(None);
    }
    let signed_values = values
        .into_iter()
        .filter_map(|(n, plain, signed)| {
            Some(SignedValue {
                nature: CiString::new(n).ok()?,
                plain_data: OcpiString::new(plain).ok()?,
                signed_data: OcpiString::new(signed).ok()?,
            })
        })
        .collect::<Vec<_>>();
    if signed_values.is_empty() {
        return Ok(None);
    }
    Ok(Some(SignedData {
        encoding_method: CiString::new(method.unwrap_or_else(|| "OCMF".into()))
            .map_err(DbError::Other)?,
        encoding_method_version: None,
        public_key: public_key.and_then(|k| OcpiString::new(k).ok()),
        signed_values,
        url: None,
    }))
}
