//! The OCPP message log: every frame in both directions, written in batches.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::ocpp_messages;
use super::{DbConnection, DbError, PageQuery};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = ocpp_messages)]
#[diesel(treat_none_as_default_value = false)]
pub struct Message {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub charger_id: String,
    /// `IN` (from the charge point) or `OUT`.
    pub direction: String,
    pub message_type: i64,
    pub message_id: String,
    pub action: Option<String>,
    pub payload: String,
    pub at: NaiveDateTime,
}

pub fn insert_batch(conn: &mut DbConnection, batch: &[Message]) -> Result<(), DbError> {
    // 7 parameters a row on SQLite.
    super::bulk_insert!(conn, ocpp_messages::table, batch, 2000);
    Ok(())
}

fn filtered<'a>(
    charger_id: &'a str,
    q: &PageQuery,
) -> ocpp_messages::BoxedQuery<'a, super::multi_connection_impl::MultiBackend> {
    let mut f = ocpp_messages::table
        .filter(ocpp_messages::charger_id.eq(charger_id))
        .into_boxed();
    if let Some(from) = q.date_from {
        f = f.filter(ocpp_messages::at.ge(from));
    }
    if let Some(to) = q.date_to {
        f = f.filter(ocpp_messages::at.lt(to));
    }
    f
}

/// A page of one charge point's messages, oldest first, and the total.
pub fn page(
    conn: &mut DbConnection,
    charger_id: &str,
    q: &PageQuery,
) -> Result<(Vec<Message>, i64), DbError> {
    let total = filtered(charger_id, q).count().get_result(conn)?;
    let rows = filtered(charger_id, q)
        .select(Message::as_select())
        .order((ocpp_messages::at.asc(), ocpp_messages::id.asc()))
        .offset(q.offset)
        .limit(q.limit)
        .load(conn)?;
    Ok((rows, total))
}

/// Remove messages older than `before`; returns how many.
pub fn prune(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(ocpp_messages::table.filter(ocpp_messages::at.lt(before))).execute(conn)?)
}
