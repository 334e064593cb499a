//! The only place with SQL. One connection type over PostgreSQL and SQLite, an r2d2 pool, and
//! helpers that run queries on the blocking thread pool with the caller's tracing span.

pub mod cdrs;
pub mod chargers;
pub mod commands;
pub mod dialect;
pub mod keys;
pub mod list_cache;
pub mod locations;
pub mod message_log;
pub mod migrations;
pub mod outbox;
pub mod platforms;
pub mod remote_calls;
pub mod schema;
pub mod sessions;
pub mod tokens;
pub mod transactions;

use std::sync::{Arc, Mutex};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{
    ConnectionManager, CustomizeConnection, ManageConnection, Pool, PooledConnection,
};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, MultiConnection};

/// A connection to either backend, chosen at run time from `DATABASE_URL`.
#[derive(MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("database: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database connection: {0}")]
    Connection(#[from] diesel::ConnectionError),
    #[error("migrations: {0}")]
    Migration(String),
    #[error("blocking task failed: {0}")]
    Join(String),
    #[error("{0}")]
    Other(String),
}

impl DbError {
    /// True when the connection to the database was lost (the pool replaces it).
    pub fn is_connection_lost(&self) -> bool {
        matches!(
            self,
            DbError::Query(
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::ClosedConnection,
                    _
                ) | diesel::result::Error::BrokenTransactionManager
            )
        )
    }

    /// True when a unique constraint refused the write.
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

/// Settings of every new connection: SQLite's pragmas; on PostgreSQL, for a pool whose
/// statements all find their rows by key, no sequential scans ([`Db::dedicated_by_key`]).
#[derive(Debug)]
struct SessionSettings {
    no_seqscan: bool,
}

impl CustomizeConnection<HubConn, diesel::r2d2::Error> for SessionSettings {
    fn on_acquire(&self, conn: &mut HubConn) -> Result<(), diesel::r2d2::Error> {
        match &mut conn.conn {
            DbConnection::Sqlite(c) => {
                // journal_mode=WAL is persistent: set once in `Db::connect`, before the pool
                // opens several connections at once (switching it needs an exclusive lock).
                c.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON;",
                )
                .map_err(diesel::r2d2::Error::QueryError)?;
            }
            DbConnection::Pg(c) if self.no_seqscan => {
                c.batch_execute("SET enable_seqscan = off")
                    .map_err(diesel::r2d2::Error::QueryError)?;
            }
            DbConnection::Pg(_) => {}
        }
        Ok(())
    }
}

pub type PooledConn = PooledConnection<Manager>;

/// A pooled connection: the connection, when it last answered, and whether it was lost.
pub struct HubConn {
    conn: DbConnection,
    answered: std::time::Instant,
    lost: bool,
}

impl std::ops::Deref for HubConn {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for HubConn {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

impl HubConn {
    /// Note what a use of the connection showed: it answered, or it is gone.
    fn used<T>(&mut self, result: &Result<T, DbError>) {
        match result {
            Ok(_) => self.answered = std::time::Instant::now(),
            Err(e) if e.is_connection_lost() => self.lost = true,
            Err(_) => {}
        }
    }
}

/// A connection that answered this recently is handed out without a test query; one idle for
/// longer is tested first (`SELECT 1`), so a connection the server dropped while idle (a
/// restart, a failover, an idle timeout) is replaced before anyone uses it. A connection that
/// fails with a lost-connection error is never handed out again.
const ANSWERED_RECENTLY: std::time::Duration = std::time::Duration::from_secs(1);

/// The pool's connection manager: diesel's, with the test on checkout skipped for connections
/// that answered within [`ANSWERED_RECENTLY`] (a `SELECT 1` round trip on every checkout was
/// 5 % of the statements of the hot path).
pub struct Manager(ConnectionManager<DbConnection>);

impl ManageConnection for Manager {
    type Connection = HubConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<HubConn, Self::Error> {
        Ok(HubConn {
            conn: self.0.connect()?,
            answered: std::time::Instant::now(),
            lost: false,
        })
    }

    fn is_valid(&self, c: &mut HubConn) -> Result<(), Self::Error> {
        if c.lost {
            return Err(diesel::r2d2::Error::QueryError(
                diesel::result::Error::BrokenTransactionManager,
            ));
        }
        if c.answered.elapsed() < ANSWERED_RECENTLY {
            return Ok(());
        }
        self.0.is_valid(&mut c.conn)?;
        c.answered = std::time::Instant::now();
        Ok(())
    }

    fn has_broken(&self, c: &mut HubConn) -> bool {
        c.lost || self.0.has_broken(&mut c.conn)
    }
}

/// The backend of [`DbConnection`] (either database), for statements written as types of their
/// own (fixed SQL with typed binds, the same on both): diesel prepares such a statement once
/// per connection, where it parses and plans every `UPDATE` of its DSL on every call.
pub(crate) type Sql = <DbConnection as Connection>::Backend;

/// The database handle shared by the whole hub.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    backend: Backend,
    /// What the pool connects to (for [`Db::dedicated`]).
    conn_url: String,
    /// SQLite has one writer: write transactions queue here instead of failing with BUSY.
    write_lock: Arc<Mutex<()>>,
}

impl Db {
    /// Open a pool for `url` (`sqlite://path`, `sqlite::memory:` or `postgres://…`).
    pub fn connect(url: &str, pool_size: u32) -> Result<Self, DbError> {
        let (backend, conn_url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//").to_string();
            if let Some(parent) = std::path::Path::new(&path).parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    DbError::Other(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            if path != ":memory:" {
                let mut first = SqliteConnection::establish(&path)?;
                first
                    .batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")
                    .map_err(DbError::Query)?;
            }
            (Backend::Sqlite, path)
        } else {
            (Backend::Postgres, url.to_string())
        };
        let pool = Self::pool(&conn_url, pool_size)?;
        Ok(Self {
            pool,
            backend,
            conn_url,
            write_lock: Arc::new(Mutex::new(())),
        })
    }

    fn pool(conn_url: &str, size: u32) -> Result<Pool<Manager>, DbError> {
        let manager = Manager(ConnectionManager::<DbConnection>::new(conn_url));
        Ok(Pool::builder()
            .max_size(size)
            .connection_timeout(std::time::Duration::from_secs(10))
            .connection_customizer(Box::new(SessionSettings { no_seqscan: false }))
            .build(manager)?)
    }

    /// A handle on the same database with its own pool of `size` connections (opened lazily,
    /// reconnected by the pool), for a background writer that must not queue behind the
    /// request handlers for a connection. SQLite writes still take the shared one-writer lock.
    /// An in-memory SQLite database is per connection: it keeps the shared pool.
    pub fn dedicated(&self, size: u32) -> Self {
        self.dedicated_with(size, false)
    }

    /// [`Db::dedicated`] for a worker whose statements all find their rows by key (the push
    /// worker, the OCPP transaction writers): PostgreSQL plans no sequential scan on its
    /// connections. A plan PostgreSQL keeps for a prepared statement may have been made while
    /// the table was nearly empty (or analysed when small), where a scan is cheapest; it would
    /// stay a scan of the whole table as the table grows, until the next `ANALYZE` (measured:
    /// the lease by id at 1.7 ms instead of 0.1 ms after 13,000 deliveries had been enqueued
    /// into a fresh database; a transaction's meter values read by a scan, 0.2 ms a call
    /// instead of 0.03 ms, in one run of the end-to-end bench).
    pub fn dedicated_by_key(&self, size: u32) -> Self {
        self.dedicated_with(size, true)
    }

    fn dedicated_with(&self, size: u32, no_seqscan: bool) -> Self {
        if self.backend == Backend::Sqlite && self.conn_url == ":memory:" {
            return self.clone();
        }
        let manager = Manager(ConnectionManager::<DbConnection>::new(
            self.conn_url.clone(),
        ));
        let pool = Pool::builder()
            .max_size(size)
            .min_idle(Some(0))
            .connection_timeout(std::time::Duration::from_secs(10))
            .connection_customizer(Box::new(SessionSettings { no_seqscan }))
            .build_unchecked(manager);
        Self {
            pool,
            backend: self.backend,
            conn_url: self.conn_url.clone(),
            write_lock: self.write_lock.clone(),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn get(&self) -> Result<PooledConn, DbError> {
        Ok(self.pool.get()?)
    }

    /// Run a read on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    {
        let db = self.clone();
        on_blocking_pool(move || db.with_conn(f)).await
    }

    /// Run `f` on a pooled connection, noting on it what the use showed ([`HubConn::used`]).
    fn with_conn<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, DbError>,
    {
        let mut conn = self.get()?;
        let result = f(&mut conn);
        conn.used(&result);
        result
    }

    /// Run `f` in one write transaction on the blocking pool.
    pub async fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    {
        let db = self.clone();
        on_blocking_pool(move || db.write_blocking(f)).await
    }

    /// Run `f`, whose statements are each safe on their own (no transaction needed around
    /// them), as a write: on PostgreSQL in autocommit, without the BEGIN and COMMIT round trips
    /// of [`Db::write`]; on SQLite the same as [`Db::write`] (its one-writer lock and `BEGIN
    /// IMMEDIATE`). For the push worker's per-delivery statements, the hottest writes after
    /// the OCPP messages themselves.
    pub async fn write_single<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    {
        match self.backend {
            Backend::Postgres => self.read(f).await,
            Backend::Sqlite => self.write(f).await,
        }
    }

    /// The synchronous form of [`Db::write`], for the CLI and start-up.
    pub fn write_blocking<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, DbError>,
    {
        self.with_conn(|conn| self.in_transaction(conn, f))
    }

    fn in_transaction<T, F>(&self, conn: &mut DbConnection, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, DbError>,
    {
        match self.backend {
            Backend::Postgres => conn.transaction(f),
            Backend::Sqlite => {
                // One writer per process queues here; `BEGIN IMMEDIATE` takes SQLite's write
                // lock up front (waiting up to busy_timeout), so writers in other processes
                // (the CLI, a second hub) queue too instead of failing on a lock upgrade.
                let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
                conn.batch_execute("BEGIN IMMEDIATE")?;
                match f(conn) {
                    Ok(v) => match conn.batch_execute("COMMIT") {
                        Ok(()) => Ok(v),
                        Err(e) => {
                            let _ = conn.batch_execute("ROLLBACK");
                            Err(e.into())
                        }
                    },
                    Err(e) => {
                        if let Err(rb) = conn.batch_execute("ROLLBACK") {
                            tracing::error!(error = %rb, "rollback failed");
                        }
                        Err(e)
                    }
                }
            }
        }
    }

    /// True when the database answers.
    pub async fn ping(&self) -> bool {
        self.read(|c| {
            c.batch_execute("SELECT 1")?;
            Ok(())
        })
        .await
        .is_ok()
    }
}

/// A page of the list endpoints: `date_from` inclusive, `date_to` exclusive, ordered by
/// `(last_updated, id)`. `after` is the keyset cursor that replaces the offset scan when the
/// client follows our `Link`.
#[derive(Debug, Clone, Default)]
pub struct PageQuery {
    pub date_from: Option<chrono::NaiveDateTime>,
    pub date_to: Option<chrono::NaiveDateTime>,
    pub offset: i64,
    pub limit: i64,
    pub after: Option<(chrono::NaiveDateTime, String)>,
}

/// Below this many rows a PostgreSQL `COPY` costs more than the `INSERT` it replaces (a
/// `COPY` is a statement plus a data exchange of its own).
pub const COPY_FROM_ROWS: usize = 64;

/// Insert `rows` (a slice of `Insertable` rows of `table`) in order: on PostgreSQL, from
/// [`COPY_FROM_ROWS`] rows on, with one binary `COPY FROM` (no statement to parse, no
/// parameters to bind: the bulk writers' rows cost a fraction of a multi-row `INSERT`);
/// otherwise with multi-row inserts of `chunk` rows (keep `chunk` × columns under SQLite's
/// 32,766 parameters). Serial ids follow the order.
macro_rules! bulk_insert {
    ($conn:expr, $table:expr, $rows:expr, $chunk:expr) => {{
        let rows = $rows;
        if !rows.is_empty() {
            match $conn {
                $crate::db::DbConnection::Pg(c) if rows.len() < $crate::db::COPY_FROM_ROWS => {
                    diesel::insert_into($table).values(rows).execute(c)?;
                }
                $crate::db::DbConnection::Pg(c) => {
                    use diesel::ExecuteCopyFromDsl as _;
                    diesel::copy_from($table).from_insertable(rows).execute(c)?;
                }
                $crate::db::DbConnection::Sqlite(c) => {
                    for part in rows.chunks($chunk) {
                        diesel::insert_into($table).values(part).execute(c)?;
                    }
                }
            }
        }
    }};
}
pub(crate) use bulk_insert;

/// `count` and `page` of a table of objects readable only by their owner (`$cc`, `$pid` among
/// `owners`; `None`: by everyone), ordered by `(last_updated, key)` under the page contract.
macro_rules! owned_pages {
    ($table:ident, $row:ty, $cc:ident, $pid:ident) => {
        fn filtered<'a>(
            q: &$crate::db::PageQuery,
            owners: Option<&[(String, String)]>,
        ) -> $table::BoxedQuery<'a, <$crate::db::DbConnection as diesel::Connection>::Backend> {
            let mut f = $table::table.into_boxed();
            let mut any: Option<
                Box<
                    dyn BoxableExpression<
                            $table::table,
                            <$crate::db::DbConnection as diesel::Connection>::Backend,
                            SqlType = diesel::sql_types::Bool,
                        >,
                >,
            > = None;
            for (cc, pid) in owners.unwrap_or_default() {
                let one = $table::$cc.eq(cc.clone()).and($table::$pid.eq(pid.clone()));
                any = Some(match any {
                    None => Box::new(one),
                    Some(prev) => Box::new(prev.or(one)),
                });
            }
            match (any, owners) {
                (Some(cond), _) => f = f.filter(cond),
                (None, None) => {}
                // No role, no rows.
                (None, Some(_)) => f = f.filter($table::key.ne($table::key)),
            }
            if let Some(from) = q.date_from {
                f = f.filter($table::last_updated.ge(from));
            }
            if let Some(to) = q.date_to {
                f = f.filter($table::last_updated.lt(to));
            }
            f
        }

        pub fn count(
            conn: &mut $crate::db::DbConnection,
            q: &$crate::db::PageQuery,
            owners: Option<&[(String, String)]>,
        ) -> Result<i64, $crate::db::DbError> {
            Ok(filtered(q, owners).count().get_result(conn)?)
        }

        pub fn page(
            conn: &mut $crate::db::DbConnection,
            q: &$crate::db::PageQuery,
            owners: Option<&[(String, String)]>,
        ) -> Result<Vec<$row>, $crate::db::DbError> {
            let mut f = filtered(q, owners);
            let mut offset = q.offset;
            if let Some((ts, key)) = &q.after {
                f = f
                    .filter($table::last_updated.ge(*ts))
                    .filter($table::last_updated.gt(*ts).or($table::key.gt(key.clone())));
                offset = 0;
            }
            Ok(f.select(<$row>::as_select())
                .order(($table::last_updated.asc(), $table::key.asc()))
                .offset(offset)
                .limit(q.limit)
                .load(conn)?)
        }

        /// A page as (last_updated, key, stored JSON) rows and the total, for a Sender list.
        pub fn stored_page(
            conn: &mut $crate::db::DbConnection,
            q: &$crate::db::PageQuery,
            owners: Option<&[(String, String)]>,
        ) -> Result<(Vec<(chrono::NaiveDateTime, String, String)>, i64), $crate::db::DbError> {
            let rows = page(conn, q, owners)?
                .into_iter()
                .map(|r| (r.last_updated, r.key, r.object))
                .collect();
            Ok((rows, count(conn, q, owners)?))
        }
    };
}
pub(crate) use owned_pages;

/// Run `f` on tokio's blocking pool inside the caller's tracing span.
async fn on_blocking_pool<T, F>(f: F) -> Result<T, DbError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, DbError> + Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
        .await
        .map_err(|e| DbError::Join(e.to_string()))?
}

/// Now, truncated to microseconds (what both backends store).
pub fn now() -> chrono::NaiveDateTime {
    use chrono::Timelike;
    let n = chrono::Utc::now().naive_utc();
    n.with_nanosecond(n.nanosecond() / 1000 * 1000).unwrap_or(n)
}

/// A migrated SQLite database in a new temporary directory, for unit tests (the directory
/// lives as long as the returned guard).
#[cfg(test)]
pub(crate) fn temp_sqlite() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hub.db").display());
    let db = Db::connect(&url, 1).unwrap();
    migrations::run(&db).unwrap();
    (dir, db)
}
