//! Tokens pushed by eMSPs. The key is `CC*PID*UID*TYPE` with the uid in upper case (a
//! CiString), so one eMSP's token is one row whatever case it is sent in.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::tokens;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = tokens)]
pub struct TokenRow {
    pub key: String,
    pub country_code: String,
    pub party_id: String,
    pub uid: String,
    pub uid_key: String,
    pub token_type: String,
    pub valid: bool,
    pub whitelist: String,
    pub object: String,
    pub source_platform_id: Option<String>,
    pub last_updated: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

pub fn token_key(country_code: &str, party_id: &str, uid: &str, token_type: &str) -> String {
    format!(
        "{}*{}*{}*{}",
        country_code.to_ascii_uppercase(),
        party_id.to_ascii_uppercase(),
        uid.to_ascii_uppercase(),
        token_type
    )
}

pub fn get(conn: &mut DbConnection, key: &str) -> Result<Option<TokenRow>, DbError> {
    Ok(tokens::table
        .find(key)
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?)
}

/// Tokens with this uid (any case), of any eMSP; `types` narrows them, in that order of
/// preference.
pub fn by_uid(
    conn: &mut DbConnection,
    uid: &str,
    types: &[&str],
) -> Result<Vec<TokenRow>, DbError> {
    let mut rows: Vec<TokenRow> = tokens::table
        .filter(tokens::uid_key.eq(uid.to_ascii_uppercase()))
        .filter(tokens::token_type.eq_any(types))
        .select(TokenRow::as_select())
        .order(tokens::key.asc())
        .load(conn)?;
    rows.sort_by_key(|r| types.iter().position(|t| *t == r.token_type));
    Ok(rows)
}

/// Insert or replace; returns true when created.
pub fn upsert(conn: &mut DbConnection, row: &TokenRow) -> Result<bool, DbError> {
    match get(conn, &row.key)? {
        None => {
            diesel::insert_into(tokens::table)
                .values(row)
                .execute(conn)?;
            Ok(true)
        }
        Some(old) => {
            let mut row = row.clone();
            row.created_at = old.created_at;
            diesel::update(tokens::table.find(&row.key))
                .set(&row)
                .execute(conn)?;
            Ok(false)
        }
    }
}

crate::db::owned_pages!(tokens, TokenRow, country_code, party_id);
