//! The Session object of the Sessions module and charging preferences.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationErrors};

use crate::ocpi::cdrs::model::{Amount, AuthMethod, CdrToken, ChargingPeriod};
use crate::ocpi::locations::model::{decimal_json, rule_error};
use crate::ocpi::tariffs::model::Currency;
use crate::ocpi::tokens::model::ProfileType;
use crate::ocpi::types::{CiString, CountryCode, DateTime, OcpiString, PartyId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionStatus {
    Active,
    Completed,
    Invalid,
    Pending,
    /// Some CPOs write RESERVED (the spec's prose); it is read as RESERVATION.
    #[serde(alias = "RESERVED")]
    Reservation,
}

impl SessionStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Completed => "COMPLETED",
            Self::Invalid => "INVALID",
            Self::Pending => "PENDING",
            Self::Reservation => "RESERVATION",
        }
    }
}

/// A charging session at a CPO, as its token's eMSP sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    #[schema(value_type = String, example = "NL")]
    pub country_code: CountryCode,
    #[schema(value_type = String, example = "CPO")]
    pub party_id: PartyId,
    #[schema(value_type = String, max_length = 36)]
    pub id: CiString<36>,
    #[schema(value_type = String, format = DateTime)]
    pub start_date_time: DateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub end_date_time: Option<DateTime>,
    #[serde(with = "decimal_json")]
    #[schema(value_type = f64)]
    pub kwh: Decimal,
    pub cdr_token: CdrToken,
    pub auth_method: AuthMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 36)]
    pub authorization_reference: Option<CiString<36>>,
    #[schema(value_type = String, max_length = 36)]
    pub location_id: CiString<36>,
    #[schema(value_type = String, max_length = 36)]
    pub evse_uid: CiString<36>,
    #[schema(value_type = String, max_length = 36)]
    pub connector_id: CiString<36>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 255)]
    pub meter_id: Option<OcpiString<255>>,
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charging_periods: Option<Vec<ChargingPeriod>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cost: Option<Amount>,
    pub status: SessionStatus,
    #[schema(value_type = String, format = DateTime)]
    pub last_updated: DateTime,
}

impl Validate for Session {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.kwh.is_sign_negative() {
            errors.add("kwh", rule_error("range", "kwh may not be negative"));
        }
        if let Some(end) = &self.end_date_time
            && *end < self.start_date_time
        {
            errors.add(
                "end_date_time",
                rule_error("order", "the session ends before it starts"),
            );
        }
        if let Err(e) = self.cdr_token.validate() {
            errors.merge_self("cdr_token", Err(e));
        }
        for p in self.charging_periods.iter().flatten() {
            if p.dimensions.is_empty() {
                errors.add(
                    "charging_periods",
                    rule_error("length", "every charging period needs a dimension"),
                );
                break;
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// What the driver wants from a session (smart charging).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct ChargingPreferences {
    pub profile_type: ProfileType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub departure_time: Option<DateTime>,
    /// kWh.
    #[serde(
        default,
        with = "decimal_json::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<f64>)]
    pub energy_need: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discharge_allowed: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChargingPreferencesResponse {
    Accepted,
    DepartureRequired,
    EnergyNeedRequired,
    NotPossible,
    ProfileTypeNotSupported,
}
