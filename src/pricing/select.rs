//! Which price component applies, per dimension, at one moment of a session.

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use crate::ocpi::tariffs::model::{
    DayOfWeek, PriceComponent, Tariff, TariffDimensionType, TariffRestrictions,
};

/// What the restrictions of a tariff element are evaluated against: the state at the start of a
/// period.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moment {
    pub at: DateTime<Utc>,
    /// Energy delivered since the session started, kWh.
    pub energy_kwh: Decimal,
    /// Milliseconds since the session started.
    pub elapsed_ms: i64,
    pub power_kw: Option<Decimal>,
    pub current_a: Option<Decimal>,
}

/// The applicable component of each dimension, as (element index, component index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Selection {
    pub flat: Option<(usize, usize)>,
    pub energy: Option<(usize, usize)>,
    pub time: Option<(usize, usize)>,
    pub parking: Option<(usize, usize)>,
}

impl Selection {
    pub fn component(tariff: &Tariff, at: Option<(usize, usize)>) -> Option<&PriceComponent> {
        let (e, c) = at?;
        tariff.elements.get(e)?.price_components.get(c)
    }
}

/// Per dimension, the first element whose restrictions all hold and that has a component of that
/// dimension (its first such component).
pub(crate) fn select(tariff: &Tariff, tz: Tz, m: &Moment) -> Selection {
    let mut s = Selection::default();
    for (ei, element) in tariff.elements.iter().enumerate() {
        let holds = element
            .restrictions
            .as_ref()
            .is_none_or(|r| restrictions_hold(r, tz, m));
        if !holds {
            continue;
        }
        for (ci, pc) in element.price_components.iter().enumerate() {
            let slot = match pc.dimension {
                TariffDimensionType::Flat => &mut s.flat,
                TariffDimensionType::Energy => &mut s.energy,
                TariffDimensionType::Time => &mut s.time,
                TariffDimensionType::ParkingTime => &mut s.parking,
            };
            if slot.is_none() {
                *slot = Some((ei, ci));
            }
        }
        if s.flat.is_some() && s.energy.is_some() && s.time.is_some() && s.parking.is_some() {
            break;
        }
    }
    s
}

const DAY_MINUTES: u32 = 24 * 60;

/// Whether local time `t` (seconds since local midnight) lies in the window of `start`/`end`
/// (minutes since midnight). `end` 00:00 means the end of the day; `end <= start` wraps past
/// midnight.
pub(crate) fn in_time_window(t_s: u32, start: Option<u32>, end: Option<u32>) -> bool {
    let end = end.map(|e| if e == 0 { DAY_MINUTES } else { e });
    let t = t_s;
    match (start, end) {
        (None, None) => true,
        (Some(s), None) => t >= s * 60,
        (None, Some(e)) => t < e * 60,
        (Some(s), Some(e)) if s < e => t >= s * 60 && t < e * 60,
        (Some(s), Some(e)) => t >= s * 60 || t < e * 60,
    }
}

fn weekday(d: DayOfWeek) -> Weekday {
    match d {
        DayOfWeek::Monday => Weekday::Mon,
        DayOfWeek::Tuesday => Weekday::Tue,
        DayOfWeek::Wednesday => Weekday::Wed,
        DayOfWeek::Thursday => Weekday::Thu,
        DayOfWeek::Friday => Weekday::Fri,
        DayOfWeek::Saturday => Weekday::Sat,
        DayOfWeek::Sunday => Weekday::Sun,
    }
}

/// `min <= value < max`, each bound optional; an unknown value satisfies no bound.
fn in_range(value: Option<Decimal>, min: Option<Decimal>, max: Option<Decimal>) -> bool {
    if min.is_none() && max.is_none() {
        return true;
    }
    let Some(v) = value else {
        return false;
    };
    min.is_none_or(|m| v >= m) && max.is_none_or(|m| v < m)
}

pub(crate) fn restrictions_hold(r: &TariffRestrictions, tz: Tz, m: &Moment) -> bool {
    // Sessions carry no reservation: reservation elements never apply.
    if r.reservation.is_some() {
        return false;
    }
    let local = m.at.with_timezone(&tz);
    let start = r.start_time.as_ref().map(|t| u32::from(t.minutes()));
    let end = r.end_time.as_ref().map(|t| u32::from(t.minutes()));
    if !in_time_window(local.num_seconds_from_midnight(), start, end) {
        return false;
    }
    let date = local.date_naive();
    if let Some(sd) = r.start_date.as_ref().and_then(|d| d.date())
        && date < sd
    {
        return false;
    }
    if let Some(ed) = r.end_date.as_ref().and_then(|d| d.date())
        && date >= ed
    {
        return false;
    }
    if let Some(days) = &r.day_of_week
        && !days.is_empty()
        && !days.iter().any(|d| weekday(*d) == local.weekday())
    {
        return false;
    }
    if !in_range(Some(m.energy_kwh), r.min_kwh, r.max_kwh) {
        return false;
    }
    if !in_range(m.power_kw, r.min_power, r.max_power) {
        return false;
    }
    if !in_range(m.current_a, r.min_current, r.max_current) {
        return false;
    }
    if r.min_duration
        .is_some_and(|d| m.elapsed_ms < i64::from(d) * 1000)
    {
        return false;
    }
    if r.max_duration
        .is_some_and(|d| m.elapsed_ms >= i64::from(d) * 1000)
    {
        return false;
    }
    true
}
