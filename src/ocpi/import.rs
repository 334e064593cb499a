//! Locations and tariffs of the hub's own charge points, from a file (`ocpi-hub location import`,
//! `ocpi-hub tariff import`) or the admin API: one OCPI object or an array, validated exactly
//! like a partner's push, owned by the hub's CPO identity, pushed to every eMSP.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::AppError;
use crate::http::json::parse_value;
use crate::state::AppState;

use super::locations::model::Location;
use super::locations::service::{self, LocationRef, Op, Source, Target};
use super::tariffs::model::Tariff;

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
}

/// One object or an array of them.
fn items(doc: Value) -> Vec<Value> {
    match doc {
        Value::Array(v) => v,
        other => vec![other],
    }
}

/// Parse every item first (nothing is stored when one is invalid); the error names the item.
fn parse_all<T: serde::de::DeserializeOwned + validator::Validate>(
    doc: Value,
    owner: &(String, String),
    cc_pid: impl Fn(&T) -> (String, String),
) -> Result<Vec<(T, Value)>, AppError> {
    let list = items(doc);
    if list.is_empty() {
        return Err(AppError::invalid("nothing to import: the array is empty"));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.into_iter().enumerate() {
        let t: T =
            parse_value(v.clone()).map_err(|e| AppError::invalid(format!("item [{i}]: {e}")))?;
        let (cc, pid) = cc_pid(&t);
        if !cc.eq_ignore_ascii_case(&owner.0) || !pid.eq_ignore_ascii_case(&owner.1) {
            return Err(AppError::invalid(format!(
                "item [{i}]: belongs to {cc}/{pid}, but the hub's own charge points are {}/{} (HUB_CPO_COUNTRY_CODE / HUB_CPO_PARTY_ID)",
                owner.0, owner.1
            )));
        }
        out.push((t, v));
    }
    Ok(out)
}

pub async fn import_locations(state: &AppState, doc: Value) -> Result<ImportReport, AppError> {
    let owner = state.settings.own_cpo();
    let parsed = parse_all::<Location>(doc, &owner, |l| {
        (
            l.country_code.as_str().to_string(),
            l.party_id.as_str().to_string(),
        )
    })?;
    let mut report = ImportReport::default();
    for (loc, raw) in parsed {
        let r = LocationRef {
            country_code: loc.country_code.as_str().to_string(),
            party_id: loc.party_id.as_str().to_string(),
            location_id: loc.id.as_str().to_string(),
        };
        let applied =
            service::apply(state, Source::default(), r, Target::Location, Op::Put(raw)).await?;
        if applied.created {
            report.created += 1;
        } else {
            report.updated += 1;
        }
    }
    Ok(report)
}

pub async fn import_tariffs(state: &AppState, doc: Value) -> Result<ImportReport, AppError> {
    let owner = state.settings.own_cpo();
    let parsed = parse_all::<Tariff>(doc, &owner, |t| {
        (
            t.country_code.as_str().to_string(),
            t.party_id.as_str().to_string(),
        )
    })?;
    let mut report = ImportReport::default();
    for (t, _) in parsed {
        if super::tariffs::interfaces::store_tariff(state, None, t).await? {
            report.created += 1;
        } else {
            report.updated += 1;
        }
    }
    Ok(report)
}

/// Read a JSON file for the CLI: 400-style errors name the file.
pub fn read_file(path: &str) -> Result<Value, AppError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| AppError::invalid(format!("{path}: {e}")))?;
    serde_json::from_str(&text).map_err(|e| AppError::invalid(format!("{path}: not JSON: {e}")))
}
