//! Calls relayed between hub instances through the database (see `ocpp::relay`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::ocpp_calls;
use super::{DbConnection, DbError};

pub const PENDING: &str = "PENDING";
pub const TAKEN: &str = "TAKEN";
pub const DONE: &str = "DONE";
pub const FAILED: &str = "FAILED";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ocpp_calls)]
pub struct RemoteCall {
    pub id: i64,
    pub charger_id: String,
    pub action: String,
    pub payload: String,
    pub state: String,
    pub taken_by: Option<String>,
    pub response: Option<String>,
    pub error_kind: Option<String>,
    pub error: Option<String>,
    pub deadline: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

pub fn create(
    conn: &mut DbConnection,
    charger_id: &str,
    action: &str,
    payload: &str,
    deadline: NaiveDateTime,
) -> Result<i64, DbError> {
    Ok(diesel::insert_into(ocpp_calls::table)
        .values((
            ocpp_calls::charger_id.eq(charger_id),
            ocpp_calls::action.eq(action),
            ocpp_calls::payload.eq(payload),
            ocpp_calls::state.eq(PENDING),
            ocpp_calls::deadline.eq(deadline),
            ocpp_calls::created_at.eq(super::now()),
        ))
        .returning(ocpp_calls::id)
        .get_result(conn)?)
}

pub fn get(conn: &mut DbConnection, id: i64) -> Result<Option<RemoteCall>, DbError> {
    Ok(ocpp_calls::table
        .find(id)
        .select(RemoteCall::as_select())
        .first(conn)
        .optional()?)
}

/// Take the pending, unexpired calls for charge points this instance holds.
pub fn take(
    conn: &mut DbConnection,
    chargers: &[String],
    owner: &str,
    now: NaiveDateTime,
) -> Result<Vec<RemoteCall>, DbError> {
    if chargers.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<RemoteCall> = ocpp_calls::table
        .filter(ocpp_calls::state.eq(PENDING))
        .filter(ocpp_calls::charger_id.eq_any(chargers))
        .filter(ocpp_calls::deadline.gt(now))
        .select(RemoteCall::as_select())
        .order(ocpp_calls::id.asc())
        .limit(100)
        .load(conn)?;
    let mut taken = Vec::new();
    for r in rows {
        // Only one instance wins a row (the state check makes the update conditional).
        let n = diesel::update(
            ocpp_calls::table
                .find(r.id)
                .filter(ocpp_calls::state.eq(PENDING)),
        )
        .set((ocpp_calls::state.eq(TAKEN), ocpp_calls::taken_by.eq(owner)))
        .execute(conn)?;
        if n == 1 {
            taken.push(r);
        }
    }
    Ok(taken)
}

pub fn finish(
    conn: &mut DbConnection,
    id: i64,
    response: Result<String, (String, String)>,
) -> Result<(), DbError> {
    let target = ocpp_calls::table.find(id);
    match response {
        Ok(r) => diesel::update(target)
            .set((ocpp_calls::state.eq(DONE), ocpp_calls::response.eq(r)))
            .execute(conn)?,
        Err((kind, e)) => diesel::update(target)
            .set((
                ocpp_calls::state.eq(FAILED),
                ocpp_calls::error_kind.eq(kind),
                ocpp_calls::error.eq(e),
            ))
            .execute(conn)?,
    };
    Ok(())
}

/// Forget calls whose deadline passed long ago.
pub fn prune(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(ocpp_calls::table.filter(ocpp_calls::deadline.lt(before))).execute(conn)?)
}
