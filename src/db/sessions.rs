//! OCPI sessions: the hub's own (one per OCPP transaction) and those pushed by remote CPOs.
//! Key `CC*PID*ID` of the CPO; `emsp_*` is the token owner, the only party that sees it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

use super::schema::sessions;
use super::{DbConnection, DbError, Sql};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub key: String,
    pub country_code: String,
    pub party_id: String,
    pub id: String,
    pub emsp_country_code: String,
    pub emsp_party_id: String,
    pub status: String,
    pub object: String,
    pub transaction_ref: Option<i64>,
    pub source_platform_id: Option<String>,
    pub pushed_periods: Option<String>,
    pub charging_preferences: Option<String>,
    pub snapshot: Option<String>,
    pub last_updated: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

/// `CC*PID*ID` with the CiString parts in upper case.
pub fn object_key(country_code: &str, party_id: &str, id: &str) -> String {
    format!(
        "{}*{}*{}",
        country_code.to_ascii_uppercase(),
        party_id.to_ascii_uppercase(),
        id.to_ascii_uppercase()
    )
}

pub fn get(conn: &mut DbConnection, key: &str) -> Result<Option<SessionRow>, DbError> {
    Ok(sessions::table
        .find(key)
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn of_transaction(conn: &mut DbConnection, tx: i64) -> Result<Option<SessionRow>, DbError> {
    Ok(sessions::table
        .filter(sessions::transaction_ref.eq(tx))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?)
}

/// Sessions with this id (any CPO), for the Sender's `{session_id}` URLs.
pub fn by_id(conn: &mut DbConnection, id: &str) -> Result<Vec<SessionRow>, DbError> {
    let mut rows: Vec<SessionRow> = sessions::table
        .filter(sessions::id.eq(id))
        .select(SessionRow::as_select())
        .load(conn)?;
    if rows.is_empty() {
        // Ids are CiStrings: fall back to a case-insensitive scan of the keys' id part.
        rows = sessions::table
            .filter(sessions::key.like(format!("%*%*{}", id.to_ascii_uppercase())))
            .select(SessionRow::as_select())
            .load(conn)?;
    }
    Ok(rows)
}

/// Insert or replace; true when created.
pub fn upsert(conn: &mut DbConnection, row: &SessionRow) -> Result<bool, DbError> {
    let old = get(conn, &row.key)?;
    save(conn, row, old.as_ref())?;
    Ok(old.is_none())
}

/// [`upsert`] when the caller has just read the stored row (`existing`) in this transaction:
/// no second read.
pub fn save(
    conn: &mut DbConnection,
    row: &SessionRow,
    existing: Option<&SessionRow>,
) -> Result<(), DbError> {
    match existing {
        None => {
            diesel::insert_into(sessions::table)
                .values(row)
                .execute(conn)?;
        }
        Some(old) => {
            let mut row = row.clone();
            row.created_at = old.created_at;
            UpdateSession(row).execute(conn)?;
        }
    }
    Ok(())
}

/// Replace a stored session's row (every column but the key), as one statement prepared once
/// per connection: a running session's every change writes it.
#[derive(Debug, diesel::query_builder::QueryId)]
struct UpdateSession(SessionRow);

impl QueryFragment<Sql> for UpdateSession {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sql>) -> QueryResult<()> {
        let r = &self.0;
        out.push_sql("UPDATE sessions SET country_code = ");
        out.push_bind_param::<Text, _>(&r.country_code)?;
        out.push_sql(", party_id = ");
        out.push_bind_param::<Text, _>(&r.party_id)?;
        out.push_sql(", id = ");
        out.push_bind_param::<Text, _>(&r.id)?;
        out.push_sql(", emsp_country_code = ");
        out.push_bind_param::<Text, _>(&r.emsp_country_code)?;
        out.push_sql(", emsp_party_id = ");
        out.push_bind_param::<Text, _>(&r.emsp_party_id)?;
        out.push_sql(", status = ");
        out.push_bind_param::<Text, _>(&r.status)?;
        out.push_sql(", object = ");
        out.push_bind_param::<Text, _>(&r.object)?;
        out.push_sql(", transaction_ref = ");
        out.push_bind_param::<Nullable<BigInt>, _>(&r.transaction_ref)?;
        out.push_sql(", source_platform_id = ");
        out.push_bind_param::<Nullable<Text>, _>(&r.source_platform_id)?;
        out.push_sql(", pushed_periods = ");
        out.push_bind_param::<Nullable<Text>, _>(&r.pushed_periods)?;
        out.push_sql(", charging_preferences = ");
        out.push_bind_param::<Nullable<Text>, _>(&r.charging_preferences)?;
        out.push_sql(", snapshot = ");
        out.push_bind_param::<Nullable<Text>, _>(&r.snapshot)?;
        out.push_sql(", last_updated = ");
        out.push_bind_param::<Timestamp, _>(&r.last_updated)?;
        out.push_sql(", created_at = ");
        out.push_bind_param::<Timestamp, _>(&r.created_at)?;
        out.push_sql(" WHERE key = ");
        out.push_bind_param::<Text, _>(&r.key)
    }
}

impl<C> RunQueryDsl<C> for UpdateSession {}

pub fn set_preferences(conn: &mut DbConnection, key: &str, json: &str) -> Result<(), DbError> {
    diesel::update(sessions::table.find(key))
        .set(sessions::charging_preferences.eq(json))
        .execute(conn)?;
    Ok(())
}

crate::db::owned_pages!(sessions, SessionRow, emsp_country_code, emsp_party_id);
