//! Transaction messages: 1.6 StartTransaction / StopTransaction / MeterValues and 2.0.1
//! TransactionEvent, plus Authorize. They are stored as received and accepted: a charge point
//! that gets a CALLERROR for a transaction message may drop the data, so only a failure to store
//! is an error. 2.0.1 events are kept by `seqNo`: a duplicate is acknowledged and ignored, an
//! `Ended` before an `Updated` ends the transaction for good.

use serde_json::{Value, json};

use crate::db::transactions::{self as store, TransactionUpdate};
use crate::ocpi::types::DateTime;

use crate::ocpi::tokens::authorize::{self, Decision};

use super::bridge;
use super::frame::{ErrorKind, RpcError, Version};
use super::handlers::Ctx;
use super::meter;
use super::tx_batch::Job;

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn i(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(Value::as_i64)
}

fn at(v: &Value) -> chrono::NaiveDateTime {
    v.get("timestamp")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse(t).ok())
        .unwrap_or_else(DateTime::now)
        .naive()
}

/// The hub's decision on the id token of a message (None: the message carries none).
async fn decide(
    ctx: &Ctx<'_>,
    token: Option<(&str, Option<&str>)>,
    evse: Option<i64>,
) -> Option<Decision> {
    decide_reserved(ctx, token, evse, false).await.0
}

/// [`decide`], and (when `reserve`) the active reservation of the EVSE with whether it is for
/// this token, read together.
async fn decide_reserved(
    ctx: &Ctx<'_>,
    token: Option<(&str, Option<&str>)>,
    evse: Option<i64>,
    reserve: bool,
) -> (
    Option<Decision>,
    Option<(crate::db::commands::Reservation, bool)>,
) {
    let Some((uid, kind)) = token else {
        return (None, None);
    };
    let reserved_evse = evse.filter(|_| reserve);
    let (d, r) =
        authorize::decide_reserved(ctx.state, ctx.charger_id, uid, kind, evse, reserved_evse).await;
    let uid = uid.to_ascii_uppercase();
    (
        Some(d),
        r.map(|r| {
            let mine = r.token_uid == uid;
            (r, mine)
        }),
    )
}

/// An EVSE reserved for another token refuses this one; the reserving token uses it up.
fn apply_reservation(
    d: Option<Decision>,
    r: &Option<(crate::db::commands::Reservation, bool)>,
) -> Option<Decision> {
    match (d, r) {
        (Some(d), Some((_, false))) => Some(Decision {
            allowed: Some(crate::ocpi::tokens::model::AllowedType::Blocked),
            ..d
        }),
        (d, _) => d,
    }
}

async fn use_reservation(ctx: &Ctx<'_>, r: Option<(crate::db::commands::Reservation, bool)>) {
    if let Some((r, true)) = r {
        crate::ocpi::commands::service::release(ctx.state, &r, crate::db::commands::USED).await;
    }
}

/// Keep on the transaction `t` how its token was decided, for the session and CDR. Returns
/// the transaction as it now is, or None when it changed in a way only a new read shows (a
/// command's token): see [`sync_after`].
fn record_decision(
    c: &mut crate::db::DbConnection,
    t: store::Transaction,
    d: Option<&Decision>,
) -> Result<Option<store::Transaction>, crate::db::DbError> {
    let Some(d) = d else {
        return Ok(Some(t));
    };
    if let Some(id) = &d.command_id
        && let Some(cmd) = crate::db::commands::get(c, id)?
    {
        // The command's token (not necessarily in the tokens store) and its reference.
        let request: Value = serde_json::from_str(&cmd.request).unwrap_or(Value::Null);
        if t.token_object.is_none() {
            store::set_command(
                c,
                t.id,
                &request["token"].to_string(),
                d.reference.as_deref(),
            )?;
        }
        crate::db::commands::set_transaction(c, id, t.id)?;
        return Ok(None);
    }
    let changed = store::set_authorization(c, t.id, authorization(d))?;
    Ok(Some(changed.unwrap_or(t)))
}

/// What the transaction keeps of a decision that is not a command's.
fn authorization(d: &Decision) -> store::Authorization<'_> {
    store::Authorization {
        token_key: d.token_key.as_deref(),
        method: d.method,
        reference: d.reference.as_deref(),
        authorized: d.is_allowed(),
    }
}

/// [`bridge::sync`] of transaction `tx`, from `current` (its row as it now is) when known.
fn sync_after(
    c: &mut crate::db::DbConnection,
    cfg: &bridge::BridgeSettings,
    tx: i64,
    current: Option<store::Transaction>,
) -> Result<bridge::Enqueued, crate::db::DbError> {
    match current {
        Some(t) => bridge::sync_read(c, cfg, t),
        None => bridge::sync(c, cfg, tx),
    }
}

/// `idTokenInfo` (2.0.1): the status, and the group of the token when it has one.
fn id_token_info(d: &Decision) -> Value {
    let mut info = json!({"status": d.ocpp201_status()});
    if let Some(g) = &d.group_id {
        info["groupIdToken"] = json!({"idToken": g, "type": "Central"});
    }
    info
}

/// `idTagInfo` (1.6): the status, and the group as `parentIdTag` (at most 20 characters).
fn id_tag_info(d: &Decision) -> Value {
    let mut info = json!({"status": d.ocpp16_status()});
    if let Some(g) = d.group_id.as_ref().filter(|g| g.len() <= 20) {
        info["parentIdTag"] = json!(g);
    }
    info
}

/// Hand the session and CDR deliveries a message enqueued to the push worker.
fn wake(ctx: &Ctx<'_>, pushed: &[i64]) {
    ctx.state.outbox_wakeup.enqueued(pushed);
}

/// Store a message through the batched writer (see `tx_batch`); the empty answer once stored.
async fn batched(ctx: &Ctx<'_>, id: &str, job: Job) -> Result<Value, RpcError> {
    ctx.state
        .ocpp_tx
        .store(job)
        .await
        .map(|()| json!({}))
        .map_err(|e| failed(id, e))
}

fn failed(id: &str, e: impl std::fmt::Display) -> RpcError {
    tracing::error!(error = %e, "transaction message not stored");
    RpcError::new(
        id,
        ErrorKind::Internal,
        "could not store the message; send it again",
    )
}

/// The last energy register reading among the samples, in Wh.
fn energy_register(samples: &[crate::db::transactions::NewMeterValue]) -> Option<String> {
    samples
        .iter()
        .rev()
        .find(|m| m.measurand == "Energy.Active.Import.Register" && m.unit == "Wh")
        .map(|m| m.value.clone())
}

/// The actions whose data a charge point could drop when refused: always accepted.
pub fn is_transaction_message(action: &str) -> bool {
    matches!(
        action,
        "StartTransaction" | "StopTransaction" | "MeterValues" | "TransactionEvent"
    )
}

/// Answer a transaction-related action; `None` when `action` is not one.
pub async fn handle(
    ctx: &Ctx<'_>,
    id: &str,
    action: &str,
    p: &Value,
) -> Option<Result<Value, RpcError>> {
    let charger = ctx.charger_id.to_string();
    let raw = p.to_string();
    let p = p.clone();
    let db = &ctx.state.db;
    let cfg = bridge::BridgeSettings::of(ctx.state);
    let out = match (ctx.version, action) {
        (Version::V16, "Authorize") => {
            let tag = s(&p, "idTag").unwrap_or_default();
            let d = authorize::decide(ctx.state, ctx.charger_id, &tag, None, None).await;
            Ok(json!({"idTagInfo": id_tag_info(&d)}))
        }
        (Version::V201, "Authorize") => {
            let token = p.get("idToken").cloned().unwrap_or(Value::Null);
            let uid = s(&token, "idToken").unwrap_or_default();
            let kind = s(&token, "type");
            let d = authorize::decide(ctx.state, ctx.charger_id, &uid, kind.as_deref(), None).await;
            Ok(json!({"idTokenInfo": id_token_info(&d)}))
        }
        (Version::V16, "StartTransaction") => {
            let started = at(&p);
            let connector = i(&p, "connectorId");
            let tag = s(&p, "idTag");
            let (decision, reserved) =
                decide_reserved(ctx, tag.as_deref().map(|t| (t, None)), connector, true).await;
            let decision = apply_reservation(decision, &reserved);
            let info = decision.as_ref().map(id_tag_info);
            let allowed = decision.as_ref().is_some_and(Decision::is_allowed);
            let auth = decision.clone();
            let known_reservation = reserved.clone();
            let meter_start = i(&p, "meterStart").map(|m| m.to_string());
            let stored = db
                .write(move |c| {
                    let repeated = match connector {
                        Some(cn) => store::find_start(c, &charger, cn, started)?,
                        None => None,
                    };
                    // A new transaction stores a decision that is not a command's with its
                    // insert (no update after), and has no session or meter values to read.
                    let by_command = auth.as_ref().is_some_and(|d| d.command_id.is_some());
                    let own = auth.as_ref().filter(|_| !by_command);
                    let (t, created) = match repeated {
                        Some(t) => (t, false),
                        None => {
                            let t = store::create(
                                c,
                                &charger,
                                None,
                                "ocpp1.6",
                                connector,
                                connector,
                                tag.as_deref().map(|t| (t, "ISO14443")),
                                Some(started),
                                meter_start.as_deref(),
                                own.map(authorization),
                            )?;
                            store::add_event(
                                c,
                                t.id,
                                "StartTransaction",
                                Some("Started"),
                                None,
                                started,
                                &raw,
                            )?;
                            (t, true)
                        }
                    };
                    let tx = t.id;
                    let pushed = if created && !by_command {
                        let reservation = known_reservation.as_ref().map(|(r, _)| r);
                        bridge::sync_created(c, &cfg, t, reservation)?
                    } else {
                        // Repeated, or started by a command: the decision is recorded now.
                        let current = record_decision(c, t, auth.as_ref())?;
                        sync_after(c, &cfg, tx, current)?
                    };
                    Ok((tx, pushed))
                })
                .await;
            match stored {
                Ok((tx, pushed)) => {
                    wake(ctx, &pushed);
                    use_reservation(ctx, reserved.filter(|_| allowed)).await;
                    Ok(
                        json!({"transactionId": tx, "idTagInfo": info.unwrap_or_else(|| json!({"status": "Invalid"}))}),
                    )
                }
                Err(e) => Err(failed(id, e)),
            }
        }
        (Version::V16, "StopTransaction") => {
            let ended = at(&p);
            let tx_id = i(&p, "transactionId")
                .map(|t| t.to_string())
                .unwrap_or_else(|| "unknown".into());
            let meter_stop = i(&p, "meterStop").map(|m| m.to_string());
            let reason = s(&p, "reason").or(Some("Local".into()));
            let samples = p
                .get("transactionData")
                .map(|d| meter::samples(d, false))
                .unwrap_or_default();
            let tag = s(&p, "idTag");
            let decision = decide(ctx, tag.as_deref().map(|t| (t, None)), None).await;
            db.write(move |c| {
                let t = store::get_or_create(c, &charger, &tx_id, "ocpp1.6", None, None)?;
                store::add_event(c, t.id, "StopTransaction", Some("Ended"), None, ended, &raw)?;
                store::add_meter_values(c, Some(t.id), &charger, t.evse_id, &samples)?;
                let t = store::update(
                    c,
                    &t,
                    &TransactionUpdate {
                        ended: Some((ended, meter_stop, reason)),
                        ..Default::default()
                    },
                )?;
                bridge::sync_read(c, &cfg, t)
            })
            .await
            .map(|pushed| wake(ctx, &pushed))
            .map(|()| match &decision {
                Some(d) => json!({"idTagInfo": id_tag_info(d)}),
                None => json!({}),
            })
            .map_err(|e| failed(id, e))
        }
        (Version::V16, "MeterValues") => {
            // Batched with other transaction updates (see `tx_batch`); answered once stored.
            let job = Job::MeterValues16 {
                charger_id: charger,
                connector_id: i(&p, "connectorId"),
                transaction_id: i(&p, "transactionId").map(|t| t.to_string()),
                samples: p
                    .get("meterValue")
                    .map(|d| meter::samples(d, false))
                    .unwrap_or_default(),
                raw,
                received_at: crate::db::now(),
            };
            batched(ctx, id, job).await
        }
        (Version::V201, "TransactionEvent")
            if s(&p, "eventType").as_deref() == Some("Updated") && p.get("idToken").is_none() =>
        {
            let evse = p.get("evse").and_then(|e| i(e, "id"));
            let info = p.get("transactionInfo").cloned().unwrap_or(Value::Null);
            let job = Job::Updated201 {
                charger_id: charger,
                transaction_id: s(&info, "transactionId").unwrap_or_else(|| "unknown".into()),
                evse_id: evse,
                connector_id: p.get("evse").and_then(|e| i(e, "connectorId")),
                seq_no: i(&p, "seqNo"),
                at: at(&p),
                samples: p
                    .get("meterValue")
                    .map(|d| meter::samples(d, true))
                    .unwrap_or_default(),
                raw,
            };
            batched(ctx, id, job).await
        }
        (Version::V201, "TransactionEvent") => {
            let when = at(&p);
            let event = s(&p, "eventType").unwrap_or_else(|| "Updated".into());
            let seq = i(&p, "seqNo");
            let info = p.get("transactionInfo").cloned().unwrap_or(Value::Null);
            let tx_id = s(&info, "transactionId").unwrap_or_else(|| "unknown".into());
            let evse = p.get("evse").and_then(|e| i(e, "id"));
            let connector = p.get("evse").and_then(|e| i(e, "connectorId"));
            let token = p
                .get("idToken")
                .and_then(|t| Some((s(t, "idToken")?, s(t, "type").unwrap_or_default())));
            let (decision, reserved) = decide_reserved(
                ctx,
                token.as_ref().map(|(u, k)| (u.as_str(), Some(k.as_str()))),
                evse,
                event != "Ended",
            )
            .await;
            let decision = apply_reservation(decision, &reserved);
            let allowed = decision.as_ref().is_some_and(Decision::is_allowed);
            let auth = decision.clone();
            let samples = p
                .get("meterValue")
                .map(|d| meter::samples(d, true))
                .unwrap_or_default();
            let stopped_reason = s(&info, "stoppedReason").or(Some("Local".into()));
            let stored = db
                .write(move |c| {
                    let t =
                        store::get_or_create(c, &charger, &tx_id, "ocpp2.0.1", evse, connector)?;
                    if let Some(n) = seq
                        && store::has_event(c, t.id, n)?
                    {
                        return Ok(Vec::new());
                    }
                    store::add_event(c, t.id, "TransactionEvent", Some(&event), seq, when, &raw)?;
                    store::add_meter_values(c, Some(t.id), &charger, evse.or(t.evse_id), &samples)?;
                    let register = energy_register(&samples);
                    let mut u = TransactionUpdate {
                        evse_id: evse,
                        connector_id: connector,
                        id_token: token,
                        seq_no: seq,
                        ..Default::default()
                    };
                    match event.as_str() {
                        "Started" => {
                            u.started_at = Some(when);
                            u.meter_start_wh = register;
                        }
                        "Ended" => u.ended = Some((when, register, stopped_reason)),
                        _ => {}
                    }
                    let t = store::update(c, &t, &u)?;
                    let tx = t.id;
                    let current = record_decision(c, t, auth.as_ref())?;
                    sync_after(c, &cfg, tx, current)
                })
                .await;
            match stored {
                Ok(pushed) => {
                    wake(ctx, &pushed);
                    use_reservation(ctx, reserved.filter(|_| allowed)).await;
                    Ok(match &decision {
                        Some(d) => json!({"idTokenInfo": id_token_info(d)}),
                        None => json!({}),
                    })
                }
                Err(e) => Err(failed(id, e)),
            }
        }
        _ => return None,
    };
    Some(out)
}
