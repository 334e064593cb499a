//! The hub's stored key secrets (used when `HUB_SIGNING_KEY` is not given).

use diesel::prelude::*;

use super::schema::hub_keys;
use super::{DbConnection, DbError, dialect};

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = hub_keys)]
pub struct StoredKey {
    pub kid: String,
    pub secret: String,
    pub created_at: chrono::NaiveDateTime,
}

const KEY_BOOTSTRAP_LOCK: i64 = 0x0c91_4b0c;

/// All stored keys, newest first.
pub fn all(conn: &mut DbConnection) -> Result<Vec<StoredKey>, DbError> {
    Ok(hub_keys::table
        .select(StoredKey::as_select())
        .order((hub_keys::created_at.desc(), hub_keys::kid.asc()))
        .load(conn)?)
}

/// Within a write transaction: the stored keys, after storing `generate()`'s key when there
/// is none yet. Instances starting together agree on one key.
pub fn load_or_create(
    conn: &mut DbConnection,
    generate: impl FnOnce() -> (String, String),
) -> Result<Vec<StoredKey>, DbError> {
    dialect::advisory_xact_lock(conn, KEY_BOOTSTRAP_LOCK)?;
    let keys = all(conn)?;
    if !keys.is_empty() {
        return Ok(keys);
    }
    let (kid, secret) = generate();
    insert(conn, &kid, &secret)?;
    all(conn)
}

/// Store a new key; it becomes the current one.
pub fn insert(conn: &mut DbConnection, kid: &str, secret: &str) -> Result<(), DbError> {
    diesel::insert_into(hub_keys::table)
        .values((
            hub_keys::kid.eq(kid),
            hub_keys::secret.eq(secret),
            hub_keys::created_at.eq(super::now()),
        ))
        .execute(conn)?;
    Ok(())
}
