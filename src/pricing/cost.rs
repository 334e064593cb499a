//! Charging periods + tariff → costs.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::{Decimal, RoundingStrategy};

use super::select::{Moment, Selection, select};
use super::{Costs, Period};
use crate::ocpi::tariffs::model::{Price, PriceComponent, Tariff};

/// Decimals of every amount and quantity in [`Costs`] (an OCPI `number`).
pub(crate) const DECIMALS: u32 = 4;

/// `a / b`; saturates instead of panicking (the divisors used here are never zero).
pub(crate) fn div(a: Decimal, b: Decimal) -> Decimal {
    a.checked_div(b).unwrap_or(Decimal::MAX)
}

pub(crate) fn round(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(DECIMALS, RoundingStrategy::MidpointAwayFromZero)
}

const MS_PER_HOUR: i64 = 3_600_000;

/// `amount` (excl. VAT) with the component's VAT added; no `vat` means no VAT applies.
fn incl_vat(pc: &PriceComponent, amount: Decimal) -> Decimal {
    match pc.vat {
        Some(vat) => amount.saturating_add(div(amount.saturating_mul(vat), Decimal::ONE_HUNDRED)),
        None => amount,
    }
}

/// One billed dimension: money so far, the billable quantity, and the last component used.
#[derive(Default)]
struct Dimension<'t> {
    used: bool,
    excl: Decimal,
    incl: Decimal,
    /// kWh for energy, seconds for time.
    quantity: Decimal,
    /// Index of the last period priced in this dimension, and its component.
    last: Option<(usize, &'t PriceComponent)>,
}

impl<'t> Dimension<'t> {
    /// Bill `quantity` at `pc`, whose price is per `per` units of the quantity.
    fn add(&mut self, period: usize, pc: &'t PriceComponent, quantity: Decimal, per: Decimal) {
        self.bill(pc, quantity, per);
        self.quantity = self.quantity.saturating_add(quantity);
        self.last = Some((period, pc));
    }

    fn bill(&mut self, pc: &PriceComponent, quantity: Decimal, per: Decimal) {
        let excl = div(quantity.saturating_mul(pc.price), per);
        self.used = true;
        self.excl = self.excl.saturating_add(excl);
        self.incl = self.incl.saturating_add(incl_vat(pc, excl));
    }

    /// Round the billable total up to the last component's `step_size` (`unit` quantities per
    /// step unit) and bill the difference at that component's price.
    fn step_up(&mut self, unit: Decimal, per: Decimal) {
        let Some((_, pc)) = self.last else {
            return;
        };
        let step = Decimal::from(pc.billing_step()).saturating_mul(unit);
        let billed = div(self.quantity, step).ceil().saturating_mul(step);
        let extra = billed.saturating_sub(self.quantity);
        if extra > Decimal::ZERO {
            self.bill(pc, extra, per);
            self.quantity = billed;
        }
    }

    fn price(&self) -> Option<Price> {
        self.used.then(|| Price {
            excl_vat: round(self.excl),
            incl_vat: Some(round(self.incl)),
        })
    }
}

pub(crate) fn price(
    tariff: &Tariff,
    tz: Tz,
    session_start: DateTime<Utc>,
    periods: &[Period],
    end: DateTime<Utc>,
) -> Costs {
    let hour_s = Decimal::from(3600);
    let kwh = Decimal::ONE;
    let mut flat: Option<&PriceComponent> = None;
    let mut energy = Dimension::default();
    let mut time = Dimension::default();
    let mut parking = Dimension::default();
    let mut total_energy = Decimal::ZERO;
    let mut parking_ms: i64 = 0;

    for (i, p) in periods.iter().enumerate() {
        let p_end = periods.get(i + 1).map_or(end, |n| n.start);
        let ms = (p_end - p.start).num_milliseconds().max(0);
        let seconds = Decimal::new(ms, 3);
        let m = Moment {
            at: p.start,
            energy_kwh: total_energy,
            elapsed_ms: (p.start - session_start).num_milliseconds(),
            power_kw: p.power_kw,
            current_a: p.current_a,
        };
        let sel = select(tariff, tz, &m);
        if flat.is_none() {
            flat = Selection::component(tariff, sel.flat);
        }
        if p.energy_kwh > Decimal::ZERO
            && let Some(pc) = Selection::component(tariff, sel.energy)
        {
            energy.add(i, pc, p.energy_kwh, kwh);
        }
        if p.charging {
            if ms > 0
                && let Some(pc) = Selection::component(tariff, sel.time)
            {
                time.add(i, pc, seconds, hour_s);
            }
        } else {
            parking_ms = parking_ms.saturating_add(ms);
            if ms > 0
                && let Some(pc) = Selection::component(tariff, sel.parking)
            {
                parking.add(i, pc, seconds, hour_s);
            }
        }
        total_energy = total_energy.saturating_add(p.energy_kwh);
    }

    // step_size: once for ENERGY (Wh), once for TIME + PARKING_TIME together (seconds), with the
    // component of the last period priced in that dimension; for time, whichever of charging
    // time and parking time was priced last is the one rounded up.
    energy.step_up(Decimal::new(1, 3), kwh);
    let parking_last = match (time.last, parking.last) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some((t, _)), Some((p, _))) => p > t,
    };
    if parking_last {
        parking.step_up(Decimal::ONE, hour_s);
    } else {
        time.step_up(Decimal::ONE, hour_s);
    }

    let fixed = flat.map(|pc| Price {
        excl_vat: round(pc.price),
        incl_vat: Some(round(incl_vat(pc, pc.price))),
    });
    let sum = |a: Decimal, b: Decimal| a.saturating_add(b);
    let mut excl = [energy.excl, time.excl, parking.excl]
        .into_iter()
        .fold(Decimal::ZERO, sum);
    let mut incl = [energy.incl, time.incl, parking.incl]
        .into_iter()
        .fold(Decimal::ZERO, sum);
    if let Some(pc) = flat {
        excl = excl.saturating_add(pc.price);
        incl = incl.saturating_add(incl_vat(pc, pc.price));
    }
    // min_price and max_price bound the amounts excluding and including VAT separately. When a
    // bound applies to the amount excluding VAT but gives no amount including VAT, the amount
    // including VAT is unknown.
    let mut incl = Some(incl);
    if let Some(min) = &tariff.min_price {
        if excl < min.excl_vat {
            excl = min.excl_vat;
            incl = incl.zip(min.incl_vat).map(|(i, m)| i.max(m));
        } else if let Some(m) = min.incl_vat {
            incl = incl.map(|i| i.max(m));
        }
    }
    if let Some(max) = &tariff.max_price {
        if excl > max.excl_vat {
            excl = max.excl_vat;
            incl = incl.zip(max.incl_vat).map(|(i, m)| i.min(m));
        } else if let Some(m) = max.incl_vat {
            incl = incl.map(|i| i.min(m));
        }
    }

    let hours = |ms: i64| div(Decimal::from(ms), Decimal::from(MS_PER_HOUR));
    Costs {
        total_cost: Price {
            excl_vat: round(excl),
            incl_vat: incl.map(round),
        },
        total_fixed_cost: fixed,
        total_energy_cost: energy.price(),
        total_time_cost: time.price(),
        total_parking_cost: parking.price(),
        total_reservation_cost: None,
        total_energy: round(total_energy),
        total_time: round(hours((end - session_start).num_milliseconds().max(0))),
        total_parking_time: round(hours(parking_ms)),
    }
}
