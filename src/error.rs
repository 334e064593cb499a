//! One error type for everything that reaches HTTP. It becomes the OCPI envelope with the
//! right HTTP status; internal causes are logged once here and never returned.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::http::envelope::{Envelope, status};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Missing, unknown or revoked credentials token, or Token A outside versions/credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Missing or invalid admin bearer token.
    #[error("{0}")]
    AdminUnauthorized(String),
    /// Unknown resource (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// An unknown object addressed by URL (HTTP 404) with a specific OCPI code (2003, 2004).
    #[error("{message}")]
    Unknown { code: u32, message: String },
    /// The credentials module's 405 rules, and methods a route does not offer.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The body is not JSON at all (HTTP 400).
    #[error("{0}")]
    MalformedJson(String),
    /// Body larger than the configured limit (HTTP 413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// An OCPI-layer error: HTTP 200 with this status code (2xxx, 3xxx, 4xxx).
    #[error("{message}")]
    Ocpi { code: u32, message: String },
    /// An unexpected failure: logged, answered with 3000 and HTTP 500.
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Ocpi {
            code: status::INVALID_PARAMETERS,
            message: message.into(),
        }
    }

    pub fn ocpi(code: u32, message: impl Into<String>) -> Self {
        Self::Ocpi {
            code,
            message: message.into(),
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    pub fn ocpi_code(&self) -> u32 {
        match self {
            AppError::Ocpi { code, .. } | AppError::Unknown { code, .. } => *code,
            AppError::Internal(_) => status::GENERIC_SERVER_ERROR,
            AppError::MalformedJson(_) => status::INVALID_PARAMETERS,
            _ => status::GENERIC_CLIENT_ERROR,
        }
    }
}

impl From<crate::db::DbError> for AppError {
    fn from(e: crate::db::DbError) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::Unauthorized(_) | AppError::AdminUnauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::NotFound(_) | AppError::Unknown { .. } => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Ocpi { .. } => StatusCode::OK,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            AppError::Internal(cause) => {
                tracing::error!(error.cause = %cause, "request failed");
                "internal server error".to_string()
            }
            other => other.to_string(),
        };
        let mut resp = HttpResponse::build(self.status_code());
        if let AppError::AdminUnauthorized(_) = self {
            resp.insert_header(("WWW-Authenticate", "Bearer"));
        }
        resp.json(Envelope::<()>::error(self.ocpi_code(), message))
    }
}
