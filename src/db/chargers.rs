//! Charge points of the OCPP gateway and their connection log.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{charger_connection_log, chargers};
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = chargers)]
pub struct Charger {
    pub id: String,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub location_id: Option<String>,
    pub enabled: bool,
    pub protocol: Option<String>,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub connected: bool,
    pub last_boot_at: Option<NaiveDateTime>,
    pub last_heartbeat_at: Option<NaiveDateTime>,
    pub last_seen_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = charger_connection_log)]
pub struct ConnectionEvent {
    pub id: i64,
    pub charger_id: String,
    pub event: String,
    pub protocol: Option<String>,
    pub detail: Option<String>,
    pub at: NaiveDateTime,
}

/// Register a charge point; false when the id is taken.
pub fn add(
    conn: &mut DbConnection,
    id: &str,
    password_hash: Option<&str>,
    location_id: Option<&str>,
) -> Result<bool, DbError> {
    if get(conn, id)?.is_some() {
        return Ok(false);
    }
    diesel::insert_into(chargers::table)
        .values((
            chargers::id.eq(id),
            chargers::password_hash.eq(password_hash),
            chargers::location_id.eq(location_id),
            chargers::enabled.eq(true),
            chargers::connected.eq(false),
            chargers::created_at.eq(super::now()),
        ))
        .execute(conn)?;
    Ok(true)
}

pub fn get(conn: &mut DbConnection, id: &str) -> Result<Option<Charger>, DbError> {
    Ok(chargers::table
        .find(id)
        .select(Charger::as_select())
        .first(conn)
        .optional()?)
}

/// The charge points among `ids` (one query per 1,000 ids).
pub fn get_many(conn: &mut DbConnection, ids: &[String]) -> Result<Vec<Charger>, DbError> {
    let mut found = Vec::with_capacity(ids.len());
    for part in ids.chunks(1000) {
        let rows: Vec<Charger> = chargers::table
            .filter(chargers::id.eq_any(part))
            .select(Charger::as_select())
            .load(conn)?;
        found.extend(rows);
    }
    Ok(found)
}

pub fn list(conn: &mut DbConnection) -> Result<Vec<Charger>, DbError> {
    Ok(chargers::table
        .select(Charger::as_select())
        .order(chargers::id.asc())
        .load(conn)?)
}

pub fn set_enabled(conn: &mut DbConnection, id: &str, enabled: bool) -> Result<(), DbError> {
    diesel::update(chargers::table.find(id))
        .set(chargers::enabled.eq(enabled))
        .execute(conn)?;
    Ok(())
}

/// Append to the connection log; `at` is when it happened (not when it was written: the
/// events of two connections may be written in either order).
pub fn log_event(
    conn: &mut DbConnection,
    id: &str,
    event: &str,
    protocol: Option<&str>,
    detail: Option<&str>,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(charger_connection_log::table)
        .values((
            charger_connection_log::charger_id.eq(id),
            charger_connection_log::event.eq(event),
            charger_connection_log::protocol.eq(protocol),
            charger_connection_log::detail.eq(detail),
            charger_connection_log::at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// A connection log entry to append.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = charger_connection_log, treat_none_as_default_value = false)]
pub struct NewConnectionEvent {
    pub charger_id: String,
    pub event: String,
    pub protocol: Option<String>,
    pub detail: Option<String>,
    pub at: NaiveDateTime,
}

/// Ids per statement: well under the parameter limits of both backends.
const CHUNK: usize = 1000;

/// Append several entries to the connection log, in order.
pub fn log_events(conn: &mut DbConnection, events: &[NewConnectionEvent]) -> Result<(), DbError> {
    for part in events.chunks(CHUNK / 5) {
        // MultiConnection has no multi-row insert of its own: each backend does it.
        let insert = diesel::insert_into(charger_connection_log::table).values(part);
        match conn {
            DbConnection::Pg(c) => insert.execute(c)?,
            DbConnection::Sqlite(c) => insert.execute(c)?,
        };
    }
    Ok(())
}

/// Connected or not, for several charge points; `protocol` is the negotiated subprotocol.
pub fn set_connected(
    conn: &mut DbConnection,
    ids: &[String],
    connected: bool,
    protocol: Option<&str>,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    for part in ids.chunks(CHUNK) {
        diesel::update(chargers::table.filter(chargers::id.eq_any(part)))
            .set((
                chargers::connected.eq(connected),
                chargers::protocol.eq(protocol),
                chargers::last_seen_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The boot data of several charge points that reported the same vendor, model and firmware.
pub fn record_boot(
    conn: &mut DbConnection,
    ids: &[String],
    vendor: &str,
    model: &str,
    firmware: Option<&str>,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    for part in ids.chunks(CHUNK) {
        diesel::update(chargers::table.filter(chargers::id.eq_any(part)))
            .set((
                chargers::vendor.eq(vendor),
                chargers::model.eq(model),
                chargers::firmware.eq(firmware),
                chargers::last_boot_at.eq(at),
                chargers::last_seen_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A heartbeat of several charge points at `at`.
pub fn record_heartbeat(
    conn: &mut DbConnection,
    ids: &[String],
    at: NaiveDateTime,
) -> Result<(), DbError> {
    for part in ids.chunks(CHUNK) {
        diesel::update(chargers::table.filter(chargers::id.eq_any(part)))
            .set((
                chargers::last_heartbeat_at.eq(at),
                chargers::last_seen_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn connection_log(
    conn: &mut DbConnection,
    id: &str,
    limit: i64,
) -> Result<Vec<ConnectionEvent>, DbError> {
    Ok(charger_connection_log::table
        .filter(charger_connection_log::charger_id.eq(id))
        .select(ConnectionEvent::as_select())
        .order((
            charger_connection_log::at.desc(),
            charger_connection_log::id.desc(),
        ))
        .limit(limit)
        .load(conn)?)
}
