//! The Tariff object of the Tariffs module, with every class and enum it uses.
//!
//! As in the Locations model: single-field rules sit in `Deserialize` (the error names the
//! field path), list cardinality and cross-field rules in `validator::Validate`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::ocpi::locations::model::{
    DisplayText, EnergyMix, TimeOfDay, decimal_json, rule_error,
};
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

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Currency::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

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

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn date(&self) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(&self.0, "%Y-%m-%d").ok()
    }
}

impl<'de> Deserialize<'de> for LocalDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        LocalDate::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

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
