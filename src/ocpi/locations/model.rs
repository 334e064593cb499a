//! Location, EVSE and Connector objects of the Locations module, with every class and enum
//! they use.
//!
//! Single-field rules (lengths, charsets, enum values, coordinate and time formats) live in
//! `Deserialize`, so a bad value names its field path. Rules that need several fields or a list
//! length live in `validator::Validate`.

use std::borrow::Cow;
use std::fmt;

use crate::ocpi::types::checked_string;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError, ValidationErrors};

use crate::ocpi::types::{
    BusinessDetails, CiString, CountryCode, DateTime, Image, OcpiString, PartyId, Url,
};

/// A `validator` error with a message of its own.
pub(crate) fn rule_error(
    code: &'static str,
    message: impl Into<Cow<'static, str>>,
) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

fn finish(errors: ValidationErrors) -> Result<(), ValidationErrors> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// OCPI `number` fields held as `Decimal` but written and read as JSON numbers (not strings).
///
/// `rust_decimal`'s own `serde::float` helpers need the `serde-with-float` feature, which the
/// hub does not enable; these go through the shortest `f64` text instead, which is exact for
/// the few decimals OCPI numbers carry.
pub mod decimal_json {
    use std::fmt;
    use std::str::FromStr;

    use rust_decimal::Decimal;
    use rust_decimal::prelude::ToPrimitive;
    use serde::de::{self, Visitor};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        match d.to_f64() {
            Some(f) if f.is_finite() => s.serialize_f64(f),
            _ => Err(serde::ser::Error::custom(format!(
                "{d} cannot be written as a JSON number"
            ))),
        }
    }

    struct NumberVisitor;

    impl Visitor<'_> for NumberVisitor {
        type Value = Decimal;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON number")
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
            Ok(Decimal::from(v))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
            Ok(Decimal::from(v))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
            if !v.is_finite() {
                return Err(E::custom("is not a finite number"));
            }
            // `f64`'s Display never uses an exponent and prints the shortest round-trip text.
            Decimal::from_str(&v.to_string())
                .map_err(|e| E::custom(format!("{v} does not fit a decimal: {e}")))
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        d.deserialize_any(NumberVisitor)
    }

    /// Like [`deserialize`], refusing values below zero (prices, costs, VAT).
    pub fn deserialize_non_negative<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let v = deserialize(d)?;
        if v.is_sign_negative() && !v.is_zero() {
            return Err(de::Error::custom(format!("is {v}, must not be negative")));
        }
        Ok(v)
    }

    /// A percentage: 0 to 100 inclusive.
    pub fn deserialize_percentage<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let v = deserialize_non_negative(d)?;
        if v > Decimal::ONE_HUNDRED {
            return Err(de::Error::custom(format!("is {v}, at most 100 allowed")));
        }
        Ok(v)
    }

    struct Plain(Decimal);

    impl<'de> Deserialize<'de> for Plain {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            deserialize(d).map(Plain)
        }
    }

    struct NonNegative(Decimal);

    impl<'de> Deserialize<'de> for NonNegative {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            deserialize_non_negative(d).map(NonNegative)
        }
    }

    /// For `Option<Decimal>` fields (pair with `#[serde(default)]`).
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(d: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
            Ok(Option::<Plain>::deserialize(d)?.map(|p| p.0))
        }
    }

    /// For `Option<Decimal>` fields that must not be negative (pair with `#[serde(default)]`).
    pub mod non_negative_option {
        use super::*;

        pub fn serialize<S: Serializer>(d: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
            super::option::serialize(d, s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
            Ok(Option::<NonNegative>::deserialize(d)?.map(|p| p.0))
        }
    }
}

/// Parses `s` strictly as `HH:MM` (24 h, leading zeros) and returns minutes since midnight.
fn parse_hh_mm(s: &str) -> Option<u16> {
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' {
        return None;
    }
    let digit = |i: usize| {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| u16::from(c - b'0'))
    };
    let (h1, h2, m1, m2) = (digit(0)?, digit(1)?, digit(3)?, digit(4)?);
    let hours = h1 * 10 + h2;
    if hours > 23 || m1 > 5 {
        return None;
    }
    Some(hours * 60 + m1 * 10 + m2)
}

/// A local time of day, `HH:MM` in 24-hour notation with leading zeros (`00:00` to `23:59`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(example = "18:15")]
pub struct TimeOfDay(String);

impl TimeOfDay {
    pub fn new(s: impl Into<String>) -> Result<Self, String> {
        let s = s.into();
        match parse_hh_mm(&s) {
            Some(_) => Ok(Self(s)),
            None => Err(format!(
                "`{s}` is not a time of day (HH:MM, 00:00 to 23:59)"
            )),
        }
    }

    /// Minutes since midnight.
    pub fn minutes(&self) -> u16 {
        parse_hh_mm(&self.0).unwrap_or(0)
    }
}

checked_string!(TimeOfDay);

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks `-?[0-9]{1,int_digits}\.[0-9]{5,7}` by hand, and that the value is within `max_abs`.
fn check_coordinate(s: &str, int_digits: usize, max_abs: f64) -> Result<(), String> {
    let body = s.strip_prefix('-').unwrap_or(s);
    let shape_ok = body.split_once('.').is_some_and(|(int, frac)| {
        (1..=int_digits).contains(&int.len())
            && int.bytes().all(|b| b.is_ascii_digit())
            && (5..=7).contains(&frac.len())
            && frac.bytes().all(|b| b.is_ascii_digit())
    });
    if !shape_ok {
        return Err(format!(
            "`{s}` is not a coordinate: decimal degrees with up to {int_digits} integer digits and 5 to 7 decimals expected"
        ));
    }
    match body.parse::<f64>() {
        Ok(v) if v <= max_abs => Ok(()),
        _ => Err(format!("`{s}` is out of range (-{max_abs} to {max_abs})")),
    }
}

/// WGS 84 latitude in decimal degrees, e.g. `"50.770774"` (5 to 7 decimals).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(example = "50.770774")]
pub struct Latitude(String);

impl Latitude {
    pub fn new(s: impl Into<String>) -> Result<Self, String> {
        let s = s.into();
        check_coordinate(&s, 2, 90.0)?;
        Ok(Self(s))
    }
}

checked_string!(Latitude);

/// WGS 84 longitude in decimal degrees, e.g. `"-126.104965"` (5 to 7 decimals).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(example = "-126.104965")]
pub struct Longitude(String);

impl Longitude {
    pub fn new(s: impl Into<String>) -> Result<Self, String> {
        let s = s.into();
        check_coordinate(&s, 3, 180.0)?;
        Ok(Self(s))
    }
}

checked_string!(Longitude);

/// ISO 3166-1 alpha-3 country code: three upper-case letters, e.g. `BEL`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(example = "BEL")]
pub struct CountryAlpha3(String);

impl CountryAlpha3 {
    pub fn new(s: impl Into<String>) -> Result<Self, String> {
        let s = s.into();
        if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "`{s}` is not an ISO 3166-1 alpha-3 code (three upper-case letters)"
            ));
        }
        Ok(Self(s))
    }
}

checked_string!(CountryAlpha3);

/// ISO 639-1 language code: two letters, e.g. `en`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(example = "en")]
pub struct LanguageCode(String);

impl LanguageCode {
    pub fn new(s: impl Into<String>) -> Result<Self, String> {
        let s = s.into();
        if s.len() != 2 || !s.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(format!(
                "`{s}` is not an ISO 639-1 language code (two letters)"
            ));
        }
        Ok(Self(s))
    }
}

checked_string!(LanguageCode);

/// A text for end users in one language (`DisplayText` class, shared by all modules).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct DisplayText {
    pub language: LanguageCode,
    #[schema(value_type = String, max_length = 512)]
    pub text: OcpiString<512>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct GeoLocation {
    pub latitude: Latitude,
    pub longitude: Longitude,
}

/// A related point of interest near a location (an entrance, a parking lot...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct AdditionalGeoLocation {
    pub latitude: Latitude,
    pub longitude: Longitude,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<DisplayText>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ParkingType {
    AlongMotorway,
    ParkingGarage,
    ParkingLot,
    OnDriveway,
    OnStreet,
    UndergroundGarage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Facility {
    Hotel,
    Restaurant,
    Cafe,
    Mall,
    Supermarket,
    Sport,
    RecreationArea,
    Nature,
    Museum,
    BikeSharing,
    BusStop,
    TaxiStand,
    TramStop,
    MetroStation,
    TrainStation,
    Airport,
    ParkingLot,
    CarpoolParking,
    FuelStation,
    Wifi,
}

/// Token types (the Tokens module's `TokenType` enum, needed here by `PublishTokenType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TokenType {
    AdHocUser,
    AppUser,
    Other,
    Rfid,
}

/// Identifies the token(s) of drivers who may see an unpublished location. At least one of
/// `uid`, `visual_number` and `group_id`; `uid` needs `type`, `visual_number` needs `issuer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PublishTokenType {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 36)]
    pub uid: Option<CiString<36>>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub token_type: Option<TokenType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 64)]
    pub visual_number: Option<OcpiString<64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 64)]
    pub issuer: Option<OcpiString<64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 36)]
    pub group_id: Option<CiString<36>>,
}

impl Validate for PublishTokenType {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.uid.is_none() && self.visual_number.is_none() && self.group_id.is_none() {
            errors.add(
                "uid",
                rule_error(
                    "required",
                    "one of uid, visual_number or group_id must be set",
                ),
            );
        }
        if self.uid.is_some() && self.token_type.is_none() {
            errors.add(
                "type",
                rule_error("required", "type is required when uid is set"),
            );
        }
        if self.visual_number.is_some() && self.issuer.is_none() {
            errors.add(
                "issuer",
                rule_error("required", "issuer is required when visual_number is set"),
            );
        }
        finish(errors)
    }
}

/// Weekday number: Monday is 1, Sunday is 7.
fn deserialize_weekday<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let n = u8::deserialize(d)?;
    if !(1..=7).contains(&n) {
        return Err(serde::de::Error::custom(format!(
            "is {n}, a weekday is 1 (Monday) to 7 (Sunday)"
        )));
    }
    Ok(n)
}

/// A weekly recurring opening period in local time; `period_end` after `period_begin`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegularHours {
    #[serde(deserialize_with = "deserialize_weekday")]
    #[schema(minimum = 1, maximum = 7)]
    pub weekday: u8,
    pub period_begin: TimeOfDay,
    pub period_end: TimeOfDay,
}

impl Validate for RegularHours {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.period_end <= self.period_begin {
            errors.add(
                "period_end",
                rule_error(
                    "order",
                    format!(
                        "{} is not later than period_begin {}",
                        self.period_end, self.period_begin
                    ),
                ),
            );
        }
        finish(errors)
    }
}

/// A one-off opening or closing period (UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct ExceptionalPeriod {
    #[schema(value_type = String, format = DateTime)]
    pub period_begin: DateTime,
    #[schema(value_type = String, format = DateTime)]
    pub period_end: DateTime,
}

/// Opening or access hours. `regular_hours` must be non-empty exactly when
/// `twentyfourseven` is false.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Hours {
    pub twentyfourseven: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regular_hours: Option<Vec<RegularHours>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exceptional_openings: Option<Vec<ExceptionalPeriod>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exceptional_closings: Option<Vec<ExceptionalPeriod>>,
}

impl Validate for Hours {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let regular = self.regular_hours.as_deref().unwrap_or_default();
        if self.twentyfourseven && !regular.is_empty() {
            errors.add(
                "regular_hours",
                rule_error(
                    "twentyfourseven",
                    "must be absent or empty when twentyfourseven is true",
                ),
            );
        } else if !self.twentyfourseven && regular.is_empty() {
            errors.add(
                "regular_hours",
                rule_error(
                    "twentyfourseven",
                    "at least one entry is required when twentyfourseven is false",
                ),
            );
        } else {
            errors.merge_self("regular_hours", regular.validate());
        }
        finish(errors)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EnergySourceCategory {
    Nuclear,
    GeneralFossil,
    Coal,
    Gas,
    GeneralGreen,
    Solar,
    Wind,
    Water,
}

/// One energy source and its share (0 to 100 %) of the mix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct EnergySource {
    pub source: EnergySourceCategory,
    #[serde(
        serialize_with = "decimal_json::serialize",
        deserialize_with = "decimal_json::deserialize_percentage"
    )]
    #[schema(value_type = f64, minimum = 0, maximum = 100)]
    pub percentage: rust_decimal::Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EnvironmentalImpactCategory {
    NuclearWaste,
    CarbonDioxide,
}

/// Waste or emission per kWh, in g/kWh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct EnvironmentalImpact {
    pub category: EnvironmentalImpactCategory,
    #[serde(with = "decimal_json")]
    #[schema(value_type = f64)]
    pub amount: rust_decimal::Decimal,
}

/// The energy mix and its environmental impact, for a location or a tariff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct EnergyMix {
    pub is_green_energy: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_sources: Option<Vec<EnergySource>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environ_impact: Option<Vec<EnvironmentalImpact>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 64)]
    pub supplier_name: Option<OcpiString<64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 64)]
    pub energy_product_name: Option<OcpiString<64>>,
}

/// Status of an EVSE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Available,
    Blocked,
    Charging,
    Inoperative,
    Outoforder,
    Planned,
    Removed,
    Reserved,
    Unknown,
}

/// A planned status for a future period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct StatusSchedule {
    #[schema(value_type = String, format = DateTime)]
    pub period_begin: DateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub period_end: Option<DateTime>,
    pub status: Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Capability {
    ChargingProfileCapable,
    ChargingPreferencesCapable,
    ChipCardSupport,
    ContactlessCardSupport,
    CreditCardPayable,
    DebitCardPayable,
    PedTerminal,
    RemoteStartStopCapable,
    Reservable,
    RfidReader,
    StartSessionConnectorRequired,
    TokenGroupCapable,
    UnlockCapable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ParkingRestriction {
    EvOnly,
    Plugged,
    Disabled,
    Customers,
    Motorcycles,
}

/// Plug or socket standard. The wire names are spelled out one by one: several mix digits
/// and lower case (`IEC_60309_2_single_16`) in ways no case rule reproduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum ConnectorType {
    #[serde(rename = "CHADEMO")]
    Chademo,
    #[serde(rename = "CHAOJI")]
    Chaoji,
    #[serde(rename = "DOMESTIC_A")]
    DomesticA,
    #[serde(rename = "DOMESTIC_B")]
    DomesticB,
    #[serde(rename = "DOMESTIC_C")]
    DomesticC,
    #[serde(rename = "DOMESTIC_D")]
    DomesticD,
    #[serde(rename = "DOMESTIC_E")]
    DomesticE,
    #[serde(rename = "DOMESTIC_F")]
    DomesticF,
    #[serde(rename = "DOMESTIC_G")]
    DomesticG,
    #[serde(rename = "DOMESTIC_H")]
    DomesticH,
    #[serde(rename = "DOMESTIC_I")]
    DomesticI,
    #[serde(rename = "DOMESTIC_J")]
    DomesticJ,
    #[serde(rename = "DOMESTIC_K")]
    DomesticK,
    #[serde(rename = "DOMESTIC_L")]
    DomesticL,
    #[serde(rename = "DOMESTIC_M")]
    DomesticM,
    #[serde(rename = "DOMESTIC_N")]
    DomesticN,
    #[serde(rename = "DOMESTIC_O")]
    DomesticO,
    #[serde(rename = "GBT_AC")]
    GbtAc,
    #[serde(rename = "GBT_DC")]
    GbtDc,
    #[serde(rename = "IEC_60309_2_single_16")]
    Iec60309_2Single16,
    #[serde(rename = "IEC_60309_2_three_16")]
    Iec60309_2Three16,
    #[serde(rename = "IEC_60309_2_three_32")]
    Iec60309_2Three32,
    #[serde(rename = "IEC_60309_2_three_64")]
    Iec60309_2Three64,
    #[serde(rename = "IEC_62196_T1")]
    Iec62196T1,
    #[serde(rename = "IEC_62196_T1_COMBO")]
    Iec62196T1Combo,
    #[serde(rename = "IEC_62196_T2")]
    Iec62196T2,
    #[serde(rename = "IEC_62196_T2_COMBO")]
    Iec62196T2Combo,
    #[serde(rename = "IEC_62196_T3A")]
    Iec62196T3A,
    #[serde(rename = "IEC_62196_T3C")]
    Iec62196T3C,
    #[serde(rename = "NEMA_5_20")]
    Nema5_20,
    #[serde(rename = "NEMA_6_30")]
    Nema6_30,
    #[serde(rename = "NEMA_6_50")]
    Nema6_50,
    #[serde(rename = "NEMA_10_30")]
    Nema10_30,
    #[serde(rename = "NEMA_10_50")]
    Nema10_50,
    #[serde(rename = "NEMA_14_30")]
    Nema14_30,
    #[serde(rename = "NEMA_14_50")]
    Nema14_50,
    #[serde(rename = "PANTOGRAPH_BOTTOM_UP")]
    PantographBottomUp,
    #[serde(rename = "PANTOGRAPH_TOP_DOWN")]
    PantographTopDown,
    #[serde(rename = "TESLA_R")]
    TeslaR,
    #[serde(rename = "TESLA_S")]
    TeslaS,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ConnectorFormat {
    Socket,
    Cable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum PowerType {
    #[serde(rename = "AC_1_PHASE")]
    Ac1Phase,
    #[serde(rename = "AC_2_PHASE")]
    Ac2Phase,
    #[serde(rename = "AC_2_PHASE_SPLIT")]
    Ac2PhaseSplit,
    #[serde(rename = "AC_3_PHASE")]
    Ac3Phase,
    #[serde(rename = "DC")]
    Dc,
}

/// A socket or cable-and-plug of an EVSE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct Connector {
    #[schema(value_type = String, max_length = 36)]
    pub id: CiString<36>,
    pub standard: ConnectorType,
    pub format: ConnectorFormat,
    pub power_type: PowerType,
    /// Volts (line to neutral for three-phase AC).
    pub max_voltage: u32,
    /// Amperes.
    pub max_amperage: u32,
    /// Watts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_electric_power: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub tariff_ids: Option<Vec<CiString<36>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub terms_and_conditions: Option<Url>,
    #[schema(value_type = String, format = DateTime)]
    pub last_updated: DateTime,
}

fn unique_connector_ids(connectors: &[Connector]) -> Result<(), ValidationError> {
    for (i, a) in connectors.iter().enumerate() {
        if connectors[i + 1..]
            .iter()
            .any(|b| b.id.eq_ci(a.id.as_str()))
        {
            return Err(rule_error(
                "unique",
                format!("connector id `{}` appears more than once", a.id),
            ));
        }
    }
    Ok(())
}

/// One EVSE: the part that powers one vehicle at a time, with one or more connectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct Evse {
    #[schema(value_type = String, max_length = 36)]
    pub uid: CiString<36>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 48)]
    pub evse_id: Option<CiString<48>>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_schedule: Option<Vec<StatusSchedule>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<Capability>>,
    #[validate(
        length(min = 1, message = "at least one connector is required"),
        custom(function = "unique_connector_ids"),
        nested
    )]
    pub connectors: Vec<Connector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 4)]
    pub floor_level: Option<OcpiString<4>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coordinates: Option<GeoLocation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 16)]
    pub physical_reference: Option<OcpiString<16>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directions: Option<Vec<DisplayText>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parking_restrictions: Option<Vec<ParkingRestriction>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<Image>>,
    #[schema(value_type = String, format = DateTime)]
    pub last_updated: DateTime,
}

impl Evse {
    /// The connector with this id (ids compare case-insensitively).
    pub fn connector(&self, id: &str) -> Option<&Connector> {
        self.connectors.iter().find(|c| c.id.eq_ci(id))
    }

    pub fn connector_mut(&mut self, id: &str) -> Option<&mut Connector> {
        self.connectors.iter_mut().find(|c| c.id.eq_ci(id))
    }
}

fn unique_evse_uids(evses: &[Evse]) -> Result<(), ValidationError> {
    for (i, a) in evses.iter().enumerate() {
        if evses[i + 1..].iter().any(|b| b.uid.eq_ci(a.uid.as_str())) {
            return Err(rule_error(
                "unique",
                format!("EVSE uid `{}` appears more than once", a.uid),
            ));
        }
    }
    Ok(())
}

/// A charging location with its EVSEs.
///
/// `Validate` is written by hand: `publish_allowed_to` may only be non-empty when `publish` is
/// false, a rule spanning two fields that must still be reported under a field name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Location {
    #[schema(value_type = String, max_length = 2)]
    pub country_code: CountryCode,
    #[schema(value_type = String, max_length = 3)]
    pub party_id: PartyId,
    #[schema(value_type = String, max_length = 36)]
    pub id: CiString<36>,
    pub publish: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_allowed_to: Option<Vec<PublishTokenType>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 255)]
    pub name: Option<OcpiString<255>>,
    /// string(255) per the 2.2.1 errata (earlier text said 45).
    #[schema(value_type = String, max_length = 255)]
    pub address: OcpiString<255>,
    #[schema(value_type = String, max_length = 45)]
    pub city: OcpiString<45>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 10)]
    pub postal_code: Option<OcpiString<10>>,
    /// string(45) per the 2.2.1 errata (earlier text said 20).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 45)]
    pub state: Option<OcpiString<45>>,
    pub country: CountryAlpha3,
    pub coordinates: GeoLocation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_locations: Option<Vec<AdditionalGeoLocation>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parking_type: Option<ParkingType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evses: Option<Vec<Evse>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directions: Option<Vec<DisplayText>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<BusinessDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suboperator: Option<BusinessDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<BusinessDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facilities: Option<Vec<Facility>>,
    /// IANA tz name, e.g. `Europe/Oslo`.
    #[schema(value_type = String, max_length = 255)]
    pub time_zone: OcpiString<255>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opening_times: Option<Hours>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charging_when_closed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<Image>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy_mix: Option<EnergyMix>,
    #[schema(value_type = String, format = DateTime)]
    pub last_updated: DateTime,
}

impl Location {
    /// The EVSE with this uid (uids compare case-insensitively).
    pub fn evse(&self, uid: &str) -> Option<&Evse> {
        self.evses.as_deref()?.iter().find(|e| e.uid.eq_ci(uid))
    }

    pub fn evse_mut(&mut self, uid: &str) -> Option<&mut Evse> {
        self.evses.as_mut()?.iter_mut().find(|e| e.uid.eq_ci(uid))
    }

    /// `charging_when_closed`, with its default (true) when absent.
    pub fn charges_when_closed(&self) -> bool {
        self.charging_when_closed.unwrap_or(true)
    }
}

impl Validate for Location {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if let Some(list) = &self.publish_allowed_to {
            if self.publish && !list.is_empty() {
                errors.add(
                    "publish_allowed_to",
                    rule_error("publish", "may only be used when publish is false"),
                );
            } else {
                errors.merge_self("publish_allowed_to", list.validate());
            }
        }
        if let Some(evses) = &self.evses {
            match unique_evse_uids(evses) {
                Err(e) => errors.add("evses", e),
                Ok(()) => {
                    errors.merge_self("evses", evses.validate());
                }
            }
        }
        if let Some(hours) = &self.opening_times {
            errors.merge_self("opening_times", hours.validate());
        }
        finish(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::json::parse_body;
    use serde::de::DeserializeOwned;
    use serde_json::{Value, json};

    use crate::ocpi::test_support::{example, example_names, mutate, same_json};

    /// Parses `value` as `T` through the hub's body parser, writes it back, parses that again:
    /// both parses agree and the written JSON is the input (numbers by value).
    fn round_trip<T>(value: &Value) -> T
    where
        T: DeserializeOwned + Validate + Serialize + PartialEq + fmt::Debug,
    {
        let first: T =
            parse_body(value.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}: {value}"));
        let written = serde_json::to_value(&first).unwrap();
        assert!(same_json(value, &written), "{value}\n!=\n{written}");
        let second: T = parse_body(written.to_string().as_bytes()).unwrap();
        assert_eq!(first, second);
        first
    }

    #[test]
    fn spec_examples_round_trip() {
        let mut seen = 0;
        let names: Vec<String> = example_names()
            .into_iter()
            .filter(|n| n.starts_with("location_") || n.starts_with("type_displaytext"))
            .collect();
        for name in &names {
            let v = example(name);
            match name.as_str() {
                n if n.starts_with("location_example") => {
                    let loc: Location = round_trip(&v);
                    assert!(!loc.id.as_str().is_empty());
                }
                // Bare Hours objects.
                n if n.starts_with("location_hours_") => {
                    round_trip::<Hours>(&v);
                }
                // A fragment `{"opening_times": Hours}`.
                "location_regularhours_example.json" => {
                    round_trip::<Hours>(&v["opening_times"]);
                }
                // Fragments `{"energy_mix": EnergyMix}`.
                n if n.starts_with("location_energymix_") => {
                    round_trip::<EnergyMix>(&v["energy_mix"]);
                }
                "type_displaytext_example.json" => {
                    round_trip::<DisplayText>(&v);
                }
                // PATCH bodies: partial objects by design, not a Location/EVSE/Connector.
                n if n.starts_with("location_patch_") => continue,
                // Known spec-example error: this "add an EVSE" PUT body is not a valid EVSE.
                // Its connector lacks power_type, max_voltage, max_amperage and last_updated,
                // it has `floor` (not `floor_level`) and a number as `physical_reference`.
                "location_put_example_add_evse.json" => {
                    let err = parse_body::<Evse>(v.to_string().as_bytes())
                        .unwrap_err()
                        .to_string();
                    assert!(err.contains("`connectors[0]`"), "{err}");
                    assert!(err.contains("missing field"), "{err}");
                }
                other => panic!("example {other} is not covered by this test"),
            }
            seen += 1;
        }
        assert!(seen >= 15, "only {seen} examples found");
    }

    #[test]
    fn example_helpers_find_evses_and_connectors() {
        let loc: Location = round_trip(&example("location_example.json"));
        let evse = loc.evse("3257").unwrap();
        assert_eq!(evse.status, Status::Reserved);
        assert_eq!(
            evse.connector("1").unwrap().standard,
            ConnectorType::Iec62196T2
        );
        assert!(evse.connector("9").is_none());
        assert!(loc.evse("nope").is_none());
        assert!(loc.charges_when_closed());
    }

    fn valid_location() -> Value {
        json!({
            "country_code": "NL",
            "party_id": "ABC",
            "id": "LOC-1",
            "publish": false,
            "publish_allowed_to": [
                {"uid": "0123456789", "type": "RFID"},
                {"visual_number": "NL-ABC-1", "issuer": "Example"},
                {"group_id": "GROUP-7"}
            ],
            "name": "Example garage",
            "address": "Stationsplein 1",
            "city": "Utrecht",
            "postal_code": "3511 ED",
            "state": "Utrecht",
            "country": "NLD",
            "coordinates": {"latitude": "52.0894444", "longitude": "5.1101111"},
            "related_locations": [{
                "latitude": "52.08900",
                "longitude": "5.11000",
                "name": {"language": "nl", "text": "Ingang"}
            }],
            "parking_type": "PARKING_GARAGE",
            "evses": [{
                "uid": "EVSE-1",
                "evse_id": "NL*ABC*E1",
                "status": "AVAILABLE",
                "status_schedule": [{"period_begin": "2030-01-01T00:00:00Z", "status": "REMOVED"}],
                "capabilities": ["RFID_READER", "REMOTE_START_STOP_CAPABLE"],
                "connectors": [{
                    "id": "1",
                    "standard": "IEC_60309_2_single_16",
                    "format": "SOCKET",
                    "power_type": "AC_1_PHASE",
                    "max_voltage": 230,
                    "max_amperage": 16,
                    "max_electric_power": 3680,
                    "tariff_ids": ["T1"],
                    "terms_and_conditions": "https://example.com/terms",
                    "last_updated": "2024-01-01T00:00:00Z"
                }, {
                    "id": "2",
                    "standard": "CHADEMO",
                    "format": "CABLE",
                    "power_type": "DC",
                    "max_voltage": 500,
                    "max_amperage": 125,
                    "last_updated": "2024-01-01T00:00:00Z"
                }],
                "floor_level": "-1",
                "coordinates": {"latitude": "-33.8688197", "longitude": "-151.2092955"},
                "physical_reference": "A1",
                "directions": [{"language": "en", "text": "Level -1, left"}],
                "parking_restrictions": ["EV_ONLY"],
                "images": [{"url": "https://example.com/a.png", "category": "CHARGER", "type": "png"}],
                "last_updated": "2024-01-01T00:00:00Z"
            }],
            "directions": [{"language": "en", "text": "Enter from the north"}],
            "operator": {"name": "Example CPO", "website": "https://example.com"},
            "facilities": ["TRAIN_STATION", "WIFI"],
            "time_zone": "Europe/Amsterdam",
            "opening_times": {
                "twentyfourseven": false,
                "regular_hours": [{"weekday": 1, "period_begin": "07:00", "period_end": "23:59"}],
                "exceptional_closings": [{
                    "period_begin": "2024-12-25T00:00:00Z",
                    "period_end": "2024-12-26T00:00:00Z"
                }]
            },
            "charging_when_closed": false,
            "energy_mix": {
                "is_green_energy": false,
                "energy_sources": [{"source": "SOLAR", "percentage": 60}, {"source": "GAS", "percentage": 40}],
                "environ_impact": [{"category": "CARBON_DIOXIDE", "amount": 120.5}],
                "supplier_name": "Example Energy"
            },
            "last_updated": "2024-01-02T03:04:05Z"
        })
    }

    fn parse(v: &Value) -> Result<Location, String> {
        parse_body::<Location>(v.to_string().as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn valid_fixture_parses_and_round_trips() {
        let loc: Location = round_trip(&valid_location());
        assert!(!loc.charges_when_closed());
        assert_eq!(loc.evse("evse-1").unwrap().connectors.len(), 2);
        // Unknown fields are ignored.
        let extra = mutate(valid_location(), "/vendor_extension", Some(json!({"x": 1})));
        let extra = mutate(extra, "/evses/0/connectors/0/x_custom", Some(json!("y")));
        assert_eq!(parse(&extra).unwrap(), loc);
        // Minimal: only the required fields, 24/7.
        let mut min = valid_location();
        for k in [
            "publish_allowed_to",
            "name",
            "postal_code",
            "state",
            "related_locations",
            "parking_type",
            "evses",
            "directions",
            "operator",
            "facilities",
            "charging_when_closed",
            "energy_mix",
        ] {
            min = mutate(min, &format!("/{k}"), None);
        }
        let min = mutate(
            min,
            "/opening_times",
            Some(json!({"twentyfourseven": true})),
        );
        let parsed: Location = round_trip(&min);
        assert!(parsed.evse("EVSE-1").is_none());
    }

    #[test]
    fn errata_lengths_are_accepted() {
        let v = mutate(valid_location(), "/address", Some(json!("a".repeat(255))));
        let v = mutate(v, "/state", Some(json!("s".repeat(45))));
        let loc = parse(&v).unwrap();
        assert_eq!(loc.address.as_str().len(), 255);
        assert_eq!(loc.state.unwrap().as_str().len(), 45);
        // Multi-byte characters count as characters, not bytes.
        let v = mutate(valid_location(), "/city", Some(json!("ö".repeat(45))));
        assert!(parse(&v).is_ok());
    }

    #[test]
    fn bad_locations_name_the_field() {
        #[rustfmt::skip]
        let rows: Vec<(&str, Option<Value>, &str)> = vec![
            ("/id", Some(json!("x".repeat(37))), "`id`"),
            ("/id", Some(json!("tab\there")), "`id`"),
            ("/country_code", Some(json!("NLD")), "`country_code`"),
            ("/party_id", Some(json!("ABCD")), "`party_id`"),
            ("/publish", Some(json!("yes")), "`publish`"),
            ("/address", Some(json!("a".repeat(256))), "`address`"),
            ("/state", Some(json!("s".repeat(46))), "`state`"),
            ("/city", Some(json!("c".repeat(46))), "`city`"),
            ("/postal_code", Some(json!("12345678901")), "`postal_code`"),
            ("/name", Some(json!("n".repeat(256))), "`name`"),
            ("/country", Some(json!("NL")), "`country`"),
            ("/country", Some(json!("nld")), "`country`"),
            ("/time_zone", None, "missing field `time_zone`"),
            ("/last_updated", None, "missing field `last_updated`"),
            ("/last_updated", Some(json!("yesterday")), "`last_updated`"),
            ("/coordinates/latitude", Some(json!("52.1")), "`coordinates.latitude`"),
            ("/coordinates/latitude", Some(json!("152.12345")), "`coordinates.latitude`"),
            ("/coordinates/latitude", Some(json!("95.12345")), "`coordinates.latitude`"),
            ("/coordinates/latitude", Some(json!("52,12345")), "`coordinates.latitude`"),
            ("/coordinates/latitude", Some(json!("52.123456789")), "`coordinates.latitude`"),
            ("/coordinates/latitude", Some(json!(52.12345)), "`coordinates.latitude`"),
            ("/coordinates/longitude", Some(json!("1234.12345")), "`coordinates.longitude`"),
            ("/coordinates/longitude", Some(json!("181.00000")), "`coordinates.longitude`"),
            ("/coordinates/longitude", Some(json!("+5.12345")), "`coordinates.longitude`"),
            ("/coordinates", None, "missing field `coordinates`"),
            ("/related_locations/0/latitude", Some(json!("1.1")), "`related_locations[0].latitude`"),
            ("/parking_type", Some(json!("GARAGE")), "`parking_type`"),
            ("/facilities/1", Some(json!("SAUNA")), "`facilities[1]`"),
            ("/directions/0/language", Some(json!("eng")), "`directions[0].language`"),
            ("/directions/0/text", Some(json!("t".repeat(513))), "`directions[0].text`"),
            ("/operator/name", Some(json!("o".repeat(101))), "`operator.name`"),
            ("/publish_allowed_to/0/type", None, "`publish_allowed_to[0].type`"),
            ("/publish_allowed_to/0/type", Some(json!("NFC")), "`publish_allowed_to[0].type`"),
            ("/publish_allowed_to/1/issuer", None, "`publish_allowed_to[1].issuer`"),
            ("/publish_allowed_to/2", Some(json!({"issuer": "Example"})), "`publish_allowed_to[2].uid`"),
            ("/publish", Some(json!(true)), "`publish_allowed_to`"),
            ("/evses/0/uid", Some(json!("u".repeat(37))), "`evses[0].uid`"),
            ("/evses/0/evse_id", Some(json!("e".repeat(49))), "`evses[0].evse_id`"),
            ("/evses/0/status", Some(json!("FREE")), "`evses[0].status`"),
            ("/evses/0/status", None, "missing field `status`"),
            ("/evses/0/status_schedule/0/status", Some(json!("x")), "`evses[0].status_schedule[0].status`"),
            ("/evses/0/capabilities/0", Some(json!("TELEPORT")), "`evses[0].capabilities[0]`"),
            ("/evses/0/connectors", Some(json!([])), "`evses[0].connectors`"),
            ("/evses/0/connectors", None, "missing field `connectors`"),
            ("/evses/0/connectors/1/id", Some(json!("1")), "`evses[0].connectors`"),
            ("/evses/0/floor_level", Some(json!("12345")), "`evses[0].floor_level`"),
            ("/evses/0/physical_reference", Some(json!(3)), "`evses[0].physical_reference`"),
            ("/evses/0/physical_reference", Some(json!("p".repeat(17))), "`evses[0].physical_reference`"),
            ("/evses/0/parking_restrictions/0", Some(json!("VIP")), "`evses[0].parking_restrictions[0]`"),
            ("/evses/0/images/0/category", Some(json!("SELFIE")), "`evses[0].images[0].category`"),
            ("/evses/0/coordinates/longitude", Some(json!("5.1")), "`evses[0].coordinates.longitude`"),
            ("/evses/0/last_updated", None, "missing field `last_updated`"),
            ("/evses/0/connectors/0/id", Some(json!("c".repeat(37))), "`evses[0].connectors[0].id`"),
            ("/evses/0/connectors/0/standard", Some(json!("IEC_62196_T9")), "`evses[0].connectors[0].standard`"),
            ("/evses/0/connectors/0/standard", Some(json!("iec_62196_t2")), "`evses[0].connectors[0].standard`"),
            ("/evses/0/connectors/0/format", Some(json!("PLUG")), "`evses[0].connectors[0].format`"),
            ("/evses/0/connectors/0/power_type", Some(json!("AC_4_PHASE")), "`evses[0].connectors[0].power_type`"),
            ("/evses/0/connectors/1/max_voltage", Some(json!("500")), "`evses[0].connectors[1].max_voltage`"),
            ("/evses/0/connectors/1/max_voltage", Some(json!(-1)), "`evses[0].connectors[1].max_voltage`"),
            ("/evses/0/connectors/1/max_amperage", Some(json!(12.5)), "`evses[0].connectors[1].max_amperage`"),
            ("/evses/0/connectors/1/max_amperage", None, "missing field `max_amperage`"),
            ("/evses/0/connectors/0/tariff_ids/0", Some(json!("t".repeat(37))), "`evses[0].connectors[0].tariff_ids[0]`"),
            ("/evses/0/connectors/0/terms_and_conditions", Some(json!("not a url")), "`evses[0].connectors[0].terms_and_conditions`"),
            ("/evses/0/connectors/0/last_updated", Some(json!(42)), "`evses[0].connectors[0].last_updated`"),
            ("/opening_times/regular_hours/0/period_begin", Some(json!("25:00")), "`opening_times.regular_hours[0].period_begin`"),
            ("/opening_times/regular_hours/0/period_begin", Some(json!("7:00")), "`opening_times.regular_hours[0].period_begin`"),
            ("/opening_times/regular_hours/0/period_end", Some(json!("24:00")), "`opening_times.regular_hours[0].period_end`"),
            ("/opening_times/regular_hours/0/period_end", Some(json!("06:00")), "`opening_times.regular_hours[0].period_end`"),
            ("/opening_times/regular_hours/0/weekday", Some(json!(8)), "`opening_times.regular_hours[0].weekday`"),
            ("/opening_times/regular_hours/0/weekday", Some(json!(0)), "`opening_times.regular_hours[0].weekday`"),
            ("/opening_times/regular_hours", None, "`opening_times.regular_hours`"),
            ("/opening_times/twentyfourseven", Some(json!(true)), "`opening_times.regular_hours`"),
            ("/opening_times/twentyfourseven", None, "missing field `twentyfourseven`"),
            ("/opening_times/exceptional_closings/0/period_end", Some(json!("soon")), "`opening_times.exceptional_closings[0].period_end`"),
            ("/energy_mix/energy_sources/0/percentage", Some(json!(101)), "`energy_mix.energy_sources[0].percentage`"),
            ("/energy_mix/energy_sources/0/percentage", Some(json!(-1)), "`energy_mix.energy_sources[0].percentage`"),
            ("/energy_mix/energy_sources/0/source", Some(json!("HAMSTERS")), "`energy_mix.energy_sources[0].source`"),
            ("/energy_mix/environ_impact/0/amount", Some(json!("120")), "`energy_mix.environ_impact[0].amount`"),
            ("/energy_mix/supplier_name", Some(json!("s".repeat(65))), "`energy_mix.supplier_name`"),
        ];
        for (pointer, new, expected) in rows {
            let v = mutate(valid_location(), pointer, new.clone());
            match parse(&v) {
                Ok(_) => panic!("{pointer} = {new:?} was accepted"),
                Err(e) => assert!(e.contains(expected), "{pointer} = {new:?}: {e}"),
            }
        }
        // Two EVSEs with the same uid (case-insensitively).
        let mut v = valid_location();
        let mut twin = v["evses"][0].clone();
        twin["uid"] = json!("evse-1");
        v["evses"].as_array_mut().unwrap().push(twin);
        let e = parse(&v).unwrap_err();
        assert!(e.contains("`evses`") && e.contains("more than once"), "{e}");
    }

    #[test]
    fn single_objects_parse_for_evse_and_connector_bodies() {
        let evse = valid_location()["evses"][0].clone();
        let parsed: Evse = round_trip(&evse);
        assert!(parsed.connector("2").is_some());
        let e = parse_body::<Evse>(
            mutate(evse, "/connectors", Some(json!([])))
                .to_string()
                .as_bytes(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`connectors`"), "{e}");
        let connector = valid_location()["evses"][0]["connectors"][0].clone();
        let parsed: Connector = round_trip(&connector);
        assert_eq!(parsed.standard, ConnectorType::Iec60309_2Single16);
        assert_eq!(parsed.power_type, PowerType::Ac1Phase);
    }

    #[test]
    fn every_connector_type_has_its_spec_spelling() {
        for name in [
            "CHADEMO",
            "CHAOJI",
            "DOMESTIC_A",
            "DOMESTIC_B",
            "DOMESTIC_C",
            "DOMESTIC_D",
            "DOMESTIC_E",
            "DOMESTIC_F",
            "DOMESTIC_G",
            "DOMESTIC_H",
            "DOMESTIC_I",
            "DOMESTIC_J",
            "DOMESTIC_K",
            "DOMESTIC_L",
            "DOMESTIC_M",
            "DOMESTIC_N",
            "DOMESTIC_O",
            "GBT_AC",
            "GBT_DC",
            "IEC_60309_2_single_16",
            "IEC_60309_2_three_16",
            "IEC_60309_2_three_32",
            "IEC_60309_2_three_64",
            "IEC_62196_T1",
            "IEC_62196_T1_COMBO",
            "IEC_62196_T2",
            "IEC_62196_T2_COMBO",
            "IEC_62196_T3A",
            "IEC_62196_T3C",
            "NEMA_5_20",
            "NEMA_6_30",
            "NEMA_6_50",
            "NEMA_10_30",
            "NEMA_10_50",
            "NEMA_14_30",
            "NEMA_14_50",
            "PANTOGRAPH_BOTTOM_UP",
            "PANTOGRAPH_TOP_DOWN",
            "TESLA_R",
            "TESLA_S",
        ] {
            let t: ConnectorType = serde_json::from_value(json!(name)).unwrap();
            assert_eq!(serde_json::to_value(t).unwrap(), json!(name));
        }
        for name in [
            "AC_1_PHASE",
            "AC_2_PHASE",
            "AC_2_PHASE_SPLIT",
            "AC_3_PHASE",
            "DC",
        ] {
            let t: PowerType = serde_json::from_value(json!(name)).unwrap();
            assert_eq!(serde_json::to_value(t).unwrap(), json!(name));
        }
        for name in ["OUTOFORDER", "INOPERATIVE", "UNKNOWN"] {
            let s: Status = serde_json::from_value(json!(name)).unwrap();
            assert_eq!(serde_json::to_value(s).unwrap(), json!(name));
        }
    }

    #[test]
    fn coordinates_and_times() {
        for ok in [
            "0.00000",
            "-0.1234567",
            "90.00000",
            "-89.9999999",
            "05.12345",
        ] {
            assert!(Latitude::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1",
            "1.",
            ".12345",
            "1.1234",
            "1.12345678",
            "100.12345",
            "90.00001",
            "1e1.12345",
        ] {
            assert!(Latitude::new(bad).is_err(), "{bad}");
        }
        for ok in ["180.0000000", "-126.104965", "3.729944"] {
            assert!(Longitude::new(ok).is_ok(), "{ok}");
        }
        for bad in ["180.0000001", "-1000.12345", "--1.12345"] {
            assert!(Longitude::new(bad).is_err(), "{bad}");
        }
        assert_eq!(TimeOfDay::new("00:00").unwrap().minutes(), 0);
        assert_eq!(TimeOfDay::new("23:59").unwrap().minutes(), 23 * 60 + 59);
        assert_eq!(TimeOfDay::new("18:15").unwrap().minutes(), 18 * 60 + 15);
        for bad in ["24:00", "12:60", "1:00", "12:5", "12-00", "ab:cd", "12:000"] {
            assert!(TimeOfDay::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decimals_are_json_numbers() {
        let mix: EnergyMix = serde_json::from_value(json!({
            "is_green_energy": true,
            "energy_sources": [{"source": "WIND", "percentage": 33.3}],
            "environ_impact": [{"category": "NUCLEAR_WASTE", "amount": 0.0006}]
        }))
        .unwrap();
        let sources = mix.energy_sources.as_ref().unwrap();
        assert_eq!(sources[0].percentage.to_string(), "33.3");
        let out = serde_json::to_string(&mix).unwrap();
        assert!(out.contains(r#""percentage":33.3"#), "{out}");
        assert!(out.contains(r#""amount":0.0006"#), "{out}");
    }
}
