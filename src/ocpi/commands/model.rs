//! The objects of the Commands module.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::ocpi::locations::model::DisplayText;
use crate::ocpi::tokens::model::Token;
use crate::ocpi::types::{CiString, DateTime, Url};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CommandType {
    CancelReservation,
    ReserveNow,
    StartSession,
    StopSession,
    UnlockConnector,
}

impl CommandType {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::CancelReservation => "CANCEL_RESERVATION",
            Self::ReserveNow => "RESERVE_NOW",
            Self::StartSession => "START_SESSION",
            Self::StopSession => "STOP_SESSION",
            Self::UnlockConnector => "UNLOCK_CONNECTOR",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct StartSession {
    #[schema(value_type = String)]
    pub response_url: Url,
    pub token: Token,
    #[schema(value_type = String, max_length = 36)]
    pub location_id: CiString<36>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 36)]
    pub evse_uid: Option<CiString<36>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 36)]
    pub connector_id: Option<CiString<36>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 36)]
    pub authorization_reference: Option<CiString<36>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct StopSession {
    #[schema(value_type = String)]
    pub response_url: Url,
    #[schema(value_type = String, max_length = 36)]
    pub session_id: CiString<36>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct ReserveNow {
    #[schema(value_type = String)]
    pub response_url: Url,
    pub token: Token,
    #[schema(value_type = String, format = DateTime)]
    pub expiry_date: DateTime,
    #[schema(value_type = String, max_length = 36)]
    pub reservation_id: CiString<36>,
    #[schema(value_type = String, max_length = 36)]
    pub location_id: CiString<36>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 36)]
    pub evse_uid: Option<CiString<36>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, max_length = 36)]
    pub authorization_reference: Option<CiString<36>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct CancelReservation {
    #[schema(value_type = String)]
    pub response_url: Url,
    #[schema(value_type = String, max_length = 36)]
    pub reservation_id: CiString<36>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct UnlockConnector {
    #[schema(value_type = String)]
    pub response_url: Url,
    #[schema(value_type = String, max_length = 36)]
    pub location_id: CiString<36>,
    #[schema(value_type = String, max_length = 36)]
    pub evse_uid: CiString<36>,
    #[schema(value_type = String, max_length = 36)]
    pub connector_id: CiString<36>,
}

/// Whether the hub took the command on (the synchronous answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CommandResponseType {
    NotSupported,
    Rejected,
    Accepted,
    UnknownSession,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CommandResponse {
    pub result: CommandResponseType,
    /// Seconds the eMSP should wait for the CommandResult.
    pub timeout: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub message: Vec<DisplayText>,
}

/// What the charge point did (the asynchronous result).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CommandResultType {
    Accepted,
    CanceledReservation,
    EvseOccupied,
    EvseInoperative,
    Failed,
    NotSupported,
    Rejected,
    Timeout,
    UnknownReservation,
}

impl CommandResultType {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Accepted => "ACCEPTED",
            Self::CanceledReservation => "CANCELED_RESERVATION",
            Self::EvseOccupied => "EVSE_OCCUPIED",
            Self::EvseInoperative => "EVSE_INOPERATIVE",
            Self::Failed => "FAILED",
            Self::NotSupported => "NOT_SUPPORTED",
            Self::Rejected => "REJECTED",
            Self::Timeout => "TIMEOUT",
            Self::UnknownReservation => "UNKNOWN_RESERVATION",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
pub struct CommandResult {
    pub result: CommandResultType,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub message: Vec<DisplayText>,
}
