//! The spec's worked examples (with tariffs written here, figures from the spec text) and the
//! boundary splitting of `periods()`.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::*;

pub(super) fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

pub(super) fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub(super) fn tariff_json(id: &str, elements: Value, extra: Value) -> Value {
    let mut v = json!({
        "country_code": "NL",
        "party_id": "HUB",
        "id": id,
        "currency": "EUR",
        "elements": elements,
        "last_updated": "2024-01-01T00:00:00Z"
    });
    if let (Value::Object(o), Value::Object(x)) = (&mut v, extra) {
        o.extend(x);
    }
    v
}

pub(super) fn tariff(elements: Value) -> Tariff {
    serde_json::from_value(tariff_json("T1", elements, json!({}))).unwrap()
}

pub(super) fn tariff_with(elements: Value, extra: Value) -> Tariff {
    serde_json::from_value(tariff_json("T1", elements, extra)).unwrap()
}

/// A price component; `vat` < 0 means absent.
pub(super) fn pc(dimension: &str, price: f64, vat: f64, step: u32) -> Value {
    let mut v = json!({"type": dimension, "price": price, "step_size": step});
    if vat >= 0.0 {
        v["vat"] = json!(vat);
    }
    v
}

/// A stretch of a session: seconds, kWh, charging, power kW, current A.
#[derive(Debug, Clone)]
pub(super) struct Seg {
    pub seconds: i64,
    pub kwh: Decimal,
    pub charging: bool,
    pub power: Option<Decimal>,
    pub current: Option<Decimal>,
}

pub(super) fn charge(minutes: i64, kwh: &str) -> Seg {
    charge_s(minutes * 60, kwh)
}

pub(super) fn charge_s(seconds: i64, kwh: &str) -> Seg {
    Seg {
        seconds,
        kwh: d(kwh),
        charging: true,
        power: None,
        current: None,
    }
}

pub(super) fn park(minutes: i64) -> Seg {
    park_s(minutes * 60)
}

pub(super) fn park_s(seconds: i64) -> Seg {
    Seg {
        seconds,
        kwh: Decimal::ZERO,
        charging: false,
        power: Some(Decimal::ZERO),
        current: Some(Decimal::ZERO),
    }
}

impl Seg {
    pub fn kw(mut self, kw: &str) -> Self {
        self.power = Some(d(kw));
        self
    }
    pub fn amps(mut self, a: &str) -> Self {
        self.current = Some(d(a));
        self
    }
}

/// Consecutive intervals from `start`: each segment cut into `chunk`-minute intervals (meter
/// values), its energy shared by duration at 1 Wh, the last interval taking the remainder.
pub(super) fn session(start: DateTime<Utc>, segs: &[Seg], chunk: i64) -> Vec<Interval> {
    let mut out = Vec::new();
    let mut at = start;
    for s in segs {
        let mut done = 0;
        let mut given = Decimal::ZERO;
        let chunk = chunk * 60;
        while done < s.seconds {
            let len = chunk.min(s.seconds - done);
            let energy = if done + len == s.seconds {
                s.kwh - given
            } else {
                (s.kwh * Decimal::from(len) / Decimal::from(s.seconds)).round_dp(3)
            };
            let end = at + TimeDelta::seconds(len);
            out.push(Interval {
                start: at,
                end,
                energy_kwh: energy,
                charging: s.charging,
                power_kw: s.power,
                current_a: s.current,
            });
            given += energy;
            done += len;
            at = end;
        }
    }
    out
}

fn run(tariff: &Tariff, tz: Tz, start: &str, segs: &[Seg]) -> Costs {
    let start = t(start);
    let iv = session(start, segs, 15);
    let end = iv.last().unwrap().end;
    let ps = periods(Some(tariff), tz, start, &iv);
    price(tariff, tz, start, &ps, end)
}

fn money(p: &Price) -> (Decimal, Decimal) {
    (p.excl_vat, p.incl_vat.unwrap())
}

fn total(c: &Costs) -> (Decimal, Decimal) {
    money(&c.total_cost)
}

fn pair(excl: &str, incl: &str) -> (Decimal, Decimal) {
    (d(excl), d(incl))
}

const UTC: Tz = Tz::UTC;
const AMS: Tz = Tz::Europe__Amsterdam;

#[test]
fn energy_flat_min_and_max_price() {
    let energy = || json!([{"price_components": [pc("ENERGY", 0.25, 10.0, 1)]}]);
    let c = run(
        &tariff(energy()),
        UTC,
        "2024-05-06T10:00:00Z",
        &[charge(120, "20")],
    );
    assert_eq!(total(&c), pair("5.00", "5.50"));
    assert_eq!(c.total_energy, d("20"));
    assert_eq!(c.total_time, d("2"));
    assert_eq!(c.total_fixed_cost, None);
    assert_eq!(c.total_time_cost, None);

    let with_flat = tariff(json!([{"price_components": [
        pc("FLAT", 0.50, 20.0, 1), pc("ENERGY", 0.25, 10.0, 1)
    ]}]));
    let c = run(
        &with_flat,
        UTC,
        "2024-05-06T10:00:00Z",
        &[charge(120, "20")],
    );
    assert_eq!(total(&c), pair("5.50", "6.10"));
    assert_eq!(money(&c.total_fixed_cost.unwrap()), pair("0.50", "0.60"));

    let min = tariff_with(
        energy(),
        json!({"min_price": {"excl_vat": 0.50, "incl_vat": 0.55}}),
    );
    let c = run(&min, UTC, "2024-05-06T10:00:00Z", &[charge(120, "20")]);
    assert_eq!(total(&c), pair("5.00", "5.50"));
    let c = run(&min, UTC, "2024-05-06T10:00:00Z", &[charge(20, "1")]);
    assert_eq!(total(&c), pair("0.50", "0.55"));
    assert_eq!(money(&c.total_energy_cost.unwrap()), pair("0.25", "0.275"));

    let max = tariff_with(
        json!([{"price_components": [pc("FLAT", 0.50, 20.0, 1), pc("ENERGY", 0.25, 10.0, 1)]}]),
        json!({"max_price": {"excl_vat": 10, "incl_vat": 11}}),
    );
    let c = run(&max, UTC, "2024-05-06T10:00:00Z", &[charge(240, "50")]);
    assert_eq!(total(&c), pair("10.00", "11.00"));
    let c = run(&max, UTC, "2024-05-06T10:00:00Z", &[charge(180, "30")]);
    assert_eq!(total(&c), pair("8.00", "8.85"));
}

#[test]
fn energy_step_size_per_wh() {
    // 115.2 Wh at 0.25/kWh: step 1 → 116 Wh, 25 → 125 Wh, 500 → 500 Wh.
    for (step, excl) in [(1, "0.029"), (25, "0.0313"), (500, "0.125")] {
        let tr = tariff(json!([{"price_components": [pc("ENERGY", 0.25, -1.0, step)]}]));
        let c = run(&tr, UTC, "2024-05-06T10:00:00Z", &[charge(5, "0.1152")]);
        assert_eq!(c.total_cost.excl_vat, d(excl), "step {step}");
        // No VAT given: the amount including VAT is the same.
        assert_eq!(c.total_cost.incl_vat, Some(d(excl)));
    }
}

#[test]
fn parking_fee_and_start_fee() {
    // 20 kWh, then 40 minutes parked, parking billed per 15 minutes → 45 minutes.
    let tr = tariff(json!([{"price_components": [
        pc("FLAT", 0.50, 20.0, 1), pc("ENERGY", 0.25, 10.0, 1), pc("PARKING_TIME", 2.00, 20.0, 900)
    ]}]));
    let c = run(
        &tr,
        UTC,
        "2024-05-06T10:00:00Z",
        &[charge(120, "20"), park(40)],
    );
    assert_eq!(total(&c), pair("7.00", "7.90"));
    assert_eq!(money(&c.total_parking_cost.unwrap()), pair("1.50", "1.80"));
    assert_eq!(c.total_parking_time, d("0.6667"));
    assert_eq!(c.total_time, d("2.6667"));
}

#[test]
fn time_and_parking_per_hour() {
    let time = tariff(json!([{"price_components": [pc("TIME", 2.00, 10.0, 60)]}]));
    let c = run(&time, UTC, "2024-05-06T10:00:00Z", &[charge(150, "30")]);
    assert_eq!(total(&c), pair("5.00", "5.50"));

    let both = tariff(json!([{"price_components": [
        pc("TIME", 3.00, 10.0, 60), pc("PARKING_TIME", 5.00, 20.0, 300)
    ]}]));
    let c = run(
        &both,
        UTC,
        "2024-05-06T10:00:00Z",
        &[charge(150, "30"), park(42)],
    );
    assert_eq!(total(&c), pair("11.25", "12.75"));

    // 1.90/h, 5.2% VAT, per 5 minutes: 2.5 h → 4.75 (5.00 incl).
    let alt = tariff(json!([{"price_components": [pc("TIME", 1.90, 5.2, 300)]}]));
    let c = run(&alt, UTC, "2024-05-06T10:00:00Z", &[charge(150, "30")]);
    assert_eq!(total(&c), pair("4.75", "4.997"));
}

/// The spec's complex example: start fee, charging time by current and day, parking by day
/// and time of day.
fn complex() -> Tariff {
    tariff(json!([
        {"price_components": [pc("FLAT", 2.50, 15.0, 1)]},
        {"price_components": [pc("TIME", 1.00, 20.0, 900)],
         "restrictions": {"max_current": 32.00}},
        {"price_components": [pc("TIME", 2.00, 20.0, 600)],
         "restrictions": {"min_current": 32.00,
            "day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]}},
        {"price_components": [pc("TIME", 1.25, 20.0, 600)],
         "restrictions": {"min_current": 32.00, "day_of_week": ["SATURDAY", "SUNDAY"]}},
        {"price_components": [pc("PARKING_TIME", 5.00, 10.0, 300)],
         "restrictions": {"start_time": "09:00", "end_time": "18:00",
            "day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]}},
        {"price_components": [pc("PARKING_TIME", 6.00, 10.0, 300)],
         "restrictions": {"start_time": "10:00", "end_time": "17:00", "day_of_week": ["SATURDAY"]}}
    ]))
}

#[test]
fn complex_tariff() {
    // Monday 09:30 local, 165 minutes at 16 A, 42 minutes parked.
    let c = run(
        &complex(),
        AMS,
        "2024-05-06T07:30:00Z",
        &[charge(165, "10").amps("16"), park(42)],
    );
    assert_eq!(total(&c), pair("9.00", "10.30"));
    assert_eq!(money(&c.total_time_cost.unwrap()), pair("2.75", "3.30"));
    assert_eq!(money(&c.total_parking_cost.unwrap()), pair("3.75", "4.125"));

    // Saturday 13:30 local, 114 minutes at 43 A, 71 minutes parked → 75 minutes at 6.00.
    // (The spec's table prices the 114 minutes at 2.28, which is 1.20/h; at 1.25/h it is
    // 2.375, so the totals are 12.375 / 13.975 rather than the printed 12.28 / 13.861.)
    let c = run(
        &complex(),
        AMS,
        "2024-05-04T11:30:00Z",
        &[charge(114, "40").amps("43"), park(71)],
    );
    assert_eq!(money(&c.total_parking_cost.unwrap()), pair("7.50", "8.25"));
    assert_eq!(money(&c.total_time_cost.unwrap()), pair("2.375", "2.85"));
    assert_eq!(total(&c), pair("12.375", "13.975"));
}

/// The spec's step_size example tariff: charging 1.20/h before 17:00 per 30 minutes, 2.40/h
/// after per 15 minutes, parking 1.00/h before 20:00 per 15 minutes.
fn step_example() -> Tariff {
    tariff(json!([
        {"price_components": [pc("TIME", 1.20, -1.0, 1800)], "restrictions": {"end_time": "17:00"}},
        {"price_components": [pc("TIME", 2.40, -1.0, 900)], "restrictions": {"start_time": "17:00"}},
        {"price_components": [pc("PARKING_TIME", 1.00, -1.0, 900)], "restrictions": {"end_time": "20:00"}}
    ]))
}

#[test]
fn step_size_when_switching_elements() {
    // 16:55, 10 minutes charging, 2 parked: 5 min at 1.20 + 5 min at 2.40 + 15 min parking.
    let c = run(
        &step_example(),
        UTC,
        "2024-05-06T16:55:00Z",
        &[charge(10, "2"), park(2)],
    );
    assert_eq!(total(&c), pair("0.55", "0.55"));

    // 16:35, 35 minutes charging, no parking: rounded to 45 minutes, the last 20 at 2.40.
    let c = run(
        &step_example(),
        UTC,
        "2024-05-06T16:35:00Z",
        &[charge(35, "5")],
    );
    assert_eq!(total(&c), pair("1.30", "1.30"));

    // The corrected example (errata): 19:40, 12 minutes charging, 20 parked of which 8 before
    // 20:00 are billable; those are rounded up to 15 minutes: 0.48 + 0.25 = 0.73.
    let c = run(
        &step_example(),
        UTC,
        "2024-05-06T19:40:00Z",
        &[charge(12, "2"), park(20)],
    );
    assert_eq!(money(&c.total_time_cost.unwrap()), pair("0.48", "0.48"));
    assert_eq!(money(&c.total_parking_cost.unwrap()), pair("0.25", "0.25"));
    assert_eq!(total(&c), pair("0.73", "0.73"));
    assert_eq!(c.total_parking_time, d("0.3333"));
}

#[test]
fn step_size_counts_the_session_total() {
    // Energy 0.20 before 17:00, 0.27 after, per 500 Wh: 4.3 + 1.1 = 5.4 → 5.5 kWh.
    let tr = tariff(json!([
        {"price_components": [pc("ENERGY", 0.20, -1.0, 500)], "restrictions": {"end_time": "17:00"}},
        {"price_components": [pc("ENERGY", 0.27, -1.0, 500)]}
    ]));
    let c = run(
        &tr,
        UTC,
        "2024-05-06T16:00:00Z",
        &[charge(60, "4.3"), charge(20, "1.1")],
    );
    assert_eq!(total(&c), pair("1.184", "1.184"));

    // Time 5/h before 17:00, 7/h after, per 10 minutes: 6 + 22 = 28 → 30 minutes.
    let tr = tariff(json!([
        {"price_components": [pc("TIME", 5.00, -1.0, 600)], "restrictions": {"end_time": "17:00"}},
        {"price_components": [pc("TIME", 7.00, -1.0, 600)]}
    ]));
    let c = run(&tr, UTC, "2024-05-06T16:54:00Z", &[charge(28, "3")]);
    assert_eq!(total(&c), pair("3.30", "3.30"));

    // Charging 1.00/h and parking 2.00/h, both per 10 minutes: 21 minutes charging stay 21,
    // 16 minutes parking become 20.
    let tr = tariff(json!([{"price_components": [
        pc("TIME", 1.00, -1.0, 600), pc("PARKING_TIME", 2.00, -1.0, 600)
    ]}]));
    let c = run(
        &tr,
        UTC,
        "2024-05-06T10:00:00Z",
        &[charge(21, "3"), park(16)],
    );
    assert_eq!(money(&c.total_time_cost.unwrap()), pair("0.35", "0.35"));
    assert_eq!(
        money(&c.total_parking_cost.unwrap()),
        pair("0.6667", "0.6667")
    );
}

#[test]
fn max_power_tiers() {
    // 1 kWh at 6 kW, 40 kWh at 48 kW, 0.5 kWh at 4 kW → 0.20 + 20.00 + 0.10.
    let tr = tariff(json!([
        {"price_components": [pc("ENERGY", 0.20, -1.0, 1)], "restrictions": {"max_power": 16.00}},
        {"price_components": [pc("ENERGY", 0.35, -1.0, 1)], "restrictions": {"max_power": 32.00}},
        {"price_components": [pc("ENERGY", 0.50, -1.0, 1)]}
    ]));
    let start = t("2024-05-06T10:00:00Z");
    let iv = session(
        start,
        &[
            charge(10, "1").kw("6"),
            charge(50, "40").kw("48"),
            charge(8, "0.5").kw("4"),
        ],
        5,
    );
    let ps = periods(Some(&tr), UTC, start, &iv);
    assert_eq!(ps.len(), 3, "{ps:#?}");
    assert_eq!(ps[1].power_kw, Some(d("48")));
    let c = price(&tr, UTC, start, &ps, iv.last().unwrap().end);
    assert_eq!(total(&c), pair("20.30", "20.30"));

    // Power not measured: the power tiers cannot be shown to hold, the fallback applies.
    let mut blind = iv.clone();
    for i in &mut blind {
        i.power_kw = None;
    }
    let ps = periods(Some(&tr), UTC, start, &blind);
    assert_eq!(ps.len(), 1);
    let c = price(&tr, UTC, start, &ps, iv.last().unwrap().end);
    assert_eq!(total(&c), pair("20.75", "20.75"));
}

#[test]
fn max_duration_tiers() {
    // Free for 30 minutes, then 0.25/kWh, after an hour 0.40/kWh.
    let tr = tariff(json!([
        {"price_components": [pc("ENERGY", 0.00, -1.0, 1)], "restrictions": {"max_duration": 1800}},
        {"price_components": [pc("ENERGY", 0.25, -1.0, 1)], "restrictions": {"max_duration": 3600}},
        {"price_components": [pc("ENERGY", 0.40, -1.0, 1)]}
    ]));
    let c = run(
        &tr,
        UTC,
        "2024-05-06T10:00:00Z",
        &[charge(30, "5"), charge(10, "1.2")],
    );
    assert_eq!(total(&c), pair("0.30", "0.30"));

    // One 40-minute interval is cut at 30 minutes; its energy is shared by time.
    let start = t("2024-05-06T10:00:00Z");
    let iv = session(start, &[charge(40, "6.2")], 40);
    let ps = periods(Some(&tr), UTC, start, &iv);
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[0].end, t("2024-05-06T10:30:00Z"));
    assert_eq!(ps[0].energy_kwh, d("4.65"));
    let c = price(&tr, UTC, start, &ps, iv[0].end);
    assert_eq!(total(&c), pair("0.3875", "0.3875"));
}

#[test]
fn night_switch_cuts_at_local_2300() {
    let tr = tariff(json!([
        {"price_components": [pc("ENERGY", 0.15, 21.0, 1)],
         "restrictions": {"start_time": "23:00", "end_time": "07:00"}},
        {"price_components": [pc("ENERGY", 0.30, 21.0, 1)]}
    ]));
    // 22:00 to 01:00 Amsterdam time in winter (UTC+1), meter values every 15 minutes.
    let start = t("2024-01-15T21:00:00Z");
    let iv = session(start, &[charge(180, "30")], 15);
    assert_eq!(iv.len(), 12);
    let ps = periods(Some(&tr), AMS, start, &iv);
    assert_eq!(ps.len(), 2, "{ps:#?}");
    assert_eq!((ps[0].start, ps[0].end), (start, t("2024-01-15T22:00:00Z")));
    assert_eq!(
        (ps[1].start, ps[1].end),
        (t("2024-01-15T22:00:00Z"), t("2024-01-16T00:00:00Z"))
    );
    assert_eq!(ps[0].energy_kwh, d("10"));
    assert_eq!(ps[1].energy_kwh, d("20"));
    assert_eq!(ps[1].tariff_id.as_deref(), Some("T1"));
    let c = price(&tr, AMS, start, &ps, iv[11].end);
    assert_eq!(total(&c), pair("6.00", "7.26"));

    // Same session in one 3-hour interval: cut inside it, energy shared linearly.
    let one = session(start, &[charge(180, "30")], 180);
    let ps = periods(Some(&tr), AMS, start, &one);
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[0].end, t("2024-01-15T22:00:00Z"));
    assert_eq!(ps[0].energy_kwh, d("10"));
}

#[test]
fn kwh_threshold_is_interpolated() {
    let tr = tariff(json!([
        {"price_components": [pc("ENERGY", 0.20, -1.0, 1)], "restrictions": {"max_kwh": 10}},
        {"price_components": [pc("ENERGY", 0.40, -1.0, 1)], "restrictions": {"min_kwh": 10}}
    ]));
    let start = t("2024-05-06T10:00:00Z");
    let iv = session(start, &[charge(60, "20")], 60);
    let ps = periods(Some(&tr), UTC, start, &iv);
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[0].end, t("2024-05-06T10:30:00Z"));
    assert_eq!((ps[0].energy_kwh, ps[1].energy_kwh), (d("10"), d("10")));
    let c = price(&tr, UTC, start, &ps, iv[0].end);
    assert_eq!(total(&c), pair("6.00", "6.00"));
}

#[test]
fn dst_changes_are_local_time() {
    // Spring forward in Amsterdam: 2024-03-31 02:00 CET becomes 03:00 CEST (01:00Z). A night
    // rate until 03:00 local ends at 01:00Z.
    let tr = tariff(json!([
        {"price_components": [pc("TIME", 1.00, -1.0, 1)],
         "restrictions": {"start_time": "22:00", "end_time": "03:00"}},
        {"price_components": [pc("TIME", 2.00, -1.0, 1)]}
    ]));
    let start = t("2024-03-31T00:00:00Z");
    let iv = session(start, &[charge(180, "30")], 60);
    let ps = periods(Some(&tr), AMS, start, &iv);
    assert_eq!(ps.len(), 2, "{ps:#?}");
    assert_eq!(ps[0].end, t("2024-03-31T01:00:00Z"));
    let c = price(&tr, AMS, start, &ps, iv[2].end);
    assert_eq!(total(&c), pair("5.00", "5.00"));

    // Fall back: 2024-10-27 03:00 CEST becomes 02:00 CET (01:00Z); 02:30 happens twice.
    let tr = tariff(json!([
        {"price_components": [pc("TIME", 1.00, -1.0, 1)], "restrictions": {"start_time": "02:30"}},
        {"price_components": [pc("TIME", 2.00, -1.0, 1)]}
    ]));
    let start = t("2024-10-26T23:00:00Z"); // 01:00 CEST
    let iv = session(start, &[charge(180, "30")], 60);
    let ps = periods(Some(&tr), AMS, start, &iv);
    let cuts: Vec<_> = ps.iter().map(|p| p.start).collect();
    assert_eq!(
        cuts,
        vec![
            start,
            t("2024-10-27T00:30:00Z"), // 02:30 CEST
            t("2024-10-27T01:00:00Z"), // back to 02:00 CET
            t("2024-10-27T01:30:00Z"), // 02:30 CET
        ]
    );
}

#[test]
fn weekdays_and_dates_are_local() {
    // Weekend rate by local day: Saturday 00:00 in Tokyo is Friday 15:00Z.
    let tr = tariff(json!([
        {"price_components": [pc("ENERGY", 0.10, -1.0, 1)],
         "restrictions": {"day_of_week": ["SATURDAY", "SUNDAY"]}},
        {"price_components": [pc("ENERGY", 0.30, -1.0, 1)],
         "restrictions": {"start_date": "2024-05-01", "end_date": "2024-06-01"}},
        {"price_components": [pc("ENERGY", 0.50, -1.0, 1)]}
    ]));
    let tokyo = Tz::Asia__Tokyo;
    let start = t("2024-05-31T14:00:00Z"); // Friday 23:00 in Tokyo, last day of the promotion
    let iv = session(start, &[charge(120, "20")], 30);
    let ps = periods(Some(&tr), tokyo, start, &iv);
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[1].start, t("2024-05-31T15:00:00Z"));
    let c = price(&tr, tokyo, start, &ps, iv.last().unwrap().end);
    // 10 kWh at 0.30 (May, Friday), then 10 kWh at 0.10 (Saturday).
    assert_eq!(total(&c), pair("4.00", "4.00"));

    // The end date is exclusive: on 2024-06-03 (a Monday) the fallback applies.
    let start = t("2024-06-03T01:00:00Z");
    let iv = session(start, &[charge(60, "10")], 30);
    let ps = periods(Some(&tr), tokyo, start, &iv);
    let c = price(&tr, tokyo, start, &ps, iv.last().unwrap().end);
    assert_eq!(total(&c), pair("5.00", "5.00"));
}

#[test]
fn reservation_elements_never_apply() {
    let tr = tariff(json!([
        {"price_components": [pc("FLAT", 2.00, 20.0, 1), pc("TIME", 5.00, 20.0, 300)],
         "restrictions": {"reservation": "RESERVATION"}},
        {"price_components": [pc("FLAT", 0.50, 20.0, 1), pc("ENERGY", 0.25, 10.0, 1)]}
    ]));
    let c = run(&tr, UTC, "2024-05-06T10:00:00Z", &[charge(120, "20")]);
    assert_eq!(total(&c), pair("5.50", "6.10"));
    assert_eq!(c.total_time_cost, None);
    assert_eq!(c.total_reservation_cost, None);
}

#[test]
fn without_tariff_only_charging_changes_cut() {
    let start = t("2024-05-06T10:00:00Z");
    let iv = session(
        start,
        &[
            charge(60, "10").kw("10"),
            charge(30, "9").kw("18"),
            park(20),
            charge(10, "1").kw("6"),
        ],
        10,
    );
    let ps = periods(None, Tz::Europe__Oslo, start, &iv);
    assert_eq!(ps.len(), 3, "{ps:#?}");
    assert!(ps.iter().all(|p| p.tariff_id.is_none()));
    assert_eq!(ps[0].energy_kwh, d("19"));
    // Merged: energy / hours.
    assert_eq!(ps[0].power_kw, Some(d("12.666666666666666666666666667")));
    assert_eq!(ps[1].power_kw, Some(Decimal::ZERO));
    assert_eq!(ps[2].power_kw, Some(d("6")));
    assert!(periods(None, UTC, start, &[]).is_empty());
}

#[test]
fn merged_power_must_select_the_same_element() {
    // 10 kW and 30 kW both fall back to element 1; their mean, 20 kW, would select element 0.
    let tr = tariff(json!([
        {"price_components": [pc("ENERGY", 0.10, -1.0, 1)],
         "restrictions": {"min_power": 15, "max_power": 25}},
        {"price_components": [pc("ENERGY", 0.50, -1.0, 1)]}
    ]));
    let start = t("2024-05-06T10:00:00Z");
    let iv = session(
        start,
        &[charge(30, "5").kw("10"), charge(30, "15").kw("30")],
        30,
    );
    let ps = periods(Some(&tr), UTC, start, &iv);
    assert_eq!(ps.len(), 2);
    let c = price(&tr, UTC, start, &ps, iv[1].end);
    assert_eq!(total(&c), pair("10.00", "10.00"));
}

#[test]
fn running_session_extends_the_last_period() {
    let tr = tariff(json!([{"price_components": [pc("TIME", 6.00, -1.0, 1)]}]));
    let start = t("2024-05-06T10:00:00Z");
    let iv = session(start, &[charge(30, "5")], 15);
    let ps = periods(Some(&tr), UTC, start, &iv);
    let c = price(&tr, UTC, start, &ps, t("2024-05-06T10:40:00Z"));
    assert_eq!(total(&c), pair("4.00", "4.00"));
    assert_eq!(c.total_time, d("0.6667"));
}

#[test]
fn time_windows() {
    use super::select::in_time_window;
    let h = |x: u32| x * 3600;
    // 23:00–07:00 wraps.
    assert!(in_time_window(h(23), Some(23 * 60), Some(7 * 60)));
    assert!(in_time_window(h(3), Some(23 * 60), Some(7 * 60)));
    assert!(!in_time_window(h(7), Some(23 * 60), Some(7 * 60)));
    // end 00:00 is the end of the day, alone or after a start.
    assert!(in_time_window(h(23) + 3599, Some(18 * 60), Some(0)));
    assert!(!in_time_window(h(17), Some(18 * 60), Some(0)));
    assert!(in_time_window(h(12), None, Some(0)));
    assert!(!in_time_window(h(17), None, Some(17 * 60)));
}

#[test]
fn zones() {
    assert_eq!(zone("Europe/Oslo"), Some(Tz::Europe__Oslo));
    assert_eq!(zone(" UTC "), Some(Tz::UTC));
    assert_eq!(zone("Mars/Olympus_Mons"), None);
}

#[test]
fn absurd_amounts_saturate_instead_of_panicking() {
    let mut tr = tariff(json!([{"price_components": [
        pc("FLAT", 1.0, 20.0, 1), pc("ENERGY", 1.0, 20.0, 1), pc("TIME", 1.0, 20.0, 1)
    ]}]));
    for pc in &mut tr.elements[0].price_components {
        pc.price = Decimal::MAX;
    }
    let c = run(&tr, UTC, "2024-05-06T10:00:00Z", &[charge(600, "1000000")]);
    assert_eq!(c.total_cost.excl_vat, Decimal::MAX);
}
