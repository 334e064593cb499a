//! The CDR object of the CDRs module and the classes Sessions share with it (CdrToken,
//! ChargingPeriod, CdrDimension, AuthMethod). Lengths are checked leniently where the 2.2.1
//! errata made Location fields longer than their CdrLocation copies (address 255, state 45):
//! a CDR built from a valid Location must not be refused.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationErrors};

use crate::ocpi::locations::model::{
    ConnectorFormat, ConnectorType, CountryAlpha3, GeoLocation, PowerType, decimal_json, rule_error,
};
use crate::ocpi::tariffs::model::{Currency, Tariff};
use crate::ocpi::tokens::model::TokenType;
use crate::ocpi::types::{CiString, CountryCode, DateTime, OcpiString, PartyId};

/// How a charging session was authorised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthMethod {
    AuthRequest,
    Command,
    Whitelist,
}

impl AuthMethod {
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }
}

/// The token a session or CDR ran on, with its owner (the eMSP that receives the session).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct CdrToken {
    #[schema(value_type = String, example = "NL")]
    pub country_code: CountryCode,
    #[schema(value_type = String, example = "EMS")]
    pub party_id: PartyId,
    #[schema(value_type = String, max_length = 36)]
    pub uid: CiString<36>,
    #[serde(rename = "type")]
    pub token_type: TokenType,
    #[schema(value_type = String, max_length = 36)]
    pub contract_id: CiString<36>,
}

/// What a charging period measures. Session-only types (CURRENT, ENERGY_EXPORT,
/// ENERGY_IMPORT, POWER, STATE_OF_CHARGE) must not appear in a CDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CdrDimensionType {
    Current,
    Energy,
    EnergyExport,
    EnergyImport,
    MaxCurrent,
    MinCurrent,
    MaxPower,
    MinPower,
    ParkingTime,
    Power,
    ReservationTime,
    StateOfCharge,
    Time,
}

impl CdrDimensionType {
    pub fn session_only(&self) -> bool {
        matches!(
            self,
            Self::Current
                | Self::EnergyExport
                | Self::EnergyImport
                | Self::Power
                | Self::StateOfCharge
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CdrDimension {
    #[serde(rename = "type")]
    pub dimension: CdrDimensionType,
    /// kWh, hours, kW, A or % by type.
    #[serde(with = "decimal_json")]
    #[schema(value_type = f64)]
    pub volume: Decimal,
}

/// One stretch of a session in which nothing cost-relevant changed; it lasts until the next
/// period starts (the last one until the session ends).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct ChargingPeriod {
    #[schema(value_type = String, format = DateTime)]
    pub start_date_time: DateTime,
    #[validate(length(min = 1, message = "at least one dimension is required"))]
    pub dimensions: Vec<CdrDimension>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 36)]
    pub tariff_id: Option<CiString<36>>,
}

/// An amount in a CDR or session; negative in credit CDRs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Amount {
    #[serde(with = "decimal_json")]
    #[schema(value_type = f64)]
    pub excl_vat: Decimal,
    #[serde(
        default,
        with = "decimal_json::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<f64>)]
    pub incl_vat: Option<Decimal>,
}

impl Amount {
    pub fn zero() -> Self {
        Self {
            excl_vat: Decimal::ZERO,
            incl_vat: Some(Decimal::ZERO),
        }
    }

    pub fn negated(&self) -> Self {
        Self {
            excl_vat: -self.excl_vat,
            incl_vat: self.incl_vat.map(|v| -v),
        }
    }
}

impl From<crate::ocpi::tariffs::model::Price> for Amount {
    fn from(p: crate::ocpi::tariffs::model::Price) -> Self {
        Self {
            excl_vat: p.excl_vat,
            incl_vat: p.incl_vat,
        }
    }
}

/// Where the session took place: the location with only the EVSE and connector used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct CdrLocation {
    #[schema(value_type = String, max_length = 36)]
    pub id: CiString<36>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 255)]
    pub name: Option<OcpiString<255>>,
    /// string(45) in the CDR class; up to 255 accepted, as a Location may hold that much.
    #[schema(value_type = String, max_length = 255)]
    pub address: OcpiString<255>,
    #[schema(value_type = String, max_length = 45)]
    pub city: OcpiString<45>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 10)]
    pub postal_code: Option<OcpiString<10>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 45)]
    pub state: Option<OcpiString<45>>,
    #[schema(value_type = String, example = "NLD")]
    pub country: CountryAlpha3,
    pub coordinates: GeoLocation,
    #[schema(value_type = String, max_length = 36)]
    pub evse_uid: CiString<36>,
    #[schema(value_type = String, max_length = 48)]
    pub evse_id: CiString<48>,
    #[schema(value_type = String, max_length = 36)]
    pub connector_id: CiString<36>,
    pub connector_standard: ConnectorType,
    pub connector_format: ConnectorFormat,
    pub connector_power_type: PowerType,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SignedValue {
    #[schema(value_type = String, max_length = 32)]
    pub nature: CiString<32>,
    /// string(5000) per the 2.2.1 errata (512 before).
    #[schema(value_type = String, max_length = 5000)]
    pub plain_data: OcpiString<5000>,
    #[schema(value_type = String, max_length = 5000)]
    pub signed_data: OcpiString<5000>,
}

/// Signed meter data (e.g. OCMF) that lets the driver verify the energy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct SignedData {
    #[schema(value_type = String, max_length = 36)]
    pub encoding_method: CiString<36>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_method_version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 512)]
    pub public_key: Option<OcpiString<512>>,
    #[validate(length(min = 1, message = "at least one signed value is required"))]
    pub signed_values: Vec<SignedValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 512)]
    pub url: Option<OcpiString<512>>,
}

/// A Charge Detail Record: the final, immutable account of one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Cdr {
    #[schema(value_type = String, example = "NL")]
    pub country_code: CountryCode,
    #[schema(value_type = String, example = "CPO")]
    pub party_id: PartyId,
    /// Up to 39 characters: 36 plus room for a credit suffix.
    #[schema(value_type = String, max_length = 39)]
    pub id: CiString<39>,
    #[schema(value_type = String, format = DateTime)]
    pub start_date_time: DateTime,
    #[schema(value_type = String, format = DateTime)]
    pub end_date_time: DateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 36)]
    pub session_id: Option<CiString<36>>,
    pub cdr_token: CdrToken,
    pub auth_method: AuthMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 36)]
    pub authorization_reference: Option<CiString<36>>,
    pub cdr_location: CdrLocation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 255)]
    pub meter_id: Option<OcpiString<255>>,
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tariffs: Option<Vec<Tariff>>,
    pub charging_periods: Vec<ChargingPeriod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_data: Option<SignedData>,
    pub total_cost: Amount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_fixed_cost: Option<Amount>,
    /// kWh.
    #[serde(with = "decimal_json")]
    #[schema(value_type = f64)]
    pub total_energy: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_energy_cost: Option<Amount>,
    /// Hours.
    #[serde(with = "decimal_json")]
    #[schema(value_type = f64)]
    pub total_time: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_time_cost: Option<Amount>,
    #[serde(
        default,
        with = "decimal_json::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<f64>)]
    pub total_parking_time: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_parking_cost: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_reservation_cost: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 255)]
    pub remark: Option<OcpiString<255>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 39)]
    pub invoice_reference_id: Option<CiString<39>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 39)]
    pub credit_reference_id: Option<CiString<39>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_charging_compensation: Option<bool>,
    #[schema(value_type = String, format = DateTime)]
    pub last_updated: DateTime,
}

impl Cdr {
    pub fn is_credit(&self) -> bool {
        self.credit == Some(true)
    }
}

impl Validate for Cdr {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.charging_periods.is_empty() {
            errors.add(
                "charging_periods",
                rule_error("length", "at least one charging period is required"),
            );
        }
        for p in &self.charging_periods {
            if p.dimensions.is_empty() {
                errors.add(
                    "charging_periods",
                    rule_error("length", "every charging period needs a dimension"),
                );
                break;
            }
            if let Some(d) = p.dimensions.iter().find(|d| d.dimension.session_only()) {
                errors.add(
                    "charging_periods",
                    rule_error(
                        "cdr_dimension",
                        format!(
                            "{:?} is a session-only dimension, not allowed in a CDR",
                            d.dimension
                        ),
                    ),
                );
                break;
            }
        }
        if self.is_credit() && self.credit_reference_id.is_none() {
            errors.add(
                "credit_reference_id",
                rule_error("required", "a credit CDR names the CDR it credits"),
            );
        }
        if !self.is_credit() && self.id.as_str().len() > 36 {
            errors.add(
                "id",
                rule_error(
                    "length",
                    "a CDR id is at most 36 characters (39 for credit CDRs)",
                ),
            );
        }
        if self.end_date_time < self.start_date_time {
            errors.add(
                "end_date_time",
                rule_error("order", "the CDR ends before it starts"),
            );
        }
        if let Err(e) = self.cdr_token.validate() {
            errors.merge_self("cdr_token", Err(e));
        }
        if let Some(s) = &self.signed_data
            && let Err(e) = s.validate()
        {
            errors.merge_self("signed_data", Err(e));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}
