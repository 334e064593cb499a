//! Transport shared by every OCPI endpoint: envelope and status codes, credentials-token
//! authentication, request/correlation ids, routing headers, pagination and the JSON body
//! extractor, plus the handlers that turn actix's own errors into the envelope.

pub mod auth;
pub mod envelope;
pub mod ids;
pub mod json;
pub mod pagination;
pub mod routing;

use actix_web::{HttpRequest, HttpResponse, ResponseError, error};

use crate::error::AppError;

/// Unknown routes answer 404 with the envelope.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    AppError::NotFound(format!("no such resource: {} {}", req.method(), req.path()))
        .error_response()
}

/// Query-string errors (from `web::Query`) as a 2001.
pub fn query_error(err: error::QueryPayloadError, _req: &HttpRequest) -> error::Error {
    AppError::invalid(format!("invalid query parameter: {err}")).into()
}

/// Path-segment errors (from `web::Path`) as a 2001.
pub fn path_error(err: error::PathError, _req: &HttpRequest) -> error::Error {
    AppError::invalid(format!("invalid path parameter: {err}")).into()
}

/// Errors of actix's own `web::Json` (used by the admin API) in the envelope.
pub fn json_error(err: error::JsonPayloadError, _req: &HttpRequest) -> error::Error {
    match err {
        error::JsonPayloadError::OverflowKnownLength { .. }
        | error::JsonPayloadError::Overflow { .. } => {
            AppError::PayloadTooLarge("request body too large".into()).into()
        }
        error::JsonPayloadError::Deserialize(e) if e.is_data() => {
            AppError::invalid(format!("invalid body: {e}")).into()
        }
        other => AppError::MalformedJson(format!("request body is not valid JSON: {other}")).into(),
    }
}
