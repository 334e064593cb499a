//! The Tariff object of the Tariffs module, with every class and enum it uses.
//!
//! As in the Locations model: single-field rules sit in `Deserialize` (the error names the
//! field path), list cardinality and cross-field rules in `validator::Validate`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use crate::ocpi::types::checked_string;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::ocpi::locations::model::{DisplayText, EnergyMix, TimeOfDay, decimal_json, rule_error};
use crate::ocpi::types::{CiString, CountryCode, DateTime, PartyId, Url};

/// ISO 4217 currency code: three upper-case letters, e.g. `EUR`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(example = "EUR")]
pub struct Currency(String);

impl Currency {
    pub fn new(s: impl Into<String>) -> Result<Self, String> {
        let s = s.into();
        if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "`{s}` is not an ISO 4217 currency code (three upper-case letters)"
            ));
        }
        Ok(Self(s))
    }
}

checked_string!(Currency);

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A local calendar date, `YYYY-MM-DD` (year 1000 to 2999), which must exist.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(example = "2015-12-24")]
pub struct LocalDate(String);

impl LocalDate {
    pub fn new(s: impl Into<String>) -> Result<Self, String> {
        let s = s.into();
        let b = s.as_bytes();
        let shape_ok = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && matches!(b[0], b'1' | b'2')
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shape_ok || NaiveDate::parse_from_str(&s, "%Y-%m-%d").is_err() {
            return Err(format!("`{s}` is not a date (YYYY-MM-DD)"));
        }
        Ok(Self(s))
    }

    pub fn date(&self) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(&self.0, "%Y-%m-%d").ok()
    }
}

checked_string!(LocalDate);

impl fmt::Display for LocalDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An amount of money; neither part may be negative.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct Price {
    #[serde(
        serialize_with = "decimal_json::serialize",
        deserialize_with = "decimal_json::deserialize_non_negative"
    )]
    #[schema(value_type = f64, minimum = 0)]
    pub excl_vat: Decimal,
    #[serde(
        default,
        with = "decimal_json::non_negative_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<f64>, minimum = 0)]
    pub incl_vat: Option<Decimal>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TariffType {
    AdHocPayment,
    ProfileCheap,
    ProfileFast,
    ProfileGreen,
    Regular,
}

/// What a price component charges for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TariffDimensionType {
    /// Per kWh; step unit 1 Wh.
    Energy,
    /// Once per session.
    Flat,
    /// Per hour not charging; step unit 1 s.
    ParkingTime,
    /// Per hour charging (or reserved); step unit 1 s.
    Time,
}

/// How one dimension is priced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct PriceComponent {
    #[serde(rename = "type")]
    pub dimension: TariffDimensionType,
    /// Per unit, excluding VAT.
    #[serde(
        serialize_with = "decimal_json::serialize",
        deserialize_with = "decimal_json::deserialize_non_negative"
    )]
    #[schema(value_type = f64, minimum = 0)]
    pub price: Decimal,
    /// VAT percentage; absent means no VAT applies (not the same as 0).
    #[serde(
        default,
        with = "decimal_json::non_negative_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<f64>, minimum = 0)]
    pub vat: Option<Decimal>,
    /// Billing block in the dimension's step unit. The spec's own free-of-charge example uses
    /// 0 with `FLAT`, so 0 is accepted; see [`PriceComponent::billing_step`].
    pub step_size: u32,
}

impl PriceComponent {
    /// `step_size` to use when rounding quantities up: 0 is treated as 1.
    pub fn billing_step(&self) -> u32 {
        self.step_size.max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DayOfWeek {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationRestrictionType {
    Reservation,
    ReservationExpires,
}

/// When a tariff element applies; all set fields must match (logical AND).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema, Validate)]
pub struct TariffRestrictions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<TimeOfDay>,
    /// Before `start_time` means the period wraps past midnight; `00:00` ends at midnight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<TimeOfDay>,
    /// Inclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<LocalDate>,
    /// Exclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<LocalDate>,
    #[serde(
        default,
        with = "decimal_json::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<f64>)]
    pub min_kwh: Option<Decimal>,
    #[serde(
        default,
        with = "decimal_json::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<f64>)]
    pub max_kwh: Option<Decimal>,
    /// Amperes, summed over phases.
    #[serde(
        default,
        with = "decimal_json::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<f64>)]
    pub min_current: Option<Decimal>,
    #[serde(
        default,
        with = "decimal_json::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<f64>)]
    pub max_current: Option<Decimal>,
    /// kW.
    #[serde(
        default,
        with = "decimal_json::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<f64>)]
    pub min_power: Option<Decimal>,
    #[serde(
        default,
        with = "decimal_json::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<f64>)]
    pub max_power: Option<Decimal>,
    /// Seconds, inclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_duration: Option<u32>,
    /// Seconds, exclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_of_week: Option<Vec<DayOfWeek>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation: Option<ReservationRestrictionType>,
}

/// Price components sharing one set of restrictions.
///
/// `Validate` is written by hand: besides the non-empty `price_components`, an element with a
/// `reservation` restriction may only price `FLAT` and `TIME`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TariffElement {
    pub price_components: Vec<PriceComponent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restrictions: Option<TariffRestrictions>,
}

impl Validate for TariffElement {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.price_components.is_empty() {
            errors.add(
                "price_components",
                rule_error("length", "at least one price component is required"),
            );
        } else if self
            .restrictions
            .as_ref()
            .is_some_and(|r| r.reservation.is_some())
        {
            let wrong: BTreeMap<usize, Box<ValidationErrors>> = self
                .price_components
                .iter()
                .enumerate()
                .filter(|(_, pc)| {
                    !matches!(
                        pc.dimension,
                        TariffDimensionType::Flat | TariffDimensionType::Time
                    )
                })
                .map(|(i, _)| {
                    let mut inner = ValidationErrors::new();
                    inner.add(
                        "type",
                        rule_error(
                            "reservation",
                            "a reservation element may only have FLAT and TIME components",
                        ),
                    );
                    (i, Box::new(inner))
                })
                .collect();
            if !wrong.is_empty() {
                errors.errors_mut().insert(
                    Cow::Borrowed("price_components"),
                    ValidationErrorsKind::List(wrong),
                );
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// A tariff: one or more elements, each a list of price components under restrictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct Tariff {
    #[schema(value_type = String, max_length = 2)]
    pub country_code: CountryCode,
    #[schema(value_type = String, max_length = 3)]
    pub party_id: PartyId,
    #[schema(value_type = String, max_length = 36)]
    pub id: CiString<36>,
    pub currency: Currency,
    /// Absent: valid for every session.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub tariff_type: Option<TariffType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tariff_alt_text: Option<Vec<DisplayText>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub tariff_alt_url: Option<Url>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_price: Option<Price>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_price: Option<Price>,
    #[validate(
        length(min = 1, message = "at least one tariff element is required"),
        nested
    )]
    pub elements: Vec<TariffElement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub start_date_time: Option<DateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub end_date_time: Option<DateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy_mix: Option<EnergyMix>,
    #[schema(value_type = String, format = DateTime)]
    pub last_updated: DateTime,
}

impl Tariff {
    /// Whether `at` falls in `[start_date_time, end_date_time]`; an absent bound is open.
    pub fn is_active_at(&self, at: &DateTime) -> bool {
        self.start_date_time.is_none_or(|s| s <= *at) && self.end_date_time.is_none_or(|e| *at <= e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::json::parse_body;
    use serde_json::{Value, json};

    use crate::ocpi::test_support::{example, example_names, mutate, same_json};

    fn parse(v: &Value) -> Result<Tariff, String> {
        parse_body::<Tariff>(v.to_string().as_bytes()).map_err(|e| e.to_string())
    }

    /// Parse, write back (must equal the input, numbers by value), parse again (must be equal).
    fn round_trip(v: &Value) -> Tariff {
        let first = parse(v).unwrap_or_else(|e| panic!("{e}: {v}"));
        let written = serde_json::to_value(&first).unwrap();
        assert!(same_json(v, &written), "{v}\n!=\n{written}");
        assert_eq!(parse(&written).unwrap(), first);
        first
    }

    #[test]
    fn spec_examples_round_trip() {
        let names: Vec<String> = example_names()
            .into_iter()
            .filter(|n| n.starts_with("tariff"))
            .collect();
        let mut seen = 0;
        for name in &names {
            let v = example(name);
            if name == "tariff_put_example.json" {
                // Known spec-example error: this PUT body omits the required `last_updated`.
                // With it added, the rest is a valid Tariff.
                let e = parse(&v).unwrap_err();
                assert!(e.contains("missing field `last_updated`"), "{e}");
                let mut fixed = v.clone();
                fixed["last_updated"] = json!("2015-06-29T20:39:09Z");
                round_trip(&fixed);
            } else {
                round_trip(&v);
            }
            seen += 1;
        }
        assert!(seen >= 19, "only {seen} tariff examples found");
    }

    #[test]
    fn example_details_survive() {
        let free = round_trip(&example("tariff_5_free_of_charge.json"));
        let pc = &free.elements[0].price_components[0];
        assert_eq!(pc.dimension, TariffDimensionType::Flat);
        assert!(pc.price.is_zero());
        assert_eq!((pc.step_size, pc.billing_step()), (0, 1));
        assert_eq!(pc.vat, None);

        let complex = round_trip(&example("tariff_4_complex.json"));
        assert_eq!(complex.tariff_type, Some(TariffType::Regular));
        let r = complex.elements[4].restrictions.as_ref().unwrap();
        assert_eq!(r.start_time.as_ref().unwrap().minutes(), 9 * 60);
        assert_eq!(r.day_of_week.as_ref().unwrap()[4], DayOfWeek::Friday);

        let max = round_trip(&example("tariff_6_025kwh_start_max_price.json"));
        let price = max.max_price.unwrap();
        assert_eq!(price.excl_vat, Decimal::new(10, 0));
        assert_eq!(price.incl_vat, Some(Decimal::new(11, 0)));
        let before = DateTime::parse("2019-06-30T23:59:59Z").unwrap();
        let after = DateTime::parse("2019-07-01T00:00:00Z").unwrap();
        assert!(max.is_active_at(&before));
        assert!(!max.is_active_at(&after));
    }

    fn valid_tariff() -> Value {
        json!({
            "country_code": "DE",
            "party_id": "ABC",
            "id": "T-1",
            "currency": "EUR",
            "type": "PROFILE_GREEN",
            "tariff_alt_text": [{"language": "en", "text": "0.25 per kWh"}],
            "tariff_alt_url": "https://example.com/tariffs/1",
            "min_price": {"excl_vat": 0.50, "incl_vat": 0.60},
            "max_price": {"excl_vat": 20},
            "elements": [{
                "price_components": [
                    {"type": "ENERGY", "price": 0.25, "vat": 19.0, "step_size": 1},
                    {"type": "PARKING_TIME", "price": 2.0, "step_size": 300}
                ],
                "restrictions": {
                    "start_time": "08:00",
                    "end_time": "00:00",
                    "start_date": "2024-01-01",
                    "end_date": "2024-12-31",
                    "min_kwh": 0.5,
                    "max_kwh": 100,
                    "min_current": 5,
                    "max_current": 32.5,
                    "min_power": 3.7,
                    "max_power": 22,
                    "min_duration": 0,
                    "max_duration": 7200,
                    "day_of_week": ["MONDAY", "SUNDAY"]
                }
            }, {
                "price_components": [
                    {"type": "FLAT", "price": 1.5, "step_size": 1},
                    {"type": "TIME", "price": 3, "step_size": 60}
                ],
                "restrictions": {"reservation": "RESERVATION"}
            }],
            "start_date_time": "2024-01-01T00:00:00Z",
            "end_date_time": "2025-01-01T00:00:00Z",
            "energy_mix": {"is_green_energy": true},
            "last_updated": "2024-01-02T03:04:05Z"
        })
    }

    #[test]
    fn valid_fixture_round_trips_and_ignores_unknown_fields() {
        let t = round_trip(&valid_tariff());
        assert_eq!(t.currency.as_str(), "EUR");
        assert_eq!(t.elements[0].price_components[0].price, Decimal::new(25, 2));
        let v = mutate(valid_tariff(), "/x_vendor", Some(json!(true)));
        let v = mutate(v, "/elements/0/restrictions/x_more", Some(json!([1, 2])));
        assert_eq!(parse(&v).unwrap(), t);
        // Money and numbers go out as JSON numbers, not strings.
        let out = serde_json::to_string(&t).unwrap();
        assert!(out.contains(r#""price":0.25"#), "{out}");
        assert!(out.contains(r#""excl_vat":0.5"#), "{out}");
        assert!(out.contains(r#""max_current":32.5"#), "{out}");
        // A free FLAT with step_size 0 (as in the spec's own example) is accepted.
        let v = mutate(
            valid_tariff(),
            "/elements/1/price_components/0",
            Some(json!({"type": "FLAT", "price": 0.00, "step_size": 0})),
        );
        assert!(parse(&v).is_ok());
    }

    #[test]
    fn bad_tariffs_name_the_field() {
        let pc = "/elements/0/price_components/0";
        let r = "/elements/0/restrictions";
        #[rustfmt::skip]
        let rows: Vec<(String, Option<Value>, &str)> = vec![
            ("/id".into(), Some(json!("i".repeat(37))), "`id`"),
            ("/country_code".into(), Some(json!("D")), "`country_code`"),
            ("/party_id".into(), None, "missing field `party_id`"),
            ("/currency".into(), Some(json!("eur")), "`currency`"),
            ("/currency".into(), Some(json!("EURO")), "`currency`"),
            ("/currency".into(), Some(json!(978)), "`currency`"),
            ("/currency".into(), None, "missing field `currency`"),
            ("/type".into(), Some(json!("PROFILE_SLOW")), "`type`"),
            ("/tariff_alt_text/0/language".into(), Some(json!("english")), "`tariff_alt_text[0].language`"),
            ("/tariff_alt_text/0/text".into(), Some(json!("x\ny")), "`tariff_alt_text[0].text`"),
            ("/tariff_alt_url".into(), Some(json!("ftp://example.com/t")), "`tariff_alt_url`"),
            ("/min_price/excl_vat".into(), Some(json!(-0.5)), "`min_price.excl_vat`"),
            ("/min_price/excl_vat".into(), None, "missing field `excl_vat`"),
            ("/min_price/incl_vat".into(), Some(json!("0.60")), "`min_price.incl_vat`"),
            ("/max_price/incl_vat".into(), Some(json!(-1)), "`max_price.incl_vat`"),
            ("/elements".into(), Some(json!([])), "`elements`"),
            ("/elements".into(), None, "missing field `elements`"),
            ("/elements/0/price_components".into(), Some(json!([])), "`elements[0].price_components`"),
            (format!("{pc}/type"), Some(json!("KWH")), "`elements[0].price_components[0].type`"),
            (format!("{pc}/type"), None, "missing field `type`"),
            (format!("{pc}/price"), Some(json!(-0.25)), "`elements[0].price_components[0].price`"),
            (format!("{pc}/price"), Some(json!("0.25")), "`elements[0].price_components[0].price`"),
            (format!("{pc}/price"), None, "missing field `price`"),
            (format!("{pc}/vat"), Some(json!(-1)), "`elements[0].price_components[0].vat`"),
            (format!("{pc}/step_size"), Some(json!(-1)), "`elements[0].price_components[0].step_size`"),
            (format!("{pc}/step_size"), Some(json!(1.5)), "`elements[0].price_components[0].step_size`"),
            (format!("{pc}/step_size"), None, "missing field `step_size`"),
            (format!("{r}/start_time"), Some(json!("24:00")), "`elements[0].restrictions.start_time`"),
            (format!("{r}/end_time"), Some(json!("8:00")), "`elements[0].restrictions.end_time`"),
            (format!("{r}/start_date"), Some(json!("2024-13-01")), "`elements[0].restrictions.start_date`"),
            (format!("{r}/start_date"), Some(json!("2023-02-29")), "`elements[0].restrictions.start_date`"),
            (format!("{r}/end_date"), Some(json!("3024-01-01")), "`elements[0].restrictions.end_date`"),
            (format!("{r}/end_date"), Some(json!("2024-1-01")), "`elements[0].restrictions.end_date`"),
            (format!("{r}/min_kwh"), Some(json!("5")), "`elements[0].restrictions.min_kwh`"),
            (format!("{r}/max_power"), Some(json!(true)), "`elements[0].restrictions.max_power`"),
            (format!("{r}/min_duration"), Some(json!(-5)), "`elements[0].restrictions.min_duration`"),
            (format!("{r}/max_duration"), Some(json!(1.5)), "`elements[0].restrictions.max_duration`"),
            (format!("{r}/day_of_week/0"), Some(json!("MON")), "`elements[0].restrictions.day_of_week[0]`"),
            (format!("{r}/reservation"), Some(json!("RESERVED")), "`elements[0].restrictions.reservation`"),
            // A reservation element may only price FLAT and TIME.
            (format!("{r}/reservation"), Some(json!("RESERVATION_EXPIRES")), "`elements[0].price_components[0].type`"),
            ("/start_date_time".into(), Some(json!("2024-01-01")), "`start_date_time`"),
            ("/energy_mix/is_green_energy".into(), None, "missing field `is_green_energy`"),
            ("/last_updated".into(), None, "missing field `last_updated`"),
        ];
        for (pointer, new, expected) in rows {
            let v = mutate(valid_tariff(), &pointer, new.clone());
            match parse(&v) {
                Ok(_) => panic!("{pointer} = {new:?} was accepted"),
                Err(e) => assert!(e.contains(expected), "{pointer} = {new:?}: {e}"),
            }
        }
    }

    #[test]
    fn dates_and_currencies() {
        assert_eq!(
            LocalDate::new("2015-12-24").unwrap().date(),
            NaiveDate::from_ymd_opt(2015, 12, 24)
        );
        assert!(LocalDate::new("2024-02-29").is_ok());
        for bad in [
            "0999-01-01",
            "2015-12-32",
            "2015-00-10",
            "15-12-24",
            "2015/12/24",
            "2015-12-24T00:00",
        ] {
            assert!(LocalDate::new(bad).is_err(), "{bad}");
        }
        assert!(Currency::new("CHF").is_ok());
        for bad in ["", "EU", "Eur", "EU1", "€€€"] {
            assert!(Currency::new(bad).is_err(), "{bad}");
        }
    }
}
