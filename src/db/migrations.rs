//! Embedded migrations for both backends. PostgreSQL runs them under an advisory lock so that
//! several hub instances can start at once.

use diesel::RunQueryDsl;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{Db, DbConnection, DbError};

pub const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Any constant that is ours; taken with `pg_advisory_lock` around the migration run.
const ADVISORY_LOCK_KEY: i64 = 0x0c91_4b0b;

/// Apply every pending migration; returns the versions applied.
pub fn run(db: &Db) -> Result<Vec<String>, DbError> {
    let mut conn = db.get()?;
    let applied = match &mut **conn {
        DbConnection::Pg(c) => {
            diesel::sql_query(format!("SELECT pg_advisory_lock({ADVISORY_LOCK_KEY})"))
                .execute(c)?;
            let res = c
                .run_pending_migrations(POSTGRES)
                .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>())
                .map_err(|e| DbError::Migration(e.to_string()));
            diesel::sql_query(format!("SELECT pg_advisory_unlock({ADVISORY_LOCK_KEY})"))
                .execute(c)?;
            res?
        }
        DbConnection::Sqlite(c) => c
            .run_pending_migrations(SQLITE)
            .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>())
            .map_err(|e| DbError::Migration(e.to_string()))?,
    };
    Ok(applied)
}
