//! The Token object of the Tokens module and the classes of real-time authorisation
//! (LocationReferences, AuthorizationInfo). Single-field rules are checked while deserialising,
//! so a 2001 names the field.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::ocpi::locations::model::{DisplayText, LanguageCode};
use crate::ocpi::types::{CiString, CountryCode, DateTime, OcpiString, PartyId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TokenType {
    AdHocUser,
    AppUser,
    Other,
    Rfid,
}

impl TokenType {
    pub fn as_str(&self) -> &'static str {
        match self {
            TokenType::AdHocUser => "AD_HOC_USER",
            TokenType::AppUser => "APP_USER",
            TokenType::Other => "OTHER",
            TokenType::Rfid => "RFID",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WhitelistType {
    Always,
    Allowed,
    AllowedOffline,
    Never,
}

impl WhitelistType {
    pub fn as_str(&self) -> &'static str {
        match self {
            WhitelistType::Always => "ALWAYS",
            WhitelistType::Allowed => "ALLOWED",
            WhitelistType::AllowedOffline => "ALLOWED_OFFLINE",
            WhitelistType::Never => "NEVER",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProfileType {
    Cheap,
    Fast,
    Green,
    Regular,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AllowedType {
    Allowed,
    Blocked,
    Expired,
    NoCredit,
    NotAllowed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnergyContract {
    #[schema(value_type = String, max_length = 64)]
    pub supplier_name: OcpiString<64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 64)]
    pub contract_id: Option<OcpiString<64>>,
}

/// A token of an eMSP's driver (RFID card, app user, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct Token {
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 64)]
    pub visual_number: Option<OcpiString<64>>,
    #[schema(value_type = String, max_length = 64)]
    pub issuer: OcpiString<64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 36)]
    pub group_id: Option<CiString<36>>,
    pub valid: bool,
    pub whitelist: WhitelistType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "en")]
    pub language: Option<LanguageCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_profile_type: Option<ProfileType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_contract: Option<EnergyContract>,
    #[schema(value_type = String, example = "2026-01-01T00:00:00Z")]
    pub last_updated: DateTime,
}

/// Where a driver wants to charge: sent with a real-time authorisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct LocationReferences {
    #[schema(value_type = String, max_length = 36)]
    pub location_id: CiString<36>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub evse_uids: Vec<CiString<36>>,
}

/// An eMSP's answer to a real-time authorisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuthorizationInfo {
    pub allowed: AllowedType,
    pub token: Token,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationReferences>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 36)]
    pub authorization_reference: Option<CiString<36>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<DisplayText>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocpi::test_support::{example, mutate};

    #[test]
    fn the_spec_examples_round_trip() {
        for name in [
            "token_example_1_app_user.json",
            "token_example_2_full_rfid.json",
            "token_put_example.json",
        ] {
            let v = example(name);
            let t: Token = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(serde_json::to_value(&t).unwrap(), v, "{name}");
        }
    }

    #[test]
    fn fields_are_checked() {
        let base = example("token_example_2_full_rfid.json");
        for (pointer, value) in [
            ("/uid", serde_json::json!("x".repeat(37))),
            ("/type", serde_json::json!("CARD")),
            ("/whitelist", serde_json::json!("SOMETIMES")),
            ("/issuer", serde_json::json!("x".repeat(65))),
            ("/valid", serde_json::json!("yes")),
            ("/country_code", serde_json::json!("DEU")),
            ("/energy_contract/supplier_name", serde_json::json!(5)),
        ] {
            let bad = mutate(base.clone(), pointer, Some(value));
            assert!(serde_json::from_value::<Token>(bad).is_err(), "{pointer}");
        }
        for required in ["/uid", "/contract_id", "/issuer", "/valid", "/last_updated"] {
            let bad = mutate(base.clone(), required, None);
            assert!(serde_json::from_value::<Token>(bad).is_err(), "{required}");
        }
    }
}
