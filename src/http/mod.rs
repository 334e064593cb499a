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

/// Paths the hub serves, for telling 405 (known path, other method) from 404.
const KNOWN_PATHS: &[&str] = &[
    "/ocpi/versions",
    "/ocpi/2.2.1",
    "/ocpi/2.2.1/credentials",
    "/ocpi/2.2.1/sender/hubclientinfo",
    "/admin/parties",
    "/admin/parties/connect",
    "/admin/outbox",
    "/admin/locations",
    "/admin/tariffs",
    "/api/locations/search",
    "/api/chargers",
    "/health",
    "/ready",
    "/openapi.json",
    "/.well-known/jwks.json",
];

/// Requests no route took: 405 on a known path with another method, 404 otherwise, both in
/// the envelope.
pub async fn fallback(req: HttpRequest) -> HttpResponse {
    let path = req.path().trim_end_matches('/');
    let known = KNOWN_PATHS.contains(&path)
        || path
            .strip_prefix("/admin/parties/")
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
    if known {
        AppError::MethodNotAllowed(format!(
            "{} is not supported on {}",
            req.method(),
            req.path()
        ))
        .error_response()
    } else {
        AppError::NotFound(format!("no such resource: {} {}", req.method(), req.path()))
            .error_response()
    }
}

/// 405 in the envelope, for resources that list their methods.
pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    AppError::MethodNotAllowed(format!(
        "{} is not supported on {}",
        req.method(),
        req.path()
    ))
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
