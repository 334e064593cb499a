//! The push outbox: deliveries to partners, written in the same transaction as the change that
//! causes them, leased by workers, FIFO per (platform, object group).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment};
use diesel::sql_types::{BigInt, Text, Timestamp};

use super::schema::outbox;
use super::{DbConnection, DbError};

pub const PENDING: &str = "PENDING";
pub const DELIVERED: &str = "DELIVERED";
/// Gave up after the configured attempts, or refused by the partner (4xx / 2xxx).
pub const DEAD: &str = "DEAD";
/// Discarded by an operator.
pub const DISCARDED: &str = "DISCARDED";
/// Failed once for a partner without store-and-forward: not retried.
pub const DROPPED: &str = "DROPPED";

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = outbox)]
pub struct Delivery {
    pub id: i64,
    pub platform_id: String,
    pub module: String,
    pub object_group: String,
    pub method: String,
    pub path: String,
    pub body: Option<String>,
    pub from_country_code: String,
    pub from_party_id: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: NaiveDateTime,
    pub leased_until: Option<NaiveDateTime>,
    pub lease_owner: Option<String>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    /// The party addressed (`OCPI-to-*`); None: the platform's first eMSP-like role.
    pub to_country_code: Option<String>,
    pub to_party_id: Option<String>,
}

/// One delivery to enqueue.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub platform_id: String,
    /// OCPI module id: the partner's RECEIVER endpoint of this module is the base URL.
    pub module: String,
    /// Deliveries of one group reach one partner in order (e.g. one Location and its EVSEs).
    pub object_group: String,
    pub method: String,
    /// Appended to the endpoint URL, e.g. `/NL/ABC/LOC1/EVSE1`.
    pub path: String,
    pub body: Option<String>,
    pub from_country_code: String,
    pub from_party_id: String,
    /// The party addressed, when the platform holds several (sessions and CDRs).
    pub to: Option<(String, String)>,
}

/// Enqueue `rows`; returns their ids (for [`crate::push::worker::Wakeup::enqueued`] once the
/// transaction is committed).
pub fn enqueue(conn: &mut DbConnection, rows: &[NewDelivery]) -> Result<Vec<i64>, DbError> {
    let now = super::now();
    let mut ids = Vec::with_capacity(rows.len());
    for r in rows {
        let id = diesel::insert_into(outbox::table)
            .values((
                outbox::platform_id.eq(&r.platform_id),
                outbox::module.eq(&r.module),
                outbox::object_group.eq(&r.object_group),
                outbox::method.eq(&r.method),
                outbox::path.eq(&r.path),
                outbox::body.eq(&r.body),
                outbox::from_country_code.eq(&r.from_country_code),
                outbox::from_party_id.eq(&r.from_party_id),
                outbox::to_country_code.eq(r.to.as_ref().map(|t| &t.0)),
                outbox::to_party_id.eq(r.to.as_ref().map(|t| &t.1)),
                outbox::state.eq(PENDING),
                outbox::attempts.eq(0i64),
                outbox::next_attempt_at.eq(now),
                outbox::created_at.eq(now),
            ))
            .returning(outbox::id)
            .get_result(conn)?;
        ids.push(id);
    }
    Ok(ids)
}

// Diesel prepares a DSL `SELECT` or `INSERT` once per connection, but never an `UPDATE` (nor
// a `sql_query`): PostgreSQL would parse and plan the worker's per-delivery statements on
// every call, more CPU than running them. The statements below are fixed SQL with typed binds
// and a type of their own (a static `QueryId`), which diesel prepares once per connection;
// PostgreSQL may then keep one plan for all parameter values, made with whatever statistics
// it had. So each of them finds its rows by a key (`id`, or `outbox_group_state`'s platform,
// group and state), never by a partial index or a scan whose cost the statistics decide.

use super::Sql;

/// Lease a delivery if it is due, free and its group's head ([`lease_ids`]). One id per
/// statement: with a list of ids PostgreSQL would plan it again for each list's length.
#[derive(Debug, diesel::query_builder::QueryId)]
struct LeaseId {
    id: i64,
    owner: String,
    now: NaiveDateTime,
    until: NaiveDateTime,
}

impl QueryFragment<Sql> for LeaseId {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sql>) -> QueryResult<()> {
        out.push_sql("UPDATE outbox SET leased_until = ");
        out.push_bind_param::<Timestamp, _>(&self.until)?;
        out.push_sql(", lease_owner = ");
        out.push_bind_param::<Text, _>(&self.owner)?;
        // Found by its id. Its state is tested as `(… = …) IS TRUE`, which no index can serve:
        // a plan made while the table was nearly empty would otherwise walk `outbox_due`
        // (state first) with a filter on the id.
        out.push_sql(" WHERE outbox.id = ");
        out.push_bind_param::<BigInt, _>(&self.id)?;
        out.push_sql(" AND (outbox.state = ");
        out.push_bind_param::<Text, _>(PENDING)?;
        out.push_sql(") IS TRUE AND outbox.next_attempt_at <= ");
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(" AND (outbox.leased_until IS NULL OR outbox.leased_until < ");
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        // Its group's head.
        out.push_sql(") AND outbox.id = ");
        first_pending_of_group(out.reborrow(), "")?;
        out.push_sql(" RETURNING *");
        Ok(())
    }
}

/// `(SELECT …)`: the id of the first pending delivery of the `outbox` row's platform and group
/// (with `condition` on it, as `e`). Ordered by the whole `outbox_group_state` key, which no
/// other index gives, so no plan walks another index (e.g. the primary key) with a filter.
fn first_pending_of_group(mut out: AstPass<'_, '_, Sql>, condition: &str) -> QueryResult<()> {
    out.push_sql(
        "(SELECT e.id FROM outbox e WHERE e.platform_id = outbox.platform_id \
         AND e.object_group = outbox.object_group AND e.state = ",
    );
    out.push_bind_param::<Text, _>(PENDING)?;
    out.push_sql(condition);
    out.push_sql(" ORDER BY e.platform_id, e.object_group, e.state, e.id LIMIT 1)");
    Ok(())
}

/// Rows are read by column name ([`Delivery`] is `QueryableByName`).
impl Query for LeaseId {
    type SqlType = diesel::sql_types::Untyped;
}

impl<C> RunQueryDsl<C> for LeaseId {}

/// The due, free group heads ([`due_heads`]).
#[derive(Debug, diesel::query_builder::QueryId)]
struct DueHeads {
    now: NaiveDateTime,
    limit: i64,
}

impl QueryFragment<Sql> for DueHeads {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sql>) -> QueryResult<()> {
        // Planned on every call (once per poll interval), for the statistics of the moment: a
        // plan kept for any state would read the whole table.
        out.unsafe_to_cache_prepared();
        out.push_sql(
            "SELECT o.id FROM outbox o JOIN (SELECT min(id) AS id FROM outbox WHERE state = ",
        );
        out.push_bind_param::<Text, _>(PENDING)?;
        out.push_sql(
            " GROUP BY platform_id, object_group) h ON h.id = o.id WHERE o.next_attempt_at <= ",
        );
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(" AND (o.leased_until IS NULL OR o.leased_until < ");
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(") ORDER BY o.id LIMIT ");
        out.push_bind_param::<BigInt, _>(&self.limit)?;
        Ok(())
    }
}

impl Query for DueHeads {
    type SqlType = BigInt;
}

impl<C> RunQueryDsl<C> for DueHeads {}

/// The ids of up to `limit` group heads (each (platform, group)'s oldest pending delivery) that
/// are due at `now` and free, oldest first. It reads every pending row once (one aggregate per
/// group), whatever the statistics say.
pub fn due_heads(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<i64>, DbError> {
    Ok(DueHeads { now, limit }.load(conn)?)
}

/// Lease to `owner` until `until` those of deliveries `ids` that are due at `now`, free, and
/// their group's head (no earlier delivery of their platform and group pending), oldest first:
/// the push worker's lease of what this process just enqueued and of the [`due_heads`] it
/// found. Of two instances leasing one row at once, one takes it; the other waits for the row
/// lock, then finds it leased.
pub fn lease_ids(
    conn: &mut DbConnection,
    owner: &str,
    ids: &[i64],
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<Vec<Delivery>, DbError> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        let owner = owner.to_string();
        let lease = LeaseId {
            id,
            owner,
            now,
            until,
        };
        rows.extend(lease.get_result::<Delivery>(conn).optional()?);
    }
    Ok(rows)
}

/// Record a success ([`mark_delivered`]).
#[derive(Debug, diesel::query_builder::QueryId)]
struct MarkDelivered {
    id: i64,
    owner: String,
    at: NaiveDateTime,
}

impl QueryFragment<Sql> for MarkDelivered {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sql>) -> QueryResult<()> {
        out.push_sql("UPDATE outbox SET state = ");
        out.push_bind_param::<Text, _>(DELIVERED)?;
        out.push_sql(
            ", attempts = attempts + 1, leased_until = NULL, last_error = NULL, finished_at = ",
        );
        out.push_bind_param::<Timestamp, _>(&self.at)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<BigInt, _>(&self.id)?;
        out.push_sql(" AND lease_owner = ");
        out.push_bind_param::<Text, _>(&self.owner)?;
        // By id only, as in `LeaseId`.
        out.push_sql(" AND (state = ");
        out.push_bind_param::<Text, _>(PENDING)?;
        // The group's next pending delivery.
        out.push_sql(") IS TRUE RETURNING ");
        first_pending_of_group(out.reborrow(), " AND e.id > outbox.id")
    }
}

impl Query for MarkDelivered {
    type SqlType = diesel::sql_types::Nullable<BigInt>;
}

impl<C> RunQueryDsl<C> for MarkDelivered {}

/// Record a success. `None` when the lease was lost meanwhile (another worker owns the row),
/// else the id of the next pending delivery of its group, if there is one.
fn record_delivered(
    conn: &mut DbConnection,
    id: i64,
    owner: &str,
) -> Result<Option<Option<i64>>, DbError> {
    let owner = owner.to_string();
    let at = super::now();
    Ok(MarkDelivered { id, owner, at }
        .get_result::<Option<i64>>(conn)
        .optional()?)
}

/// Record a success; false when the lease was lost meanwhile (another worker owns the row).
pub fn mark_delivered(conn: &mut DbConnection, id: i64, owner: &str) -> Result<bool, DbError> {
    Ok(record_delivered(conn, id, owner)?.is_some())
}

/// The outcome of [`delivered_then_next`].
#[derive(Debug)]
pub struct Recorded {
    /// False when the lease was lost meanwhile (another worker owns the row).
    pub recorded: bool,
    /// The group's next delivery, leased to the caller, when it was due and free.
    pub next: Option<Delivery>,
}

/// Record the success of delivery `d` held by `owner` ([`mark_delivered`]) and, when it was
/// recorded and its (platform, group) has a next pending delivery, lease that one to `owner`
/// until `until` if it is due at `now`, free and the group's head ([`lease_ids`]): the worker
/// that just delivered one sends the next at once (a session's PATCH, then its CDR) instead of
/// waiting for a wake-up. One statement when there is no next (the usual case: a session's
/// next change has not happened yet), two otherwise. Each is safe on its own (the caller may
/// run them outside a transaction: see [`super::Db::write_single`]).
///
/// (One data-modifying CTE doing both was tried as a `sql_query`: one round trip instead of
/// several, but PostgreSQL planned it on every call, 0.6 ms; the database spent more CPU per
/// delivery.)
pub fn delivered_then_next(
    conn: &mut DbConnection,
    d: &Delivery,
    owner: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<Recorded, DbError> {
    let Some(next_id) = record_delivered(conn, d.id, owner)? else {
        return Ok(Recorded {
            recorded: false,
            next: None,
        });
    };
    let next = match next_id {
        Some(id) => lease_ids(conn, owner, &[id], now, until)?.pop(),
        None => None,
    };
    Ok(Recorded {
        recorded: true,
        next,
    })
}

/// Record a failure: back to PENDING at `retry_at`, or into `final_state` (DEAD / DROPPED).
pub fn mark_failed(
    conn: &mut DbConnection,
    id: i64,
    owner: &str,
    error: &str,
    retry_at: Option<NaiveDateTime>,
    final_state: &str,
) -> Result<(), DbError> {
    let target = outbox::table
        .find(id)
        .filter(outbox::lease_owner.eq(owner))
        .filter(outbox::state.eq(PENDING));
    let error: String = error.chars().take(1000).collect();
    match retry_at {
        Some(at) => diesel::update(target)
            .set((
                outbox::attempts.eq(outbox::attempts + 1),
                outbox::next_attempt_at.eq(at),
                outbox::leased_until.eq(None::<NaiveDateTime>),
                outbox::last_error.eq(error),
            ))
            .execute(conn)?,
        None => diesel::update(target)
            .set((
                outbox::state.eq(final_state),
                outbox::attempts.eq(outbox::attempts + 1),
                outbox::finished_at.eq(super::now()),
                outbox::leased_until.eq(None::<NaiveDateTime>),
                outbox::last_error.eq(error),
            ))
            .execute(conn)?,
    };
    Ok(())
}

/// Deliveries in `state` (all states when None), oldest first.
pub fn list(
    conn: &mut DbConnection,
    state: Option<&str>,
    platform_id: Option<&str>,
    limit: i64,
) -> Result<Vec<Delivery>, DbError> {
    let mut q = outbox::table.select(Delivery::as_select()).into_boxed();
    if let Some(s) = state {
        q = q.filter(outbox::state.eq(s.to_string()));
    }
    if let Some(p) = platform_id {
        q = q.filter(outbox::platform_id.eq(p.to_string()));
    }
    Ok(q.order(outbox::id.asc()).limit(limit).load(conn)?)
}

pub fn get(conn: &mut DbConnection, id: i64) -> Result<Option<Delivery>, DbError> {
    Ok(outbox::table
        .find(id)
        .select(Delivery::as_select())
        .first(conn)
        .optional()?)
}

/// Put a DEAD or DROPPED delivery back in the queue, due now. False when it is in no such state.
pub fn retry(conn: &mut DbConnection, id: i64) -> Result<bool, DbError> {
    let n = diesel::update(
        outbox::table
            .find(id)
            .filter(outbox::state.eq_any([DEAD, DROPPED])),
    )
    .set((
        outbox::state.eq(PENDING),
        outbox::attempts.eq(0i64),
        outbox::next_attempt_at.eq(super::now()),
        outbox::finished_at.eq(None::<NaiveDateTime>),
        outbox::leased_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Give up on a PENDING, DEAD or DROPPED delivery. False when it is delivered or discarded.
pub fn discard(conn: &mut DbConnection, id: i64) -> Result<bool, DbError> {
    let n = diesel::update(
        outbox::table
            .find(id)
            .filter(outbox::state.eq_any([PENDING, DEAD, DROPPED])),
    )
    .set((
        outbox::state.eq(DISCARDED),
        outbox::finished_at.eq(super::now()),
        outbox::leased_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Counts per state, for the admin API.
pub fn counts(conn: &mut DbConnection) -> Result<Vec<(String, i64)>, DbError> {
    Ok(outbox::table
        .group_by(outbox::state)
        .select((outbox::state, diesel::dsl::count_star()))
        .load(conn)?)
}
