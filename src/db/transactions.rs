//! OCPP transactions, their raw messages and normalised meter values.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{ocpp_meter_values, ocpp_transaction_events, ocpp_transactions};
use super::{DbConnection, DbError};

pub const ACTIVE: &str = "ACTIVE";
pub const ENDED: &str = "ENDED";

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = ocpp_transactions)]
pub struct Transaction {
    pub id: i64,
    pub charger_id: String,
    pub transaction_id: String,
    pub protocol: String,
    pub evse_id: Option<i64>,
    pub connector_id: Option<i64>,
    #[serde(skip)]
    pub id_token: Option<String>,
    pub id_token_type: Option<String>,
    pub state: String,
    pub started_at: Option<NaiveDateTime>,
    pub stopped_at: Option<NaiveDateTime>,
    pub meter_start_wh: Option<String>,
    pub meter_stop_wh: Option<String>,
    pub stop_reason: Option<String>,
    pub last_seq_no: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// `tokens.key` of the token the transaction runs on, when the hub knows it.
    pub token_key: Option<String>,
    /// OCPI AuthMethod: AUTH_REQUEST, WHITELIST or COMMAND.
    pub auth_method: Option<String>,
    pub authorization_reference: Option<String>,
    /// Whether the decision on the token let it charge.
    pub authorized: Option<bool>,
    /// The Token (JSON) of a transaction started by an OCPI command.
    #[serde(skip)]
    pub token_object: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = ocpp_meter_values)]
pub struct MeterValue {
    pub id: i64,
    pub transaction_ref: Option<i64>,
    pub charger_id: String,
    pub evse_id: Option<i64>,
    pub sampled_at: NaiveDateTime,
    pub measurand: String,
    pub phase: Option<String>,
    pub context: Option<String>,
    pub location: Option<String>,
    /// Decimal, in `unit`.
    pub value: String,
    pub unit: String,
}

/// A normalised sample, before storage.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMeterValue {
    pub sampled_at: NaiveDateTime,
    pub measurand: String,
    pub phase: Option<String>,
    pub context: Option<String>,
    pub location: Option<String>,
    pub value: String,
    pub unit: String,
}

pub fn get(
    conn: &mut DbConnection,
    charger_id: &str,
    transaction_id: &str,
) -> Result<Option<Transaction>, DbError> {
    Ok(ocpp_transactions::table
        .filter(ocpp_transactions::charger_id.eq(charger_id))
        .filter(ocpp_transactions::transaction_id.eq(transaction_id))
        .select(Transaction::as_select())
        .first(conn)
        .optional()?)
}

pub fn by_ref(conn: &mut DbConnection, id: i64) -> Result<Option<Transaction>, DbError> {
    Ok(ocpp_transactions::table
        .find(id)
        .select(Transaction::as_select())
        .first(conn)
        .optional()?)
}

pub fn of_charger(conn: &mut DbConnection, charger_id: &str) -> Result<Vec<Transaction>, DbError> {
    Ok(ocpp_transactions::table
        .filter(ocpp_transactions::charger_id.eq(charger_id))
        .select(Transaction::as_select())
        .order(ocpp_transactions::id.asc())
        .load(conn)?)
}

/// A 1.6 StartTransaction that was already stored (a charger repeating it after a lost answer).
pub fn find_start(
    conn: &mut DbConnection,
    charger_id: &str,
    connector_id: i64,
    started_at: NaiveDateTime,
) -> Result<Option<Transaction>, DbError> {
    Ok(ocpp_transactions::table
        .filter(ocpp_transactions::charger_id.eq(charger_id))
        .filter(ocpp_transactions::connector_id.eq(connector_id))
        .filter(ocpp_transactions::started_at.eq(started_at))
        .select(Transaction::as_select())
        .first(conn)
        .optional()?)
}

/// How a transaction's token was decided, kept for its session and CDR.
#[derive(Debug, Clone, Copy)]
pub struct Authorization<'a> {
    pub token_key: Option<&'a str>,
    pub method: &'a str,
    pub reference: Option<&'a str>,
    pub authorized: bool,
}

/// Create a transaction; 1.6 ones get their transaction id from the row id (`assign_id`).
/// `auth`: the decision on its token, stored with it (as [`set_authorization`] would).
#[allow(clippy::too_many_arguments)]
pub fn create(
    conn: &mut DbConnection,
    charger_id: &str,
    transaction_id: Option<&str>,
    protocol: &str,
    evse_id: Option<i64>,
    connector_id: Option<i64>,
    id_token: Option<(&str, &str)>,
    started_at: Option<NaiveDateTime>,
    meter_start_wh: Option<&str>,
    auth: Option<Authorization<'_>>,
) -> Result<Transaction, DbError> {
    let now = super::now();
    let provisional = transaction_id
        .map(str::to_string)
        .unwrap_or_else(|| format!("pending-{}", uuid::Uuid::new_v4()));
    let created: Transaction = diesel::insert_into(ocpp_transactions::table)
        .values((
            ocpp_transactions::charger_id.eq(charger_id),
            ocpp_transactions::transaction_id.eq(&provisional),
            ocpp_transactions::protocol.eq(protocol),
            ocpp_transactions::evse_id.eq(evse_id),
            ocpp_transactions::connector_id.eq(connector_id),
            ocpp_transactions::id_token.eq(id_token.map(|t| t.0)),
            ocpp_transactions::id_token_type.eq(id_token.map(|t| t.1)),
            ocpp_transactions::state.eq(ACTIVE),
            ocpp_transactions::started_at.eq(started_at),
            ocpp_transactions::meter_start_wh.eq(meter_start_wh),
            ocpp_transactions::created_at.eq(now),
            ocpp_transactions::updated_at.eq(now),
            ocpp_transactions::token_key.eq(auth.and_then(|a| a.token_key)),
            ocpp_transactions::auth_method.eq(auth.map(|a| a.method)),
            ocpp_transactions::authorization_reference.eq(auth.and_then(|a| a.reference)),
            ocpp_transactions::authorized.eq(auth.map(|a| a.authorized)),
        ))
        .returning(ocpp_transactions::all_columns)
        .get_result(conn)?;
    if transaction_id.is_some() {
        return Ok(created);
    }
    Ok(diesel::update(ocpp_transactions::table.find(created.id))
        .set(ocpp_transactions::transaction_id.eq(created.id.to_string()))
        .returning(ocpp_transactions::all_columns)
        .get_result(conn)?)
}

/// The transaction a stop or event names, created (without start data) when the hub never saw
/// its start: the message is stored and accepted all the same.
pub fn get_or_create(
    conn: &mut DbConnection,
    charger_id: &str,
    transaction_id: &str,
    protocol: &str,
    evse_id: Option<i64>,
    connector_id: Option<i64>,
) -> Result<Transaction, DbError> {
    match get(conn, charger_id, transaction_id)? {
        Some(t) => Ok(t),
        None => create(
            conn,
            charger_id,
            Some(transaction_id),
            protocol,
            evse_id,
            connector_id,
            None,
            None,
            None,
            None,
        ),
    }
}

/// What a later message adds; `None` fields are left as they are.
#[derive(Debug, Clone, Default)]
pub struct TransactionUpdate {
    pub evse_id: Option<i64>,
    pub connector_id: Option<i64>,
    pub id_token: Option<(String, String)>,
    pub started_at: Option<NaiveDateTime>,
    pub meter_start_wh: Option<String>,
    pub ended: Option<(NaiveDateTime, Option<String>, Option<String>)>,
    pub seq_no: Option<i64>,
}

/// The columns an [`update`] changes; `None` leaves a column as it is.
#[derive(AsChangeset)]
#[diesel(table_name = ocpp_transactions)]
struct Changes<'a> {
    updated_at: NaiveDateTime,
    evse_id: Option<i64>,
    connector_id: Option<i64>,
    id_token: Option<&'a str>,
    id_token_type: Option<&'a str>,
    started_at: Option<NaiveDateTime>,
    meter_start_wh: Option<&'a str>,
    state: Option<&'a str>,
    stopped_at: Option<NaiveDateTime>,
    meter_stop_wh: Option<Option<&'a str>>,
    stop_reason: Option<Option<&'a str>>,
    last_seq_no: Option<i64>,
}

/// Apply an update, in one statement; returns the row as it now is. What the stored
/// transaction already has is kept (evse, connector, token, meter start), the earliest start
/// reported wins (Started may arrive after Updated), the seqNo only grows, and an end is
/// recorded whenever one arrives.
pub fn update(
    conn: &mut DbConnection,
    t: &Transaction,
    u: &TransactionUpdate,
) -> Result<Transaction, DbError> {
    let token = u.id_token.as_ref().filter(|_| t.id_token.is_none());
    let ended = u.ended.as_ref();
    let changes = Changes {
        updated_at: super::now(),
        evse_id: u.evse_id.filter(|_| t.evse_id.is_none()),
        connector_id: u.connector_id.filter(|_| t.connector_id.is_none()),
        id_token: token.map(|(tok, _)| tok.as_str()),
        id_token_type: token.map(|(_, ty)| ty.as_str()),
        started_at: u
            .started_at
            .filter(|s| t.started_at.is_none_or(|old| *s < old)),
        meter_start_wh: u
            .meter_start_wh
            .as_deref()
            .filter(|_| t.meter_start_wh.is_none()),
        state: ended.map(|_| ENDED),
        stopped_at: ended.map(|e| e.0),
        meter_stop_wh: ended.map(|e| e.1.as_deref()),
        stop_reason: ended.map(|e| e.2.as_deref()),
        last_seq_no: u
            .seq_no
            .filter(|seq| t.last_seq_no.is_none_or(|old| *seq > old)),
    };
    Ok(diesel::update(ocpp_transactions::table.find(t.id))
        .set(&changes)
        .returning(ocpp_transactions::all_columns)
        .get_result(conn)?)
}

/// True when this (transaction, seqNo) was stored before: a duplicate to acknowledge only.
pub fn has_event(
    conn: &mut DbConnection,
    transaction_ref: i64,
    seq_no: i64,
) -> Result<bool, DbError> {
    let n: i64 = ocpp_transaction_events::table
        .filter(ocpp_transaction_events::transaction_ref.eq(transaction_ref))
        .filter(ocpp_transaction_events::seq_no.eq(seq_no))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

pub fn add_event(
    conn: &mut DbConnection,
    transaction_ref: i64,
    action: &str,
    event_type: Option<&str>,
    seq_no: Option<i64>,
    occurred_at: NaiveDateTime,
    payload: &str,
) -> Result<(), DbError> {
    diesel::insert_into(ocpp_transaction_events::table)
        .values((
            ocpp_transaction_events::transaction_ref.eq(transaction_ref),
            ocpp_transaction_events::action.eq(action),
            ocpp_transaction_events::event_type.eq(event_type),
            ocpp_transaction_events::seq_no.eq(seq_no),
            ocpp_transaction_events::occurred_at.eq(occurred_at),
            ocpp_transaction_events::payload.eq(payload),
            ocpp_transaction_events::received_at.eq(super::now()),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn add_meter_values(
    conn: &mut DbConnection,
    transaction_ref: Option<i64>,
    charger_id: &str,
    evse_id: Option<i64>,
    values: &[NewMeterValue],
) -> Result<(), DbError> {
    let rows: Vec<MeterRow> = values
        .iter()
        .map(|v| MeterRow::of(transaction_ref, charger_id, evse_id, v))
        .collect();
    insert_meter_rows(conn, &rows)
}

/// A meter value row, ready for a multi-row insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = ocpp_meter_values)]
#[diesel(treat_none_as_default_value = false)]
pub struct MeterRow {
    pub transaction_ref: Option<i64>,
    pub charger_id: String,
    pub evse_id: Option<i64>,
    pub sampled_at: NaiveDateTime,
    pub measurand: String,
    pub phase: Option<String>,
    pub context: Option<String>,
    pub location: Option<String>,
    pub value: String,
    pub unit: String,
}

impl MeterRow {
    pub fn of(
        transaction_ref: Option<i64>,
        charger_id: &str,
        evse_id: Option<i64>,
        v: &NewMeterValue,
    ) -> Self {
        Self {
            transaction_ref,
            charger_id: charger_id.to_string(),
            evse_id,
            sampled_at: v.sampled_at,
            measurand: v.measurand.clone(),
            phase: v.phase.clone(),
            context: v.context.clone(),
            location: v.location.clone(),
            value: v.value.clone(),
            unit: v.unit.clone(),
        }
    }
}

/// Meter value rows with multi-row inserts, in order.
pub fn insert_meter_rows(conn: &mut DbConnection, rows: &[MeterRow]) -> Result<(), DbError> {
    // 10 parameters a row on SQLite.
    super::bulk_insert!(conn, ocpp_meter_values::table, rows, 1000);
    Ok(())
}

/// A transaction message, ready for a multi-row insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = ocpp_transaction_events)]
#[diesel(treat_none_as_default_value = false)]
pub struct EventRow {
    pub transaction_ref: i64,
    pub action: String,
    pub event_type: Option<String>,
    pub seq_no: Option<i64>,
    pub occurred_at: NaiveDateTime,
    pub payload: String,
    pub received_at: NaiveDateTime,
}

/// Transaction messages with multi-row inserts, in order (their ids follow the order).
pub fn insert_event_rows(conn: &mut DbConnection, rows: &[EventRow]) -> Result<(), DbError> {
    super::bulk_insert!(conn, ocpp_transaction_events::table, rows, 1000);
    Ok(())
}

/// The transactions named by (charge point, transaction id), in one query per 500 names.
pub fn get_many(
    conn: &mut DbConnection,
    keys: &[(String, String)],
) -> Result<Vec<Transaction>, DbError> {
    if let [(charger_id, transaction_id)] = keys {
        // The usual batch at moderate rates: a statement PostgreSQL plans once per
        // connection (with lists it plans every call, for their lengths).
        return Ok(get(conn, charger_id, transaction_id)?.into_iter().collect());
    }
    let mut found = Vec::new();
    for part in keys.chunks(500) {
        let chargers: Vec<&str> = part.iter().map(|k| k.0.as_str()).collect();
        let ids: Vec<&str> = part.iter().map(|k| k.1.as_str()).collect();
        let rows: Vec<Transaction> = ocpp_transactions::table
            .filter(ocpp_transactions::charger_id.eq_any(&chargers))
            .filter(ocpp_transactions::transaction_id.eq_any(&ids))
            .select(Transaction::as_select())
            .load(conn)?;
        found.extend(rows);
    }
    Ok(found)
}

/// Which of these (transaction, seqNo) pairs are stored already.
pub fn stored_seq_nos(
    conn: &mut DbConnection,
    pairs: &[(i64, i64)],
) -> Result<std::collections::HashSet<(i64, i64)>, DbError> {
    let mut found = std::collections::HashSet::new();
    for part in pairs.chunks(500) {
        let refs: Vec<i64> = part.iter().map(|p| p.0).collect();
        let seqs: Vec<i64> = part.iter().map(|p| p.1).collect();
        let rows: Vec<(i64, Option<i64>)> = ocpp_transaction_events::table
            .filter(ocpp_transaction_events::transaction_ref.eq_any(&refs))
            .filter(ocpp_transaction_events::seq_no.eq_any(&seqs))
            .select((
                ocpp_transaction_events::transaction_ref,
                ocpp_transaction_events::seq_no,
            ))
            .load(conn)?;
        found.extend(rows.into_iter().filter_map(|(r, s)| Some((r, s?))));
    }
    Ok(found)
}

pub fn meter_values(
    conn: &mut DbConnection,
    transaction_ref: i64,
) -> Result<Vec<MeterValue>, DbError> {
    Ok(ocpp_meter_values::table
        .filter(ocpp_meter_values::transaction_ref.eq(transaction_ref))
        .select(MeterValue::as_select())
        .order((
            ocpp_meter_values::sampled_at.asc(),
            ocpp_meter_values::id.asc(),
        ))
        .load(conn)?)
}

/// Record how a transaction was authorised (kept when already set: the first decision holds);
/// returns the row when it changed.
pub fn set_authorization(
    conn: &mut DbConnection,
    id: i64,
    auth: Authorization<'_>,
) -> Result<Option<Transaction>, DbError> {
    Ok(diesel::update(
        ocpp_transactions::table
            .find(id)
            .filter(ocpp_transactions::auth_method.is_null()),
    )
    .set((
        ocpp_transactions::token_key.eq(auth.token_key),
        ocpp_transactions::auth_method.eq(auth.method),
        ocpp_transactions::authorization_reference.eq(auth.reference),
        ocpp_transactions::authorized.eq(auth.authorized),
    ))
    .returning(ocpp_transactions::all_columns)
    .get_result(conn)
    .optional()?)
}

/// The raw payloads of a transaction's messages, in arrival order (for signed meter data).
pub fn event_payloads(
    conn: &mut DbConnection,
    transaction_ref: i64,
) -> Result<Vec<String>, DbError> {
    Ok(ocpp_transaction_events::table
        .filter(ocpp_transaction_events::transaction_ref.eq(transaction_ref))
        .select(ocpp_transaction_events::payload)
        .order(ocpp_transaction_events::id.asc())
        .load(conn)?)
}

/// Tie a transaction to the command that started it: its token, COMMAND and the reference.
pub fn set_command(
    conn: &mut DbConnection,
    id: i64,
    token_json: &str,
    reference: Option<&str>,
) -> Result<(), DbError> {
    diesel::update(ocpp_transactions::table.find(id))
        .set((
            ocpp_transactions::token_object.eq(token_json),
            ocpp_transactions::auth_method.eq("COMMAND"),
            ocpp_transactions::authorization_reference.eq(reference),
            ocpp_transactions::authorized.eq(true),
        ))
        .execute(conn)?;
    Ok(())
}
