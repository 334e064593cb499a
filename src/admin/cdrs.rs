//! Operator views of sessions and CDRs: CDR corrections (a credit CDR, then optionally a
//! replacement), the usage log of a charge point and the CSV export of completed transactions.

use actix_web::{HttpResponse, get, post, web};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::db::{cdrs, sessions, transactions};
use crate::error::AppError;
use crate::http::auth::Admin;
use crate::http::envelope::OcpiResponse;
use crate::http::json::parse_value;
use crate::ocpi::cdrs::model::Cdr;
use crate::ocpi::sessions::model::Session;
use crate::ocpi::types::{CiString, DateTime};
use crate::ocpp::bridge;
use crate::state::AppState;

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct CreditRequest {
    /// Fields of a corrected CDR (e.g. `total_cost`, `total_energy`, `charging_periods`):
    /// merged over the credited CDR and sent, with a new id, after the credit CDR. Absent: only
    /// the credit CDR is issued.
    #[serde(default)]
    pub replacement: Option<Value>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreditResult {
    #[schema(value_type = Object)]
    pub credit: Value,
    #[schema(value_type = Option<Object>)]
    pub replacement: Option<Value>,
}

/// Correct a CDR of the hub's own charge points: issue its credit CDR (id `{id}-C`,
/// `credit=true`, `credit_reference_id`, every cost negated) and optionally a replacement
/// CDR, both POSTed to the eMSP after the original. A CDR is credited at most once.
#[utoipa::path(
    tag = "admin",
    params(
        ("country_code" = String, Path, description = "the hub's CPO country code"),
        ("party_id" = String, Path, description = "the hub's CPO party id"),
        ("cdr_id" = String, Path, description = "CDR.id to credit"),
    ),
    request_body = CreditRequest,
    responses((status = 200, description = "Envelope with the credit CDR and the replacement", body = CreditResult),
               (status = 404, description = "Unknown CDR"),
               (status = 401, description = "Missing, forged or expired admin token")),
    security(("admin_jwt" = []))
)]
#[post("/admin/cdrs/{country_code}/{party_id}/{cdr_id}/credit")]
pub async fn credit(
    state: web::Data<AppState>,
    _a: Admin,
    path: web::Path<(String, String, String)>,
    body: Option<web::Json<CreditRequest>>,
) -> Result<OcpiResponse<CreditResult>, AppError> {
    let (cc, pid, id) = path.into_inner();
    let req = body.map(|b| b.into_inner()).unwrap_or_default();
    let (own_cc, own_pid) = state.settings.own_cpo();
    if !cc.eq_ignore_ascii_case(&own_cc) || !pid.eq_ignore_ascii_case(&own_pid) {
        return Err(AppError::invalid(
            "only CDRs of the hub's own charge points can be credited here",
        ));
    }
    let key = sessions::object_key(&cc, &pid, &id);
    let lookup = key.clone();
    let original = state
        .db
        .read(move |c| cdrs::get(c, &lookup))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("unknown CDR {cc}/{pid}/{id}")))?;
    let cdr: Cdr = serde_json::from_str(&original.object).map_err(AppError::internal)?;
    if cdr.is_credit() {
        return Err(AppError::invalid("a credit CDR cannot be credited"));
    }
    let now = DateTime::now();
    let mut credit = cdr.clone();
    credit.id = CiString::new(format!("{}-C", cdr.id)).map_err(AppError::invalid)?;
    credit.credit = Some(true);
    credit.credit_reference_id =
        Some(CiString::new(cdr.id.to_string()).map_err(AppError::invalid)?);
    credit.total_cost = cdr.total_cost.negated();
    for c in [
        &mut credit.total_fixed_cost,
        &mut credit.total_energy_cost,
        &mut credit.total_time_cost,
        &mut credit.total_parking_cost,
        &mut credit.total_reservation_cost,
    ] {
        *c = c.map(|a| a.negated());
    }
    credit.last_updated = now;
    let replacement = match req.replacement {
        None => None,
        Some(fields) => {
            let Some(fields) = fields.as_object() else {
                return Err(AppError::invalid("`replacement` must be a JSON object"));
            };
            let mut merged = serde_json::to_value(&cdr).map_err(AppError::internal)?;
            if let Some(o) = merged.as_object_mut() {
                // The owner and the token stay the original's; id and credit fields are new.
                for (k, v) in fields {
                    if !["country_code", "party_id", "cdr_token"].contains(&k.as_str()) {
                        o.insert(k.clone(), v.clone());
                    }
                }
                o.remove("credit");
                o.remove("credit_reference_id");
                o.insert(
                    "id".into(),
                    Value::String(uuid::Uuid::new_v4().simple().to_string()),
                );
                o.insert("last_updated".into(), Value::String(now.to_string()));
            }
            let r: Cdr = parse_value(merged)?;
            Some(r)
        }
    };
    let group = bridge::cdr_group(original.session_key.as_deref(), &key);
    let (c2, r2) = (credit.clone(), replacement.clone());
    let session_key = original.session_key.clone();
    let (own_cc, own_pid, orig_id) = (
        cdr.country_code.clone(),
        cdr.party_id.clone(),
        cdr.id.clone(),
    );
    state
        .db
        .write(move |c| {
            if cdrs::credited(c, own_cc.as_str(), own_pid.as_str(), orig_id.as_str())? {
                return Err(crate::db::DbError::Other("already credited".into()));
            }
            bridge::store_and_send_cdr(c, None, &c2, Some(&group), session_key.as_deref(), None)?;
            if let Some(r) = &r2 {
                bridge::store_and_send_cdr(c, None, r, Some(&group), session_key.as_deref(), None)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| match e {
            crate::db::DbError::Other(m) if m == "already credited" => {
                AppError::invalid(format!("CDR {} was credited before", cdr.id))
            }
            other => other.into(),
        })?;
    state.outbox_wakeup.notify();
    Ok(OcpiResponse::ok(CreditResult {
        credit: serde_json::to_value(&credit).map_err(AppError::internal)?,
        replacement: replacement
            .map(|r| serde_json::to_value(&r))
            .transpose()
            .map_err(AppError::internal)?,
    }))
}

/// One transaction of a charge point, as the operator's usage log shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageRow {
    pub transaction_id: String,
    pub evse_id: Option<i64>,
    pub connector_id: Option<i64>,
    pub state: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<DateTime>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub stopped_at: Option<DateTime>,
    /// Seconds from start to stop (or to now while running).
    pub duration_secs: Option<i64>,
    /// kWh, from the OCPI session (meter readings).
    #[serde(with = "crate::ocpi::locations::model::decimal_json::option")]
    #[schema(value_type = Option<f64>)]
    pub energy_kwh: Option<Decimal>,
    /// Excluding VAT, in `currency`.
    #[serde(with = "crate::ocpi::locations::model::decimal_json::option")]
    #[schema(value_type = Option<f64>)]
    pub cost_excl_vat: Option<Decimal>,
    #[serde(with = "crate::ocpi::locations::model::decimal_json::option")]
    #[schema(value_type = Option<f64>)]
    pub cost_incl_vat: Option<Decimal>,
    pub currency: Option<String>,
    pub session_id: Option<String>,
    pub session_status: Option<String>,
    pub stop_reason: Option<String>,
}

async fn usage_rows(state: &AppState, charger: String) -> Result<Vec<UsageRow>, AppError> {
    let rows = state
        .db
        .read(move |c| {
            let txs = transactions::of_charger(c, &charger)?;
            let mut out = Vec::with_capacity(txs.len());
            for t in txs {
                let s = sessions::of_transaction(c, t.id)?;
                out.push((t, s));
            }
            Ok(out)
        })
        .await?;
    let now = crate::db::now();
    Ok(rows
        .into_iter()
        .map(|(t, s)| {
            let session: Option<Session> = s
                .as_ref()
                .and_then(|r| serde_json::from_str(&r.object).ok());
            UsageRow {
                transaction_id: t.transaction_id.clone(),
                evse_id: t.evse_id,
                connector_id: t.connector_id,
                state: t.state.clone(),
                started_at: t.started_at.map(DateTime::from_naive),
                stopped_at: t.stopped_at.map(DateTime::from_naive),
                duration_secs: t
                    .started_at
                    .map(|a| (t.stopped_at.unwrap_or(now) - a).num_seconds()),
                energy_kwh: session.as_ref().map(|s| s.kwh),
                cost_excl_vat: session
                    .as_ref()
                    .and_then(|s| s.total_cost)
                    .map(|c| c.excl_vat),
                cost_incl_vat: session
                    .as_ref()
                    .and_then(|s| s.total_cost)
                    .and_then(|c| c.incl_vat),
                currency: session.as_ref().map(|s| s.currency.to_string()),
                session_id: session.as_ref().map(|s| s.id.to_string()),
                session_status: session.as_ref().map(|s| s.status.as_str().to_string()),
                stop_reason: t.stop_reason.clone(),
            }
        })
        .collect())
}

/// The usage log of a charge point: every transaction with energy, cost and duration.
#[utoipa::path(
    tag = "chargers",
    params(("id" = String, Path, description = "charge point id")),
    responses((status = 200, description = "Envelope with the transactions, oldest first", body = Vec<UsageRow>),
               (status = 401, description = "Missing, forged or expired admin token")),
    security(("admin_jwt" = []))
)]
#[get("/api/chargers/{id}/transactions")]
pub async fn usage(
    state: web::Data<AppState>,
    _a: Admin,
    id: web::Path<String>,
) -> Result<OcpiResponse<Vec<UsageRow>>, AppError> {
    Ok(OcpiResponse::ok(usage_rows(&state, id.into_inner()).await?))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Completed transactions of every charge point as CSV (one row per transaction).
#[utoipa::path(
    tag = "chargers",
    responses((status = 200, description = "text/csv: charger_id, transaction_id, evse_id, connector_id, started_at, stopped_at, duration_secs, energy_kwh, cost_excl_vat, cost_incl_vat, currency, session_id, stop_reason", content_type = "text/csv"),
               (status = 401, description = "Missing, forged or expired admin token")),
    security(("admin_jwt" = []))
)]
#[get("/api/transactions.csv")]
pub async fn export_csv(state: web::Data<AppState>, _a: Admin) -> Result<HttpResponse, AppError> {
    let chargers = state.db.read(crate::db::chargers::list).await?;
    let mut out = String::from(
        "charger_id,transaction_id,evse_id,connector_id,started_at,stopped_at,duration_secs,energy_kwh,cost_excl_vat,cost_incl_vat,currency,session_id,stop_reason\n",
    );
    let opt = |v: Option<String>| v.map(|s| csv_field(&s)).unwrap_or_default();
    for c in chargers {
        for r in usage_rows(&state, c.id.clone()).await? {
            if r.state != transactions::ENDED {
                continue;
            }
            out.push_str(
                &[
                    csv_field(&c.id),
                    csv_field(&r.transaction_id),
                    opt(r.evse_id.map(|v| v.to_string())),
                    opt(r.connector_id.map(|v| v.to_string())),
                    opt(r.started_at.map(|v| v.to_string())),
                    opt(r.stopped_at.map(|v| v.to_string())),
                    opt(r.duration_secs.map(|v| v.to_string())),
                    opt(r.energy_kwh.map(|v| v.to_string())),
                    opt(r.cost_excl_vat.map(|v| v.to_string())),
                    opt(r.cost_incl_vat.map(|v| v.to_string())),
                    opt(r.currency),
                    opt(r.session_id),
                    opt(r.stop_reason),
                ]
                .join(","),
            );
            out.push('\n');
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"transactions.csv\"",
        ))
        .body(out))
}
