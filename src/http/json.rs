//! The JSON body extractor of every OCPI endpoint: size limit (413), syntax (400), then types,
//! lengths and enums (2001 naming the field, via `serde_path_to_error`), then `validator` rules.

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::error::AppError;
use crate::state::AppState;

/// A parsed, validated JSON body, and the raw bytes it came from.
pub struct OcpiJson<T>(pub T);

impl<T> OcpiJson<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// Parse `bytes` as `T`: 400 when not JSON, 2001 naming the field otherwise.
pub fn parse_body<T: DeserializeOwned + Validate>(bytes: &[u8]) -> Result<T, AppError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| AppError::MalformedJson(format!("request body is not valid JSON: {e}")))?;
    parse_value(value)
}

/// Turn a JSON value into `T`: 2001 naming the field on a type or rule violation.
pub fn parse_value<T: DeserializeOwned + Validate>(
    value: serde_json::Value,
) -> Result<T, AppError> {
    let parsed: T = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." || path.is_empty() {
            AppError::invalid(format!("invalid body: {inner}"))
        } else {
            AppError::invalid(format!("invalid field `{path}`: {inner}"))
        }
    })?;
    parsed
        .validate()
        .map_err(|e| AppError::invalid(describe_validation(&e)))?;
    Ok(parsed)
}

/// The first failing field of a `validator` result, as `path: message`.
/// A Receiver PATCH body: a JSON object that carries `last_updated` (2001 otherwise).
pub fn patch_object(
    v: &serde_json::Value,
) -> Result<&serde_json::Map<String, serde_json::Value>, AppError> {
    let Some(p) = v.as_object() else {
        return Err(AppError::invalid("a PATCH body must be a JSON object"));
    };
    if !p.contains_key("last_updated") {
        return Err(AppError::invalid(
            "field `last_updated`: required in a PATCH",
        ));
    }
    Ok(p)
}

pub fn describe_validation(errors: &ValidationErrors) -> String {
    fn walk(prefix: &str, errors: &ValidationErrors) -> Option<String> {
        let mut fields: Vec<_> = errors.errors().iter().collect();
        fields.sort_by_key(|(k, _)| k.to_string());
        for (field, kind) in fields {
            let path = if prefix.is_empty() {
                field.to_string()
            } else {
                format!("{prefix}.{field}")
            };
            match kind {
                ValidationErrorsKind::Field(errs) => {
                    if let Some(e) = errs.first() {
                        let msg = e
                            .message
                            .as_ref()
                            .map(|m| m.to_string())
                            .unwrap_or_else(|| e.code.to_string());
                        return Some(format!("invalid field `{path}`: {msg}"));
                    }
                }
                ValidationErrorsKind::Struct(inner) => {
                    if let Some(s) = walk(&path, inner) {
                        return Some(s);
                    }
                }
                ValidationErrorsKind::List(items) => {
                    for (i, inner) in items {
                        if let Some(s) = walk(&format!("{path}[{i}]"), inner) {
                            return Some(s);
                        }
                    }
                }
            }
        }
        None
    }
    walk("", errors).unwrap_or_else(|| "invalid body".to_string())
}

/// Read the body, refusing anything over `limit` bytes with 413.
pub async fn read_limited(
    req: &HttpRequest,
    payload: &mut Payload,
    limit: usize,
) -> Result<web::BytesMut, AppError> {
    let too_large = || AppError::PayloadTooLarge(format!("request body exceeds {limit} bytes"));
    if let Some(len) = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > limit
    {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| AppError::MalformedJson(format!("cannot read body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A body that must be JSON, as a value (checked further by the handler): 413, 400 as above.
pub async fn read_json_value(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<serde_json::Value, AppError> {
    let mut payload = payload.into_inner();
    let bytes = read_limited(req, &mut payload, limit).await?;
    if bytes.is_empty() {
        return Err(AppError::MalformedJson("request body is empty".into()));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| AppError::MalformedJson(format!("request body is not valid JSON: {e}")))
}

impl<T: DeserializeOwned + Validate + 'static> FromRequest for OcpiJson<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let limit = AppState::of(&req)?.settings.max_body_bytes;
            let body = read_limited(&req, &mut payload, limit).await?;
            if body.is_empty() {
                return Err(AppError::MalformedJson("request body is empty".into()));
            }
            parse_body::<T>(&body).map(OcpiJson)
        })
    }
}

/// Any JSON value, for bodies checked further by the handler.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct AnyJson(pub serde_json::Value);

impl Validate for AnyJson {
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}
