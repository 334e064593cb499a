//! Tariff pricing: from measured intervals of a session to OCPI charging periods, and from
//! charging periods to the cost of the session under a [`Tariff`].
//!
//! Two steps, usable apart:
//! - [`periods`] merges measured [`Interval`]s into [`Period`]s, cutting wherever the tariff
//!   could change the price (local time of day, date, day of week, kWh thresholds, session
//!   duration, power/current, charging state).
//! - [`price`] prices a list of periods (ours, or the charging periods of a CDR a CPO sent) the
//!   way OCPI 2.2.1 reads them: restrictions are evaluated at the start of each period.
//!
//! Money is `rust_decimal` at full precision until the end; every total in [`Costs`] is rounded
//! to 4 decimals (the precision of an OCPI `number`). `docs/pricing.md` describes the rules and
//! where they differ from the `ocpi-tariffs` crate that serves as test oracle.

mod cost;
mod select;
mod split;

#[cfg(test)]
mod oracle_cases;
#[cfg(test)]
mod tests;

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use crate::ocpi::tariffs::model::{Price, Tariff};

/// One measured stretch of a session. Consecutive intervals cover the session without gaps
/// (interval[i].end == interval[i+1].start).
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// kWh delivered in the interval (>= 0).
    pub energy_kwh: Decimal,
    /// false = the vehicle did not request power (PARKING_TIME per the errata).
    pub charging: bool,
    /// Representative power (kW) and current (A, summed over phases), when measured.
    pub power_kw: Option<Decimal>,
    pub current_a: Option<Decimal>,
}

/// An OCPI charging period: a stretch in which nothing cost-relevant changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub energy_kwh: Decimal,
    pub charging: bool,
    pub power_kw: Option<Decimal>, // average over the period when merged (energy/hours) or the measured value
    pub current_a: Option<Decimal>,
    /// The tariff that applies (its id), None when no tariff.
    pub tariff_id: Option<String>,
}

/// Merge `intervals` into periods, cutting at every cost-relevant boundary of `tariff`:
/// local time-of-day / date / day-of-week changes in `tz` that change which element applies,
/// min/max kWh thresholds (interpolate the crossing moment linearly inside an interval),
/// min/max duration since `session_start`, power/current restriction changes (at interval
/// boundaries), and charging <-> not charging. Adjacent intervals with the same applicable
/// elements and charging state are merged into one period. With no tariff: cut only at
/// charging state changes.
///
/// Details: a kWh crossing is placed at the nearest millisecond and carries exactly the
/// threshold's energy; the energy of an interval cut at a time boundary is shared linearly and
/// rounded to 4 decimals (0.1 Wh), so periods add up to the intervals' energy. A merged period's
/// power is the measured value when all its parts agree, else energy / hours; its current is the
/// measured value or the time-weighted mean; either is `None` as soon as one part lacks it.
pub fn periods(
    tariff: Option<&Tariff>,
    tz: Tz,
    session_start: DateTime<Utc>,
    intervals: &[Interval],
) -> Vec<Period> {
    split::periods(tariff, tz, session_start, intervals)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Costs {
    pub total_cost: Price,
    pub total_fixed_cost: Option<Price>,
    pub total_energy_cost: Option<Price>,
    pub total_time_cost: Option<Price>,
    pub total_parking_cost: Option<Price>,
    pub total_reservation_cost: Option<Price>,
    /// kWh, hours, hours.
    pub total_energy: Decimal,
    pub total_time: Decimal,
    pub total_parking_time: Decimal,
}

/// Price a session (or a running session so far) made of `periods`, ending at `end`.
///
/// The periods are read as OCPI charging periods: each lasts from its `start` to the next
/// period's `start`, the last one to `end` (so a running session priced "so far" extends its last
/// period to now). `Period::end` and `Period::tariff_id` are not used. The tariff's restrictions
/// are evaluated at each period's start, in `tz`, with energy and duration counted from
/// `session_start`. The caller picks the tariff (e.g. the one active at session start);
/// `start_date_time`/`end_date_time` of the tariff are not checked here.
///
/// Every amount is rounded to 4 decimals at the end; `incl_vat` is present (equal to `excl_vat`
/// for components without `vat`) except in `total_cost` when `min_price`/`max_price` bounds the
/// amount excluding VAT and gives no amount including VAT. `total_reservation_cost` is always `None`: elements
/// restricted to reservations never apply (an [`Interval`] carries no reservation).
pub fn price(
    tariff: &Tariff,
    tz: Tz,
    session_start: DateTime<Utc>,
    periods: &[Period],
    end: DateTime<Utc>,
) -> Costs {
    cost::price(tariff, tz, session_start, periods, end)
}

/// Parse an IANA zone name (Location.time_zone); None if unknown.
pub fn zone(name: &str) -> Option<Tz> {
    // The only error is "no such zone", which is what `None` says.
    Tz::from_str(name.trim()).ok()
}
