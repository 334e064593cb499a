//! Backend-specific SQL lives here and only here.

use std::marker::PhantomData;

use chrono::NaiveDateTime;
use diesel::RunQueryDsl;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Text, Timestamp, Untyped};

use super::outbox::Delivery;
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

/// A hand-written PostgreSQL statement that diesel prepares once per connection and reuses,
/// like its own query builder's statements (a `sql_query` is parsed and planned on every
/// call). The SQL is `parts` with the n-th bind between the n-th and the next part; the
/// marker type `K` names the statement in diesel's statement cache.
struct PgStatement<K> {
    parts: &'static [&'static str],
    binds: Vec<PgBind>,
    statement: PhantomData<K>,
}

enum PgBind {
    BigInt(i64),
    Text(String),
    Timestamp(NaiveDateTime),
}

impl<K> PgStatement<K> {
    fn new(parts: &'static [&'static str], binds: Vec<PgBind>) -> Self {
        debug_assert_eq!(parts.len(), binds.len() + 1);
        Self {
            parts,
            binds,
            statement: PhantomData,
        }
    }
}

impl<K: 'static> QueryId for PgStatement<K> {
    type QueryId = K;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<K> QueryFragment<Pg> for PgStatement<K> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> diesel::QueryResult<()> {
        for (i, part) in self.parts.iter().enumerate() {
            out.push_sql(part);
            match self.binds.get(i) {
                Some(PgBind::BigInt(v)) => out.push_bind_param::<BigInt, _>(v)?,
                Some(PgBind::Text(v)) => out.push_bind_param::<Text, _>(v)?,
                Some(PgBind::Timestamp(v)) => out.push_bind_param::<Timestamp, _>(v)?,
                None => {}
            }
        }
        Ok(())
    }
}

impl<K> Query for PgStatement<K> {
    type SqlType = Untyped;
}

impl<K> RunQueryDsl<diesel::PgConnection> for PgStatement<K> {}

/// Outbox: the heads of the (platform, group) queues that are due and not leased, at most
/// `limit`, leased to `owner` until `until`. The heads come from one `min(id) … GROUP BY` over
/// the pending rows (partial index `outbox_pending_group`): linear in the pending rows whatever
/// the statistics say. (A `NOT EXISTS` over earlier pending rows of the group was planned as a
/// nested loop over all pending rows for each one when the statistics came from a nearly
/// empty table: quadratic, 1 ms per lease at a few dozen pending rows.) PostgreSQL skips rows
/// another instance holds (`FOR UPDATE SKIP LOCKED`); SQLite serialises writers anyway.
pub fn lease_outbox(
    conn: &mut DbConnection,
    owner: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Delivery>, DbError> {
    const HEADS: &str = "SELECT o.id FROM outbox o \
         WHERE o.id IN (SELECT min(h.id) FROM outbox h WHERE h.state = 'PENDING' \
                        GROUP BY h.platform_id, h.object_group) \
           AND o.state = 'PENDING' AND o.next_attempt_at <= ?3 \
           AND (o.leased_until IS NULL OR o.leased_until < ?3) \
         ORDER BY o.id LIMIT ?4";
    match conn {
        DbConnection::Pg(c) => {
            struct LeaseOutbox;
            Ok(PgStatement::<LeaseOutbox>::new(
                &[
                    "UPDATE outbox SET leased_until = ",
                    ", lease_owner = ",
                    " WHERE id IN (SELECT o.id FROM outbox o \
                       WHERE o.id IN (SELECT min(h.id) FROM outbox h WHERE h.state = 'PENDING' \
                                      GROUP BY h.platform_id, h.object_group) \
                         AND o.state = 'PENDING' AND o.next_attempt_at <= ",
                    " AND (o.leased_until IS NULL OR o.leased_until < ",
                    ") ORDER BY o.id LIMIT ",
                    " FOR UPDATE SKIP LOCKED) RETURNING *",
                ],
                vec![
                    PgBind::Timestamp(until),
                    PgBind::Text(owner.to_string()),
                    PgBind::Timestamp(now),
                    PgBind::Timestamp(now),
                    PgBind::BigInt(limit),
                ],
            )
            .load::<Delivery>(c)?)
        }
        DbConnection::Sqlite(c) => Ok(diesel::sql_query(format!(
            "UPDATE outbox SET leased_until = ?1, lease_owner = ?2 WHERE id IN ({HEADS}) RETURNING *"
        ))
        .bind::<Timestamp, _>(until)
        .bind::<Text, _>(owner)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load::<Delivery>(c)?),
    }
}

/// Outbox, PostgreSQL: record the success of delivery `id` (leased by `owner`) and lease the
/// next delivery of its group to `owner` if that one is due and free, in one statement that
/// is atomic by itself. Returns the delivered row (when `owner` still held it) and the leased
/// one. None on SQLite, where the caller runs the two steps in its write transaction.
pub fn complete_delivery(
    conn: &mut DbConnection,
    id: i64,
    owner: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<Option<(bool, Option<Delivery>)>, DbError> {
    let DbConnection::Pg(c) = conn else {
        return Ok(None);
    };
    struct CompleteDelivery;
    // `head` reads the snapshot from before `done`, where the delivered row is still PENDING:
    // it is left out by id. The update of the head re-checks that it is still pending, due and
    // free once it holds the row lock (another worker may have taken it meanwhile).
    let rows = PgStatement::<CompleteDelivery>::new(
        &[
            "WITH done AS ( \
               UPDATE outbox SET state = 'DELIVERED', attempts = attempts + 1, finished_at = ",
            ", leased_until = NULL, last_error = NULL WHERE id = ",
            " AND lease_owner = ",
            " AND state = 'PENDING' RETURNING *), \
             head AS ( \
               SELECT o.id FROM outbox o JOIN done \
                   ON o.platform_id = done.platform_id AND o.object_group = done.object_group \
                WHERE o.state = 'PENDING' AND o.id <> done.id ORDER BY o.id LIMIT 1), \
             next AS ( \
               UPDATE outbox SET leased_until = ",
            ", lease_owner = ",
            " WHERE id IN (SELECT id FROM head) AND state = 'PENDING' AND next_attempt_at <= ",
            " AND (leased_until IS NULL OR leased_until < ",
            ") RETURNING *) \
             SELECT * FROM done UNION ALL SELECT * FROM next",
        ],
        vec![
            PgBind::Timestamp(now),
            PgBind::BigInt(id),
            PgBind::Text(owner.to_string()),
            PgBind::Timestamp(until),
            PgBind::Text(owner.to_string()),
            PgBind::Timestamp(now),
            PgBind::Timestamp(now),
        ],
    )
    .load::<Delivery>(c)?;
    let recorded = rows.iter().any(|r| r.id == id);
    let next = rows.into_iter().find(|r| r.id != id);
    Ok(Some((recorded, next)))
}
