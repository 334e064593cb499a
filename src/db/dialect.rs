//! Backend-specific SQL lives here and only here.

use diesel::RunQueryDsl;

use super::{DbConnection, DbError};

/// Serialise a start-up step across hub instances: a transaction-scoped advisory lock on
/// PostgreSQL. SQLite needs nothing: its write transactions are already one at a time.
pub fn advisory_xact_lock(conn: &mut DbConnection, key: i64) -> Result<(), DbError> {
    if let DbConnection::Pg(c) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({key})")).execute(c)?;
    }
    Ok(())
}

/// Lock one platform row until the transaction ends (PostgreSQL `FOR UPDATE`), so that two
/// handshakes of one partner cannot both pass their checks. SQLite's write transactions are
/// already exclusive (`BEGIN IMMEDIATE`).
pub fn lock_platform(conn: &mut DbConnection, platform_id: &str) -> Result<(), DbError> {
    if let DbConnection::Pg(c) = conn {
        diesel::sql_query("SELECT id FROM platforms WHERE id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::Text, _>(platform_id)
            .execute(c)?;
    }
    Ok(())
}
