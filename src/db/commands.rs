//! OCPI commands from eMSPs and the reservations they make on the hub's own EVSEs.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{commands, reservations};
use super::{DbConnection, DbError};

/// Sent to the charge point, waiting for its answer (and, for a start, the transaction).
pub const SENT: &str = "SENT";
/// Forwarded to a remote CPO; its result comes to the hub's result URL.
pub const FORWARDED: &str = "FORWARDED";
/// The result is known and queued for the eMSP.
pub const DONE: &str = "DONE";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = commands)]
pub struct CommandRow {
    pub id: String,
    pub command: String,
    pub platform_id: String,
    pub emsp_country_code: String,
    pub emsp_party_id: String,
    pub response_url: String,
    pub request: String,
    pub charger_id: Option<String>,
    pub evse_id: Option<i64>,
    pub connector_id: Option<i64>,
    pub token_uid: Option<String>,
    pub remote_start_id: Option<i64>,
    pub forwarded_to: Option<String>,
    pub state: String,
    pub result: Option<String>,
    pub transaction_ref: Option<i64>,
    pub deadline: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, row: &CommandRow) -> Result<(), DbError> {
    diesel::insert_into(commands::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut DbConnection, id: &str) -> Result<Option<CommandRow>, DbError> {
    Ok(commands::table
        .find(id)
        .select(CommandRow::as_select())
        .first(conn)
        .optional()?)
}

/// Record the result once; false when the command had one already.
pub fn finish(conn: &mut DbConnection, id: &str, result: &str) -> Result<bool, DbError> {
    let n = diesel::update(commands::table.find(id).filter(commands::state.ne(DONE)))
        .set((
            commands::state.eq(DONE),
            commands::result.eq(result),
            commands::finished_at.eq(super::now()),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// The most recent START_SESSION for this token at this charge point since `since` (the hub
/// does not ask the eMSP again about a token it sent in a command: 15 minutes).
pub fn recent_start(
    conn: &mut DbConnection,
    charger_id: &str,
    token_uid: &str,
    remote_start_id: Option<i64>,
    since: NaiveDateTime,
) -> Result<Option<CommandRow>, DbError> {
    let mut q = commands::table
        .filter(commands::command.eq("START_SESSION"))
        .filter(commands::charger_id.eq(charger_id))
        .filter(commands::created_at.ge(since))
        .into_boxed();
    q = match remote_start_id {
        Some(r) => q.filter(
            commands::remote_start_id
                .eq(r)
                .or(commands::token_uid.eq(token_uid.to_ascii_uppercase())),
        ),
        None => q.filter(commands::token_uid.eq(token_uid.to_ascii_uppercase())),
    };
    Ok(q.select(CommandRow::as_select())
        .order(commands::created_at.desc())
        .first(conn)
        .optional()?)
}

/// Note the transaction a START_SESSION led to.
pub fn set_transaction(conn: &mut DbConnection, id: &str, tx: i64) -> Result<(), DbError> {
    diesel::update(
        commands::table
            .find(id)
            .filter(commands::transaction_ref.is_null()),
    )
    .set(commands::transaction_ref.eq(tx))
    .execute(conn)?;
    Ok(())
}

/// Waiting for the charge point's answer to ReserveNow.
pub const PENDING_RESERVATION: &str = "PENDING";
pub const ACTIVE: &str = "ACTIVE";
pub const CANCELLED: &str = "CANCELLED";
pub const EXPIRED: &str = "EXPIRED";
pub const USED: &str = "USED";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = reservations)]
pub struct Reservation {
    pub id: i64,
    pub emsp_country_code: String,
    pub emsp_party_id: String,
    pub reservation_id: String,
    pub location_id: String,
    pub evse_uid: String,
    pub charger_id: String,
    pub evse_id: i64,
    pub token: String,
    pub token_uid: String,
    pub response_url: String,
    pub platform_id: String,
    pub expires_at: NaiveDateTime,
    pub state: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub session_key: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = reservations)]
pub struct NewReservation {
    pub emsp_country_code: String,
    pub emsp_party_id: String,
    pub reservation_id: String,
    pub location_id: String,
    pub evse_uid: String,
    pub charger_id: String,
    pub evse_id: i64,
    pub token: String,
    pub token_uid: String,
    pub response_url: String,
    pub platform_id: String,
    pub expires_at: NaiveDateTime,
    pub state: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The eMSP's reservation with this id (any state), newest first.
pub fn reservation_of(
    conn: &mut DbConnection,
    cc: &str,
    pid: &str,
    reservation_id: &str,
) -> Result<Option<Reservation>, DbError> {
    Ok(reservations::table
        .filter(reservations::emsp_country_code.eq(cc))
        .filter(reservations::emsp_party_id.eq(pid))
        .filter(reservations::reservation_id.eq(reservation_id))
        .select(Reservation::as_select())
        .order(reservations::id.desc())
        .first(conn)
        .optional()?)
}

/// Create a reservation (state PENDING until the charge point accepts); returns its id.
pub fn create_reservation(conn: &mut DbConnection, r: &NewReservation) -> Result<i64, DbError> {
    Ok(diesel::insert_into(reservations::table)
        .values(r)
        .returning(reservations::id)
        .get_result(conn)?)
}

pub fn get_reservation(conn: &mut DbConnection, id: i64) -> Result<Option<Reservation>, DbError> {
    Ok(reservations::table
        .find(id)
        .select(Reservation::as_select())
        .first(conn)
        .optional()?)
}

/// Move a reservation from one of `from` to `to`; false when it was in none of them.
pub fn set_reservation_state(
    conn: &mut DbConnection,
    id: i64,
    from: &[&str],
    to: &str,
    expires_at: Option<NaiveDateTime>,
) -> Result<bool, DbError> {
    let target = reservations::table
        .find(id)
        .filter(reservations::state.eq_any(from));
    let n = match expires_at {
        Some(e) => diesel::update(target)
            .set((
                reservations::state.eq(to),
                reservations::expires_at.eq(e),
                reservations::updated_at.eq(super::now()),
            ))
            .execute(conn)?,
        None => diesel::update(target)
            .set((
                reservations::state.eq(to),
                reservations::updated_at.eq(super::now()),
            ))
            .execute(conn)?,
    };
    Ok(n == 1)
}

/// The active reservation of an EVSE, if any.
pub fn active_on(
    conn: &mut DbConnection,
    charger_id: &str,
    evse_id: i64,
) -> Result<Option<Reservation>, DbError> {
    Ok(reservations::table
        .filter(reservations::charger_id.eq(charger_id))
        .filter(reservations::evse_id.eq(evse_id))
        .filter(reservations::state.eq(ACTIVE))
        .select(Reservation::as_select())
        .first(conn)
        .optional()?)
}

pub fn set_reservation_session(conn: &mut DbConnection, id: i64, key: &str) -> Result<(), DbError> {
    diesel::update(reservations::table.find(id))
        .set(reservations::session_key.eq(key))
        .execute(conn)?;
    Ok(())
}

/// Active reservations past their expiry.
pub fn expired(conn: &mut DbConnection, now: NaiveDateTime) -> Result<Vec<Reservation>, DbError> {
    Ok(reservations::table
        .filter(reservations::state.eq(ACTIVE))
        .filter(reservations::expires_at.le(now))
        .select(Reservation::as_select())
        .load(conn)?)
}
