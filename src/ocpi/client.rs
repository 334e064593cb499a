//! Every request the hub sends to a partner goes through here: timeouts, `X-Request-ID` /
//! `X-Correlation-ID`, the `Authorization` header in the partner's form, the `X-Hub-Signature`
//! JWT over method, URL, ids and body digest, tracing, and an SSRF guard.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::http::envelope::status;
use crate::http::routing::{FROM_COUNTRY, FROM_PARTY, PartyRef, TO_COUNTRY, TO_PARTY};
use crate::keys::{KeyRing, PushClaims, body_digest};

pub const X_HUB_SIGNATURE: &str = "X-Hub-Signature";
/// Signatures are short-lived: long enough for clock skew and retries of one request.
pub const SIGNATURE_TTL_SECS: i64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("refused target {0}: loopback, private and link-local addresses are not allowed")]
    ForbiddenTarget(String),
    #[error("invalid URL {0}")]
    BadUrl(String),
    #[error("request failed: {0}")]
    Network(String),
    #[error("timed out")]
    Timeout,
    #[error("HTTP {0}")]
    Http(u16),
    #[error("response is not an OCPI envelope: {0}")]
    BadResponse(String),
    #[error("OCPI status {code}: {message}")]
    Ocpi { code: u32, message: String },
    #[error("{0}")]
    Signing(String),
}

/// One call's addressing: where, with which token, in which form, for whom.
pub struct Target<'a> {
    pub url: &'a str,
    pub token: &'a str,
    pub base64: bool,
    /// The partner, as it appears in the signature's `aud` (its versions URL).
    pub audience: &'a str,
    pub correlation_id: Option<&'a str>,
    /// `OCPI-from-*` / `OCPI-to-*` for functional modules: (from, to).
    pub routing: Option<(&'a PartyRef, &'a PartyRef)>,
}

#[derive(Clone)]
pub struct OcpiClient {
    http: reqwest::Client,
    keys: Arc<KeyRing>,
    issuer: String,
    hub: String,
    allow_private: bool,
}

/// What came back: HTTP status and the envelope's parts.
#[derive(Debug)]
pub struct Reply<T> {
    pub http_status: u16,
    pub data: Option<T>,
    pub status_code: u32,
    pub status_message: Option<String>,
    /// The `Location` response header (a CDR POST's answer).
    pub location: Option<String>,
}

/// A partner's envelope, read leniently: a missing or odd `timestamp` costs nothing.
#[derive(Debug, serde::Deserialize)]
struct PartnerEnvelope {
    #[serde(default)]
    data: Option<serde_json::Value>,
    status_code: u32,
    #[serde(default)]
    status_message: Option<String>,
}

pub fn authorization(token: &str, base64: bool) -> String {
    if base64 {
        format!("Token {}", STANDARD.encode(token.as_bytes()))
    } else {
        format!("Token {token}")
    }
}

fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| forbidden(IpAddr::V4(v4)))
        }
    }
}

impl OcpiClient {
    pub fn new(
        keys: Arc<KeyRing>,
        issuer: String,
        hub: String,
        timeout_secs: u64,
        allow_private: bool,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(timeout_secs))
            .connect_timeout(Duration::from_secs(timeout_secs.min(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ocpi-hub/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            keys,
            issuer,
            hub,
            allow_private,
        })
    }

    async fn guard(&self, url: &url::Url) -> Result<(), ClientError> {
        if self.allow_private {
            return Ok(());
        }
        let host = url
            .host_str()
            .ok_or_else(|| ClientError::BadUrl(url.to_string()))?;
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<IpAddr> = match host.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| ClientError::Network(format!("cannot resolve {host}: {e}")))?
                .map(|a| a.ip())
                .collect(),
        };
        if addrs.is_empty() || addrs.iter().any(|ip| forbidden(*ip)) {
            return Err(ClientError::ForbiddenTarget(host.to_string()));
        }
        Ok(())
    }

    /// Send one request and parse the OCPI envelope. HTTP errors and non-success OCPI codes
    /// are returned as errors, with the partner's message.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        target: &Target<'_>,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply<T>, ClientError> {
        let url =
            url::Url::parse(target.url).map_err(|_| ClientError::BadUrl(target.url.to_string()))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(ClientError::BadUrl(target.url.to_string()));
        }
        self.guard(&url).await?;
        let body_bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| ClientError::Signing(e.to_string()))?,
            None => Vec::new(),
        };
        let request_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = target
            .correlation_id
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let now = chrono::Utc::now().timestamp();
        let claims = PushClaims {
            iss: self.issuer.clone(),
            hub: self.hub.clone(),
            aud: target.audience.to_string(),
            iat: now,
            exp: now + SIGNATURE_TTL_SECS,
            jti: uuid::Uuid::new_v4().to_string(),
            htm: method.as_str().to_string(),
            htu: url.to_string(),
            rid: request_id.clone(),
            cid: correlation_id.clone(),
            body_sha256: body_digest(&body_bytes),
        };
        let signature = self.keys.sign_push(&claims).map_err(ClientError::Signing)?;
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .header("Authorization", authorization(target.token, target.base64))
            .header("X-Request-ID", &request_id)
            .header("X-Correlation-ID", &correlation_id)
            .header(X_HUB_SIGNATURE, signature);
        if let Some((from, to)) = target.routing {
            req = req
                .header(FROM_COUNTRY, &from.country_code)
                .header(FROM_PARTY, &from.party_id)
                .header(TO_COUNTRY, &to.country_code)
                .header(TO_PARTY, &to.party_id);
        }
        if body.is_some() {
            req = req
                .header("Content-Type", "application/json")
                .body(body_bytes);
        }
        let span = tracing::info_span!(
            "ocpi.client",
            http.method = %method,
            http.host = url.host_str().unwrap_or(""),
            http.path = url.path(),
            ocpi.request_id = %request_id,
            ocpi.correlation_id = %correlation_id,
        );
        let exchange = async {
            let resp = req.send().await.map_err(|e| {
                if e.is_timeout() {
                    ClientError::Timeout
                } else {
                    ClientError::Network(e.to_string())
                }
            })?;
            let http_status = resp.status().as_u16();
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let bytes = resp.bytes().await.map_err(|e| {
                if e.is_timeout() {
                    ClientError::Timeout
                } else {
                    ClientError::Network(e.to_string())
                }
            })?;
            tracing::info!(http.status = http_status, "partner answered");
            Ok::<_, ClientError>((http_status, location, bytes))
        };
        let (http_status, location, bytes) = exchange.instrument(span).await?;
        let parsed: Result<PartnerEnvelope, _> = serde_json::from_slice(&bytes);
        let envelope = match parsed {
            Ok(e) => e,
            Err(e) => {
                if !(200..300).contains(&http_status) {
                    return Err(ClientError::Http(http_status));
                }
                return Err(ClientError::BadResponse(e.to_string()));
            }
        };
        if !(200..300).contains(&http_status) {
            return Err(ClientError::Http(http_status));
        }
        if !status::is_success(envelope.status_code) {
            return Err(ClientError::Ocpi {
                code: envelope.status_code,
                message: envelope.status_message.unwrap_or_default(),
            });
        }
        let data =
            match envelope.data {
                None => None,
                Some(v) => Some(serde_path_to_error::deserialize(v).map_err(|e| {
                    ClientError::BadResponse(format!("{}: {}", e.path(), e.inner()))
                })?),
            };
        Ok(Reply {
            http_status,
            data,
            status_code: envelope.status_code,
            status_message: envelope.status_message,
            location,
        })
    }

    /// GET with the partner's token, trying the other token encoding once on HTTP 401 (many
    /// 2.1.1/2.2 peers expect the raw token). Returns the data and the encoding that worked.
    pub async fn get_trying_encodings<T: DeserializeOwned>(
        &self,
        target: &Target<'_>,
    ) -> Result<(T, bool), ClientError> {
        let first = self.call::<T>(Method::GET, target, None).await;
        let (reply, b64) = match first {
            Err(ClientError::Http(401)) => {
                let other = Target {
                    base64: !target.base64,
                    ..*target
                };
                (
                    self.call::<T>(Method::GET, &other, None).await?,
                    !target.base64,
                )
            }
            other => (other?, target.base64),
        };
        let data = reply
            .data
            .ok_or_else(|| ClientError::BadResponse("response has no data".into()))?;
        Ok((data, b64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "100.64.0.1",
            "0.0.0.0",
        ] {
            assert!(forbidden(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "2a00:1450::1"] {
            assert!(!forbidden(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn authorization_in_both_forms() {
        assert_eq!(
            authorization("example-token", true),
            "Token ZXhhbXBsZS10b2tlbg=="
        );
        assert_eq!(authorization("example-token", false), "Token example-token");
    }
}
