//! Meter values to one form: energy in Wh, power in W, other measurands in their own unit;
//! 1.6 strings and 2.0.1 numbers with `unitOfMeasure.multiplier`; timestamps without a zone
//! read as UTC. A sample that cannot be read is skipped (logged), never fails the message.

use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use serde_json::Value;

use crate::db::transactions::NewMeterValue;
use crate::ocpi::types::DateTime;

/// Scale `value` in `unit` to the hub's unit for the measurand. Returns (value, unit).
pub fn normalise(
    measurand: &str,
    value: Decimal,
    unit: Option<&str>,
    multiplier: i32,
) -> (Decimal, String) {
    let scaled = if multiplier >= 0 {
        value * Decimal::from(10i64.pow(multiplier.min(18) as u32))
    } else {
        value / Decimal::from(10i64.pow((-multiplier).min(18) as u32))
    };
    let energy = measurand.starts_with("Energy");
    let power = measurand.starts_with("Power");
    let default_unit = if energy {
        "Wh"
    } else if power {
        "W"
    } else {
        ""
    };
    let unit = unit.unwrap_or(default_unit);
    let k = Decimal::from(1000);
    let (v, u) = match unit {
        "kWh" => (scaled * k, "Wh"),
        "kvarh" => (scaled * k, "varh"),
        "kW" => (scaled * k, "W"),
        "kvar" => (scaled * k, "var"),
        other => (scaled, other),
    };
    (v.normalize(), u.to_string())
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

/// The samples of a list of OCPP `MeterValue`s (either version).
pub fn samples(meter_values: &Value, v201: bool) -> Vec<NewMeterValue> {
    let mut out = Vec::new();
    for mv in meter_values.as_array().into_iter().flatten() {
        let Some(at) = mv
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse(t).ok())
        else {
            tracing::warn!("meter value without a readable timestamp skipped");
            continue;
        };
        for sv in mv
            .get("sampledValue")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let raw = if v201 {
                sv.get("value")
                    .and_then(Value::as_f64)
                    .and_then(Decimal::from_f64)
            } else {
                sv.get("value")
                    .and_then(Value::as_str)
                    .and_then(|s| s.trim().parse::<Decimal>().ok())
            };
            let Some(raw) = raw else {
                tracing::warn!("sampled value that is not a number skipped");
                continue;
            };
            let measurand =
                text(sv, "measurand").unwrap_or_else(|| "Energy.Active.Import.Register".into());
            let (unit, multiplier) = if v201 {
                let uom = sv.get("unitOfMeasure");
                (
                    uom.and_then(|u| text(u, "unit")),
                    uom.and_then(|u| u.get("multiplier"))
                        .and_then(Value::as_i64)
                        .unwrap_or(0) as i32,
                )
            } else {
                (text(sv, "unit"), 0)
            };
            let (value, unit) = normalise(&measurand, raw, unit.as_deref(), multiplier);
            out.push(NewMeterValue {
                sampled_at: at.naive(),
                measurand,
                phase: text(sv, "phase"),
                context: text(sv, "context"),
                location: text(sv, "location"),
                value: value.to_string(),
                unit,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn units_and_multipliers() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(
            normalise("Energy.Active.Import.Register", d("12.5"), Some("kWh"), 0),
            (d("12500"), "Wh".into())
        );
        assert_eq!(
            normalise("Energy.Active.Import.Register", d("12500"), None, 0),
            (d("12500"), "Wh".into())
        );
        assert_eq!(
            normalise("Energy.Active.Import.Register", d("12.5"), Some("Wh"), 3),
            (d("12500"), "Wh".into())
        );
        assert_eq!(
            normalise("Power.Active.Import", d("7.4"), Some("kW"), 0),
            (d("7400"), "W".into())
        );
        assert_eq!(
            normalise("Current.Import", d("160"), Some("A"), -1),
            (d("16"), "A".into())
        );
    }

    #[test]
    fn both_versions_and_bad_samples() {
        let v16 = json!([{"timestamp": "2026-01-01T10:00:00", "sampledValue": [
            {"value": "1.234", "unit": "kWh"},
            {"value": "16.0", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
            {"value": "n/a"}
        ]}]);
        let s = samples(&v16, false);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].value.as_str(), s[0].unit.as_str()), ("1234", "Wh"));
        assert_eq!(s[0].sampled_at.to_string(), "2026-01-01 10:00:00");
        assert_eq!(s[1].phase.as_deref(), Some("L1"));
        let v201 = json!([{"timestamp": "2026-01-01T10:00:00Z", "sampledValue": [
            {"value": 5.5, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "kWh", "multiplier": 1}, "context": "Sample.Periodic"}
        ]}, {"sampledValue": [{"value": 1}]}]);
        let s = samples(&v201, true);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].value.as_str(), s[0].unit.as_str()), ("55000", "Wh"));
        assert_eq!(s[0].context.as_deref(), Some("Sample.Periodic"));
    }
}
