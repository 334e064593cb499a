//! Measured intervals → OCPI charging periods: cut at every moment the tariff may change the
//! price, then merge neighbours that are priced alike.

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::cost::div;
use super::select::{Moment, Selection, select};
use super::{Interval, Period};
use crate::ocpi::tariffs::model::Tariff;

/// A part of one interval.
#[derive(Debug, Clone)]
struct Piece {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    energy_kwh: Decimal,
    charging: bool,
    power_kw: Option<Decimal>,
    current_a: Option<Decimal>,
}

impl From<&Interval> for Piece {
    fn from(i: &Interval) -> Self {
        Self {
            start: i.start,
            end: i.end,
            energy_kwh: i.energy_kwh,
            charging: i.charging,
            power_kw: i.power_kw,
            current_a: i.current_a,
        }
    }
}

pub(crate) fn periods(
    tariff: Option<&Tariff>,
    tz: Tz,
    session_start: DateTime<Utc>,
    intervals: &[Interval],
) -> Vec<Period> {
    let pieces = match tariff {
        None => intervals.iter().map(Piece::from).collect(),
        Some(t) => cut(t, tz, session_start, intervals),
    };
    merge(tariff, tz, session_start, pieces)
}

fn millis(d: TimeDelta) -> i64 {
    d.num_milliseconds()
}

/// Cut every interval at the tariff's boundaries that fall strictly inside it.
fn cut(
    tariff: &Tariff,
    tz: Tz,
    session_start: DateTime<Utc>,
    intervals: &[Interval],
) -> Vec<Piece> {
    let Some(lo) = intervals.iter().map(|i| i.start).min() else {
        return Vec::new();
    };
    let hi = intervals.iter().map(|i| i.end).max().unwrap_or(lo);
    let mut instants = time_boundaries(tariff, tz, lo, hi);
    for r in tariff
        .elements
        .iter()
        .filter_map(|e| e.restrictions.as_ref())
    {
        for d in [r.min_duration, r.max_duration].into_iter().flatten() {
            instants.push(session_start + TimeDelta::seconds(i64::from(d)));
        }
    }
    instants.sort_unstable();
    instants.dedup();
    let mut thresholds: Vec<Decimal> = tariff
        .elements
        .iter()
        .filter_map(|e| e.restrictions.as_ref())
        .flat_map(|r| [r.min_kwh, r.max_kwh])
        .flatten()
        .filter(|k| k.is_sign_positive() && !k.is_zero())
        .collect();
    thresholds.sort_unstable();
    thresholds.dedup();

    let mut out = Vec::with_capacity(intervals.len());
    let mut cum = Decimal::ZERO;
    for iv in intervals {
        let dur_ms = millis(iv.end - iv.start);
        let e = iv.energy_kwh;
        let end_energy = cum.saturating_add(e);
        // (instant, cumulative energy there, exact?)
        let mut cuts: Vec<(DateTime<Utc>, Decimal, bool)> = Vec::new();
        if dur_ms > 0 {
            let from = instants.partition_point(|x| *x <= iv.start);
            for &x in instants[from..].iter().take_while(|x| **x < iv.end) {
                let frac = div(Decimal::from(millis(x - iv.start)), Decimal::from(dur_ms));
                cuts.push((
                    x,
                    cum.saturating_add(e.saturating_mul(frac)).round_dp(4),
                    false,
                ));
            }
            if e > Decimal::ZERO {
                for &th in thresholds
                    .iter()
                    .filter(|th| cum < **th && **th < end_energy)
                {
                    let off = div(th.saturating_sub(cum), e)
                        .saturating_mul(Decimal::from(dur_ms))
                        .round()
                        .to_i64()
                        .unwrap_or(0);
                    if off > 0 && off < dur_ms {
                        cuts.push((iv.start + TimeDelta::milliseconds(off), th, true));
                    }
                }
            }
        }
        // Order by instant; at one instant keep the exact (threshold) energy.
        cuts.sort_by(|a, b| a.0.cmp(&b.0).then(b.2.cmp(&a.2)));
        cuts.dedup_by_key(|c| c.0);
        // Energies must not decrease: clamp the linear shares between their neighbours.
        let mut lower = cum;
        for c in cuts.iter_mut() {
            if c.1 < lower {
                c.1 = lower;
            }
            if c.1 > end_energy {
                c.1 = end_energy;
            }
            lower = c.1;
        }
        let mut upper = end_energy;
        for c in cuts.iter_mut().rev() {
            if c.1 > upper {
                c.1 = upper;
            }
            upper = c.1;
        }
        let mut prev_t = iv.start;
        let mut prev_e = cum;
        for (t, ce, _) in cuts {
            out.push(Piece {
                start: prev_t,
                end: t,
                energy_kwh: ce.saturating_sub(prev_e),
                charging: iv.charging,
                power_kw: iv.power_kw,
                current_a: iv.current_a,
            });
            prev_t = t;
            prev_e = ce;
        }
        out.push(Piece {
            start: prev_t,
            end: iv.end,
            energy_kwh: end_energy.saturating_sub(prev_e),
            charging: iv.charging,
            power_kw: iv.power_kw,
            current_a: iv.current_a,
        });
        cum = end_energy;
    }
    out
}

/// Instants in `(lo, hi)` at which a time-of-day, date or day-of-week restriction of `tariff`
/// can change its verdict: local midnight, every `start_time`/`end_time`, and the zone's UTC
/// offset changes.
fn time_boundaries(
    tariff: &Tariff,
    tz: Tz,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let restrictions = || {
        tariff
            .elements
            .iter()
            .filter_map(|e| e.restrictions.as_ref())
    };
    let calendar = restrictions().any(|r| {
        r.start_time.is_some()
            || r.end_time.is_some()
            || r.start_date.is_some()
            || r.end_date.is_some()
            || r.day_of_week.as_ref().is_some_and(|d| !d.is_empty())
    });
    if !calendar || hi <= lo {
        return Vec::new();
    }
    let mut minutes: Vec<u32> = vec![0];
    for r in restrictions() {
        for t in [&r.start_time, &r.end_time].into_iter().flatten() {
            minutes.push(u32::from(t.minutes()));
        }
    }
    minutes.sort_unstable();
    minutes.dedup();

    let mut out = offset_changes(tz, lo, hi);
    let first = lo.with_timezone(&tz).date_naive();
    let last = hi.with_timezone(&tz).date_naive();
    let mut day = first.pred_opt().unwrap_or(first);
    while day <= last {
        for &m in &minutes {
            if let Some(local) = day.and_hms_opt(m / 60, m % 60, 0) {
                out.extend(resolve(tz, local));
            }
        }
        match day.succ_opt() {
            Some(d) => day = d,
            None => break,
        }
    }
    out.retain(|t| *t > lo && *t < hi);
    out
}

/// The instants at which the local wall clock shows `local`: one, two (clock set back), or for
/// a time skipped by a clock set forward, the moment the clock jumped past it.
fn resolve(tz: Tz, local: NaiveDateTime) -> Vec<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => vec![t.with_timezone(&Utc)],
        LocalResult::Ambiguous(a, b) => vec![a.with_timezone(&Utc), b.with_timezone(&Utc)],
        LocalResult::None => (1..=24 * 60)
            .find_map(|k| {
                tz.from_local_datetime(&(local + TimeDelta::minutes(k)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc))
            .into_iter()
            .collect(),
    }
}

/// Instants in `[lo - 1h, hi]` where the zone's UTC offset changes (to the second).
fn offset_changes(tz: Tz, lo: DateTime<Utc>, hi: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let offset = |t: DateTime<Utc>| {
        tz.offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc()
    };
    let hour = TimeDelta::hours(1);
    let mut out = Vec::new();
    let mut t = lo - hour;
    while t < hi {
        let next = t + hour;
        if offset(t) != offset(next) {
            let (mut a, mut b) = (t, next);
            while b - a > TimeDelta::seconds(1) {
                let mid = a + (b - a) / 2;
                if offset(mid) == offset(a) {
                    a = mid;
                } else {
                    b = mid;
                }
            }
            out.push(b);
        }
        t = next;
    }
    out
}

/// What makes two neighbouring pieces priced alike: the charging state and the components that
/// apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Signature {
    charging: bool,
    selection: Selection,
}

fn signature(tariff: Option<&Tariff>, tz: Tz, m: &Moment, charging: bool) -> Signature {
    let selection = match tariff {
        None => Selection::default(),
        Some(t) => {
            let s = select(t, tz, m);
            // Only the dimensions that can be billed in this state matter.
            Selection {
                flat: s.flat,
                energy: s.energy,
                time: if charging { s.time } else { None },
                parking: if charging { None } else { s.parking },
            }
        }
    };
    Signature {
        charging,
        selection,
    }
}

/// Running aggregate of the pieces merged into one period.
#[derive(Debug, Clone)]
struct Open {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    energy_at_start: Decimal,
    energy_kwh: Decimal,
    charging: bool,
    sig: Signature,
    power: Agg,
    current: Agg,
}

/// A measured quantity over merged pieces: the value when all agree, else a time-weighted mean;
/// unknown as soon as one piece lacks it.
#[derive(Debug, Clone)]
struct Agg {
    first: Option<Decimal>,
    missing: bool,
    same: bool,
    weighted: Decimal,
    ms: i64,
}

impl Agg {
    fn new(v: Option<Decimal>, ms: i64) -> Self {
        Self {
            first: v,
            missing: v.is_none(),
            same: true,
            weighted: v.unwrap_or_default().saturating_mul(Decimal::from(ms)),
            ms,
        }
    }

    fn add(&mut self, v: Option<Decimal>, ms: i64) {
        match v {
            None => self.missing = true,
            Some(v) => {
                if self.first != Some(v) {
                    self.same = false;
                }
                self.weighted = self
                    .weighted
                    .saturating_add(v.saturating_mul(Decimal::from(ms)));
            }
        }
        self.ms = self.ms.saturating_add(ms);
    }

    fn mean(&self) -> Option<Decimal> {
        if self.missing {
            None
        } else if self.same || self.ms <= 0 {
            self.first
        } else {
            Some(div(self.weighted, Decimal::from(self.ms)))
        }
    }
}

impl Open {
    fn new(p: &Piece, energy_at_start: Decimal, sig: Signature) -> Self {
        let ms = millis(p.end - p.start).max(0);
        Self {
            start: p.start,
            end: p.end,
            energy_at_start,
            energy_kwh: p.energy_kwh,
            charging: p.charging,
            sig,
            power: Agg::new(p.power_kw, ms),
            current: Agg::new(p.current_a, ms),
        }
    }

    fn with(&self, p: &Piece) -> Self {
        let ms = millis(p.end - p.start).max(0);
        let mut o = self.clone();
        o.end = p.end;
        o.energy_kwh = o.energy_kwh.saturating_add(p.energy_kwh);
        o.power.add(p.power_kw, ms);
        o.current.add(p.current_a, ms);
        o
    }

    /// Power: the measured value when all parts agree, else energy / hours.
    fn power_kw(&self) -> Option<Decimal> {
        if self.power.missing {
            return None;
        }
        let ms = millis(self.end - self.start);
        if self.power.same || ms <= 0 {
            return self.power.first;
        }
        Some(div(
            self.energy_kwh.saturating_mul(Decimal::from(3_600_000)),
            Decimal::from(ms),
        ))
    }

    fn moment(&self, session_start: DateTime<Utc>) -> Moment {
        Moment {
            at: self.start,
            energy_kwh: self.energy_at_start,
            elapsed_ms: millis(self.start - session_start),
            power_kw: self.power_kw(),
            current_a: self.current.mean(),
        }
    }

    fn into_period(self, tariff: Option<&Tariff>) -> Period {
        Period {
            start: self.start,
            end: self.end,
            energy_kwh: self.energy_kwh,
            charging: self.charging,
            power_kw: self.power_kw(),
            current_a: self.current.mean(),
            tariff_id: tariff.map(|t| t.id.as_str().to_owned()),
        }
    }
}

fn merge(
    tariff: Option<&Tariff>,
    tz: Tz,
    session_start: DateTime<Utc>,
    pieces: Vec<Piece>,
) -> Vec<Period> {
    let mut out = Vec::new();
    let mut open: Option<Open> = None;
    let mut cum = Decimal::ZERO;
    for p in pieces {
        let m = Moment {
            at: p.start,
            energy_kwh: cum,
            elapsed_ms: millis(p.start - session_start),
            power_kw: p.power_kw,
            current_a: p.current_a,
        };
        let sig = signature(tariff, tz, &m, p.charging);
        let merged = open.as_ref().and_then(|o| {
            if o.sig != sig {
                return None;
            }
            let candidate = o.with(&p);
            // A merged period is priced at its start with its mean power/current: it must still
            // select the same components.
            let again = signature(tariff, tz, &candidate.moment(session_start), p.charging);
            (again == sig).then_some(candidate)
        });
        match merged {
            Some(o) => open = Some(o),
            None => {
                if let Some(o) = open.take() {
                    out.push(o.into_period(tariff));
                }
                open = Some(Open::new(&p, cum, sig));
            }
        }
        cum = cum.saturating_add(p.energy_kwh);
    }
    if let Some(o) = open {
        out.push(o.into_period(tariff));
    }
    out
}
