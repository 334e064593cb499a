//! CDRs: insert-only. The hub's own (built when a transaction ends, or credit/replacement CDRs
//! from the admin API) and those pushed by remote CPOs. Key `CC*PID*ID` of the CPO.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::cdrs;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cdrs)]
pub struct CdrRow {
    pub key: String,
    pub country_code: String,
    pub party_id: String,
    pub id: String,
    pub emsp_country_code: String,
    pub emsp_party_id: String,
    pub session_key: Option<String>,
    pub object: String,
    pub credit_reference_id: Option<String>,
    pub source_platform_id: Option<String>,
    pub emsp_location: Option<String>,
    pub last_updated: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

pub fn get(conn: &mut DbConnection, key: &str) -> Result<Option<CdrRow>, DbError> {
    Ok(cdrs::table
        .find(key)
        .select(CdrRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn of_session(conn: &mut DbConnection, session_key: &str) -> Result<Vec<CdrRow>, DbError> {
    Ok(cdrs::table
        .filter(cdrs::session_key.eq(session_key))
        .select(CdrRow::as_select())
        .order(cdrs::created_at.asc())
        .load(conn)?)
}

/// Store a new CDR; false (and nothing written) when one with this key exists: CDRs never change.
pub fn insert(conn: &mut DbConnection, row: &CdrRow) -> Result<bool, DbError> {
    // One statement: a CDR with this key already there inserts nothing (0 rows).
    let insert = diesel::insert_into(cdrs::table).values(row);
    let n = match conn {
        DbConnection::Pg(c) => insert.on_conflict(cdrs::key).do_nothing().execute(c)?,
        DbConnection::Sqlite(c) => insert.on_conflict(cdrs::key).do_nothing().execute(c)?,
    };
    Ok(n == 1)
}

/// Keep the URL the eMSP answered our POST with.
pub fn set_emsp_location(conn: &mut DbConnection, key: &str, url: &str) -> Result<(), DbError> {
    diesel::update(cdrs::table.find(key))
        .set(cdrs::emsp_location.eq(url))
        .execute(conn)?;
    Ok(())
}

/// Whether a credit CDR for `id` (of this CPO) exists already.
pub fn credited(conn: &mut DbConnection, cc: &str, pid: &str, id: &str) -> Result<bool, DbError> {
    let n: i64 = cdrs::table
        .filter(cdrs::country_code.eq(cc))
        .filter(cdrs::party_id.eq(pid))
        .filter(cdrs::credit_reference_id.eq(id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

crate::db::owned_pages!(cdrs, CdrRow, emsp_country_code, emsp_party_id);
