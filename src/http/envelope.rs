//! The OCPI response envelope and the OCPI status codes.

use actix_web::body::BoxBody;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, Responder};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ocpi::types::DateTime;

/// Every OCPI status code of 2.2.1.
pub mod status {
    pub const SUCCESS: u32 = 1000;
    pub const GENERIC_CLIENT_ERROR: u32 = 2000;
    pub const INVALID_PARAMETERS: u32 = 2001;
    pub const NOT_ENOUGH_INFORMATION: u32 = 2002;
    pub const UNKNOWN_LOCATION: u32 = 2003;
    pub const UNKNOWN_TOKEN: u32 = 2004;
    pub const GENERIC_SERVER_ERROR: u32 = 3000;
    pub const UNABLE_TO_USE_CLIENT_API: u32 = 3001;
    pub const UNSUPPORTED_VERSION: u32 = 3002;
    pub const NO_MATCHING_ENDPOINTS: u32 = 3003;
    pub const HUB_GENERIC_ERROR: u32 = 4000;
    pub const HUB_UNKNOWN_RECEIVER: u32 = 4001;
    pub const HUB_TIMEOUT: u32 = 4002;
    pub const HUB_CONNECTION_PROBLEM: u32 = 4003;

    /// Success codes: 1000 and the custom range 1900-1999.
    pub fn is_success(code: u32) -> bool {
        code == SUCCESS || (1900..2000).contains(&code)
    }
}

/// `{data, status_code, status_message, timestamp}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Envelope<T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    pub status_code: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: DateTime,
}

impl<T> Envelope<T> {
    pub fn success(data: Option<T>) -> Self {
        Self {
            data,
            status_code: status::SUCCESS,
            status_message: Some("Success".into()),
            timestamp: DateTime::now(),
        }
    }

    pub fn error(code: u32, message: impl Into<String>) -> Self {
        Self {
            data: None,
            status_code: code,
            status_message: Some(message.into()),
            timestamp: DateTime::now(),
        }
    }
}

/// A successful OCPI answer: the envelope plus HTTP status and extra headers.
pub struct OcpiResponse<T> {
    pub envelope: Envelope<T>,
    pub http: StatusCode,
    pub headers: Vec<(String, String)>,
}

impl<T> OcpiResponse<T> {
    pub fn ok(data: T) -> Self {
        Self {
            envelope: Envelope::success(Some(data)),
            http: StatusCode::OK,
            headers: Vec::new(),
        }
    }

    pub fn created(data: T) -> Self {
        Self {
            http: StatusCode::CREATED,
            ..Self::ok(data)
        }
    }

    /// Success without a `data` field (where the spec defines none).
    pub fn empty() -> Self {
        Self {
            envelope: Envelope::success(None),
            http: StatusCode::OK,
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

impl<T: Serialize> Responder for OcpiResponse<T> {
    type Body = BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse<Self::Body> {
        let mut b = HttpResponse::build(self.http);
        for (k, v) in self.headers {
            b.insert_header((k, v));
        }
        b.json(self.envelope)
    }
}
