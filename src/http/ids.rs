//! `X-Request-ID` and `X-Correlation-ID`: taken from the request (or generated), put on the
//! tracing span and echoed on every response, errors included. The same middleware mirrors the
//! routing headers of functional modules.

use actix_web::HttpMessage;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

use super::routing::RoutingHeaders;

pub const X_REQUEST_ID: &str = "x-request-id";
pub const X_CORRELATION_ID: &str = "x-correlation-id";

#[derive(Debug, Clone)]
pub struct RequestIds {
    pub request_id: String,
    pub correlation_id: String,
}

/// A client-supplied id is kept when it is printable ASCII of sane length.
fn usable(v: &str) -> bool {
    !v.is_empty() && v.len() <= 255 && v.chars().all(|c| ('!'..='~').contains(&c))
}

fn id_from(req: &ServiceRequest, name: &str) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| usable(v))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let ids = RequestIds {
        request_id: id_from(&req, X_REQUEST_ID),
        correlation_id: id_from(&req, X_CORRELATION_ID),
    };
    let routing = RoutingHeaders::parse(req.headers()).ok();
    req.extensions_mut().insert(ids.clone());
    let span = tracing::info_span!(
        "http",
        ocpi.request_id = %ids.request_id,
        ocpi.correlation_id = %ids.correlation_id,
        http.method = %req.method(),
        http.path = %req.path(),
    );
    let functional = super::routing::is_functional_path(req.path());
    let started = std::time::Instant::now();
    // Handler and extractor errors arrive here as responses already; an `Err` (which actix
    // renders itself) is passed on untouched.
    let res = next
        .call(req)
        .instrument(span.clone())
        .await?
        .map_into_boxed_body();
    let mut res = res;
    let h = res.headers_mut();
    for (name, value) in [
        (X_REQUEST_ID, &ids.request_id),
        (X_CORRELATION_ID, &ids.correlation_id),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
    if functional && let Some(r) = routing {
        r.mirror_into(h);
    }
    span.in_scope(|| {
        tracing::info!(
            http.status = res.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request"
        )
    });
    Ok(res)
}
