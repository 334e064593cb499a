//! Test oracle for `ocpi-hub`'s pricing engine.
//!
//! Reads the case file written by the hub's pricing tests (`tests/fixtures/pricing/cases.json`:
//! a list of `{name, tz, tariff, cdr, ...}`), prices every CDR with the `ocpi-tariffs` crate
//! using the case's tariff and IANA time zone, and writes the golden file
//! (`tests/fixtures/pricing/oracle.json`): the same cases, each with the oracle's totals added.
//!
//! Usage: `tariff-oracle <cases.json> <oracle.json>`
//!
//! The oracle only calls the library; it holds no pricing logic of its own. Amounts are written
//! as decimal strings exactly as the library returns them (it rounds totals to 4 decimals).

use std::process::ExitCode;

use chrono_tz::Tz;
use ocpi_tariffs::{Version, cdr, price, tariff};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output] = args.as_slice() else {
        eprintln!("usage: tariff-oracle <cases.json> <oracle.json>");
        return ExitCode::from(2);
    };
    match run(input, output) {
        Ok(count) => {
            println!("tariff-oracle: priced {count} cases into {output}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tariff-oracle: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(input: &str, output: &str) -> Result<usize, String> {
    let text = std::fs::read_to_string(input).map_err(|e| format!("reading {input}: {e}"))?;
    let cases: Vec<Value> =
        serde_json::from_str(&text).map_err(|e| format!("parsing {input}: {e}"))?;
    let mut out = Vec::with_capacity(cases.len());
    for case in cases {
        let Value::Object(mut case) = case else {
            return Err("a case is not a JSON object".into());
        };
        let answer = price_case(&case).unwrap_or_else(|e| json!({ "error": e }));
        case.insert("oracle".into(), answer);
        out.push(Value::Object(case));
    }
    let count = out.len();
    // One case per line, as the hub's test writes it: compact, yet a diff names the cases.
    let lines: Vec<String> = out.iter().map(Value::to_string).collect();
    let text = format!("[\n{}\n]\n", lines.join(",\n"));
    std::fs::write(output, text).map_err(|e| format!("writing {output}: {e}"))?;
    Ok(count)
}

fn price_case(case: &Map<String, Value>) -> Result<Value, String> {
    let tz_name = case
        .get("tz")
        .and_then(Value::as_str)
        .ok_or("case has no `tz`")?;
    let tz: Tz = tz_name
        .parse()
        .map_err(|e| format!("unknown time zone {tz_name}: {e}"))?;
    let tariff_json = serde_json::to_string(case.get("tariff").ok_or("case has no `tariff`")?)
        .map_err(|e| e.to_string())?;
    let cdr_json = serde_json::to_string(case.get("cdr").ok_or("case has no `cdr`")?)
        .map_err(|e| e.to_string())?;

    let tariff = tariff::parse_with_version(&tariff_json, Version::V221)
        .map_err(|e| format!("tariff: {e}"))?;
    let cdr = cdr::parse_with_version(&cdr_json, Version::V221).map_err(|e| format!("cdr: {e}"))?;
    let report =
        cdr::price(&cdr.cdr, price::TariffSource::single(tariff.tariff), tz).map_err(|set| {
            let (error, _) = set.into_parts();
            format!("pricing: {} at {}", error.warning(), error.element().path())
        })?;
    let (report, warnings) = report.into_parts();

    // Volumes with more than 4 decimals (durations in hours) are expected: not reported.
    let warnings: Vec<Value> = warnings
        .path_id_map()
        .into_iter()
        .flat_map(|(path, ids)| {
            ids.into_iter()
                .filter(|id| id.as_str() != "excessive_precision")
                .map(move |id| Value::String(format!("{path}: {id}")))
        })
        .collect();

    Ok(json!({
        "total_cost": opt_price(report.total_cost.calculated),
        "total_fixed_cost": opt_price(report.total_fixed_cost.calculated),
        "total_energy_cost": opt_price(report.total_energy_cost.calculated),
        "total_time_cost": opt_price(report.total_charging_time_cost.calculated),
        "total_parking_cost": opt_price(report.total_idle_cost.calculated),
        "total_energy": report.total_energy.calculated.map(|k| dec(k.into())),
        "total_time": hours(report.total_time.calculated),
        "total_charging_time": report.total_charging_time.map(hours),
        "total_parking_time": report.total_idle_time.calculated.map(hours),
        "billed_energy": report.billed_energy.map(|k| dec(k.into())),
        "billed_charging_time": report.billed_charging_time.map(hours),
        "billed_parking_time": report.billed_idle_time.map(hours),
        "warnings": warnings,
    }))
}

fn dec(d: Decimal) -> Value {
    Value::String(d.normalize().to_string())
}

fn opt_price(p: Option<ocpi_tariffs::Price>) -> Value {
    match p {
        None => Value::Null,
        Some(p) => json!({
            "excl_vat": dec(p.excl_vat.into()),
            "incl_vat": p.incl_vat.map(|v| dec(v.into())),
        }),
    }
}

/// A duration as decimal hours, rounded to 6 decimals (about 4 ms).
fn hours(d: chrono::TimeDelta) -> Value {
    let ms = Decimal::from(d.num_milliseconds());
    dec((ms / Decimal::from(3_600_000)).round_dp(6))
}
