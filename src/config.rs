//! Settings: defaults that make `cargo run` work, an optional TOML file, then `HUB_*` /
//! `DATABASE_URL` environment variables (the environment wins).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;

/// One configuration problem, naming the variable at fault.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}: {reason}")]
pub struct ConfigError {
    pub var: String,
    pub reason: String,
}

impl ConfigError {
    fn new(var: &str, reason: impl Into<String>) -> Self {
        Self {
            var: var.to_string(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Address the HTTP server listens on (`HUB_HTTP_ADDR`). Port 0 picks a free port.
    pub http_addr: SocketAddr,
    /// Base URL partners use to reach the hub (`HUB_PUBLIC_URL`); derived from the bound
    /// address when absent.
    pub public_url: Option<String>,
    pub database_url: String,
    pub db_pool_size: u32,
    pub country_code: String,
    pub party_id: String,
    pub business_name: String,
    pub business_website: Option<String>,
    /// The CPO identity of the hub's own charge points (defaults: the hub's own).
    pub cpo_country_code: Option<String>,
    pub cpo_party_id: Option<String>,
    /// Tariff of the hub's own connectors that list no `tariff_ids`.
    pub default_tariff_id: Option<String>,
    pub log_format: LogFormat,
    pub log_level: String,
    /// Base64 of a 32-byte master secret (`HUB_SIGNING_KEY`). When absent the hub generates one
    /// on first start and keeps it in the database.
    pub signing_key: Option<String>,
    pub max_page_limit: u32,
    pub max_body_bytes: usize,
    pub outbound_timeout_secs: u64,
    /// Allow outbound calls to loopback / private addresses (tests, local development).
    pub allow_private_targets: bool,
    pub admin_token_ttl_secs: i64,
    /// Attempts before a delivery is dead-lettered.
    pub outbox_max_attempts: u32,
    /// First retry delay; doubles per attempt (with jitter) up to `outbox_backoff_max_secs`.
    pub outbox_backoff_base_ms: u64,
    pub outbox_backoff_max_secs: u64,
    /// How often the worker looks for due deliveries when nothing wakes it.
    pub outbox_poll_ms: u64,
    /// How long a worker owns a leased delivery before another instance may take it.
    pub outbox_lease_secs: u64,
    /// Deliveries in flight at once.
    pub outbox_concurrency: u32,
    /// Address of the OCPP WebSocket listener.
    pub ocpp_addr: SocketAddr,
    /// Let charge points that are not registered connect (development only).
    pub ocpp_allow_unknown: bool,
    /// Who decides on id tokens presented at charge points.
    pub ocpp_authorize: AuthorizePolicy,
    /// How long a real-time authorisation waits for the eMSP.
    pub authorize_timeout_ms: u64,
    /// How long the hub waits for a charge point's answer to its calls.
    pub ocpp_call_timeout_secs: u64,
    /// How long an OCPI command may take (START_SESSION: until the transaction starts); the
    /// `timeout` of every CommandResponse.
    pub command_timeout_secs: u64,
    /// Days the OCPP message log keeps messages (0: no log).
    pub ocpp_message_log_days: u32,
    /// Heartbeat interval told to charge points at boot.
    pub ocpp_heartbeat_secs: u64,
    /// WebSocket ping interval; a connection silent for two intervals is closed.
    pub ocpp_ping_secs: u64,
    /// Folder of the OCPP JSON schemas; no schema validation without it.
    pub ocpp_schema_dir: Option<std::path::PathBuf>,
    /// Certificate chain and key (PEM) of the OCPP listener; both or neither.
    pub ocpp_tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// How long list pages may reuse the ordered keys of their query (0: never).
    pub list_cache_ms: u64,
}

/// Who decides on the id tokens charge points present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizePolicy {
    /// The tokens eMSPs pushed, and real-time authorisation by the owning eMSP.
    Tokens,
    /// Every token accepted (development).
    AcceptAll,
    /// Every token refused.
    RejectAll,
}

/// The environment variables the hub reads, with a one-line description each. README.md and
/// `.env.example` list the same names (a unit test keeps them in step).
pub const VARIABLES: &[(&str, &str)] = &[
    (
        "HUB_CONFIG_FILE",
        "optional TOML file with the same keys in lower case",
    ),
    ("HUB_HTTP_ADDR", "listen address, default 127.0.0.1:8080"),
    (
        "HUB_PUBLIC_URL",
        "base URL partners use, default http://HUB_HTTP_ADDR",
    ),
    (
        "DATABASE_URL",
        "sqlite://data/ocpi-hub.db (default) or postgres://…",
    ),
    ("HUB_DB_POOL_SIZE", "database pool size, default 8"),
    (
        "HUB_COUNTRY_CODE",
        "the hub's ISO 3166 alpha-2 country code",
    ),
    ("HUB_PARTY_ID", "the hub's party id (3 characters)"),
    ("HUB_BUSINESS_NAME", "the hub's business name"),
    ("HUB_BUSINESS_WEBSITE", "the hub's website (optional)"),
    (
        "HUB_CPO_COUNTRY_CODE",
        "country code of the hub's own charge points (default HUB_COUNTRY_CODE)",
    ),
    (
        "HUB_CPO_PARTY_ID",
        "party id of the hub's own charge points (default HUB_PARTY_ID)",
    ),
    (
        "HUB_DEFAULT_TARIFF_ID",
        "tariff of own connectors without tariff_ids",
    ),
    ("HUB_LOG_FORMAT", "pretty (default) or json"),
    ("HUB_LOG_LEVEL", "tracing filter, default info"),
    (
        "HUB_SIGNING_KEY",
        "base64 32-byte master secret; generated and stored on first start when absent",
    ),
    ("HUB_MAX_PAGE_LIMIT", "largest page a list endpoint returns"),
    ("HUB_MAX_BODY_BYTES", "largest accepted request body"),
    ("HUB_OUTBOUND_TIMEOUT_SECS", "timeout of calls to partners"),
    (
        "HUB_ALLOW_PRIVATE_TARGETS",
        "allow calls to loopback/private addresses",
    ),
    ("HUB_ADMIN_TOKEN_TTL_SECS", "lifetime of minted admin JWTs"),
    (
        "HUB_OUTBOX_MAX_ATTEMPTS",
        "push attempts before a delivery is dead-lettered",
    ),
    (
        "HUB_OUTBOX_BACKOFF_BASE_MS",
        "first retry delay of a failed push",
    ),
    (
        "HUB_OUTBOX_BACKOFF_MAX_SECS",
        "longest retry delay of a failed push",
    ),
    (
        "HUB_OUTBOX_POLL_MS",
        "how often the push worker looks for due deliveries",
    ),
    (
        "HUB_OUTBOX_LEASE_SECS",
        "how long a worker owns a delivery it is sending",
    ),
    ("HUB_OUTBOX_CONCURRENCY", "deliveries in flight at once"),
    (
        "HUB_OCPP_ADDR",
        "OCPP WebSocket listener, default 127.0.0.1:9000",
    ),
    (
        "HUB_OCPP_ALLOW_UNKNOWN",
        "let unregistered charge points connect (development)",
    ),
    (
        "HUB_OCPP_HEARTBEAT_SECS",
        "heartbeat interval given at boot",
    ),
    ("HUB_OCPP_PING_SECS", "WebSocket ping interval"),
    (
        "HUB_OCPP_AUTHORIZE",
        "tokens (default), accept or reject: who decides on id tokens at charge points",
    ),
    (
        "HUB_AUTHORIZE_TIMEOUT_MS",
        "how long a real-time authorisation waits for the eMSP",
    ),
    (
        "HUB_OCPP_SCHEMA_DIR",
        "folder of the OCPP JSON schemas (v16/, v201/) to validate payloads with",
    ),
    (
        "HUB_OCPP_TLS_CERT",
        "PEM certificate chain: the OCPP listener speaks wss:// (security profile 2)",
    ),
    ("HUB_OCPP_TLS_KEY", "PEM private key of HUB_OCPP_TLS_CERT"),
    (
        "HUB_OCPP_CALL_TIMEOUT_SECS",
        "how long the hub waits for a charge point's answer",
    ),
    (
        "HUB_COMMAND_TIMEOUT_SECS",
        "how long an OCPI command may take (the CommandResponse timeout)",
    ),
    (
        "HUB_LIST_CACHE_MS",
        "how long list pages reuse the ordered keys of their query",
    ),
];

impl Default for Settings {
    fn default() -> Self {
        Self {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            database_url: "sqlite://data/ocpi-hub.db".to_string(),
            db_pool_size: 8,
            country_code: "NL".to_string(),
            party_id: "HUB".to_string(),
            business_name: "ocpi-hub".to_string(),
            business_website: None,
            cpo_country_code: None,
            cpo_party_id: None,
            default_tariff_id: None,
            log_format: LogFormat::Pretty,
            log_level: "info".to_string(),
            signing_key: None,
            max_page_limit: 1000,
            max_body_bytes: 1024 * 1024,
            outbound_timeout_secs: 30,
            allow_private_targets: false,
            admin_token_ttl_secs: 3600,
            outbox_max_attempts: 10,
            outbox_backoff_base_ms: 1000,
            outbox_backoff_max_secs: 3600,
            outbox_poll_ms: 1000,
            outbox_lease_secs: 120,
            outbox_concurrency: 32,
            list_cache_ms: 2000,
            ocpp_addr: SocketAddr::from(([127, 0, 0, 1], 9000)),
            ocpp_allow_unknown: false,
            ocpp_authorize: AuthorizePolicy::Tokens,
            authorize_timeout_ms: 3000,
            ocpp_call_timeout_secs: 30,
            command_timeout_secs: 60,
            ocpp_message_log_days: 7,
            ocpp_heartbeat_secs: 300,
            ocpp_ping_secs: 30,
            ocpp_schema_dir: None,
            ocpp_tls: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct FileSettings {
    #[serde(flatten)]
    values: BTreeMap<String, toml::Value>,
}

impl Settings {
    /// Read the process environment (and the file it names).
    pub fn from_env() -> Result<Self, ConfigError> {
        let vars: BTreeMap<String, String> = std::env::vars().collect();
        Self::from_map(&vars)
    }

    /// Build settings from a map of variables (the environment, or a test's).
    pub fn from_map(env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut merged: BTreeMap<String, String> = BTreeMap::new();
        if let Some(path) = env.get("HUB_CONFIG_FILE").filter(|p| !p.is_empty()) {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::new("HUB_CONFIG_FILE", format!("{path}: {e}")))?;
            let file: FileSettings = toml::from_str(&text).map_err(|e| {
                let one_line = e
                    .to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                ConfigError::new("HUB_CONFIG_FILE", format!("{path}: {one_line}"))
            })?;
            for (k, v) in file.values {
                let name = k.to_ascii_uppercase();
                if !VARIABLES.iter().any(|(n, _)| *n == name) || name == "HUB_CONFIG_FILE" {
                    return Err(ConfigError::new(
                        "HUB_CONFIG_FILE",
                        format!("{path}: unknown key `{k}`"),
                    ));
                }
                let s = match v {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                };
                merged.insert(name, s);
            }
        }
        for (name, _) in VARIABLES {
            if let Some(v) = env.get(*name) {
                merged.insert((*name).to_string(), v.clone());
            }
        }
        let mut s = Settings::default();
        let get = |k: &str| merged.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());

        if let Some(v) = get("HUB_HTTP_ADDR") {
            s.http_addr = v.parse().map_err(|_| {
                ConfigError::new("HUB_HTTP_ADDR", format!("`{v}` is not HOST:PORT"))
            })?;
        }
        if let Some(v) = get("HUB_PUBLIC_URL") {
            let u = url::Url::parse(v)
                .map_err(|e| ConfigError::new("HUB_PUBLIC_URL", e.to_string()))?;
            if u.scheme() != "http" && u.scheme() != "https" {
                return Err(ConfigError::new("HUB_PUBLIC_URL", "must be http or https"));
            }
            s.public_url = Some(v.trim_end_matches('/').to_string());
        }
        if let Some(v) = get("DATABASE_URL") {
            if !(v.starts_with("sqlite:")
                || v.starts_with("postgres://")
                || v.starts_with("postgresql://"))
            {
                return Err(ConfigError::new(
                    "DATABASE_URL",
                    "must start with sqlite:, postgres:// or postgresql://",
                ));
            }
            s.database_url = v.to_string();
        }
        if let Some(v) = get("HUB_DB_POOL_SIZE") {
            s.db_pool_size = parse_range("HUB_DB_POOL_SIZE", v, 1, 512)?;
        }
        if let Some(v) = get("HUB_COUNTRY_CODE") {
            if v.len() != 2 || !v.chars().all(|c| c.is_ascii_alphabetic()) {
                return Err(ConfigError::new(
                    "HUB_COUNTRY_CODE",
                    "must be two letters (ISO 3166-1 alpha-2)",
                ));
            }
            s.country_code = v.to_ascii_uppercase();
        }
        if let Some(v) = get("HUB_PARTY_ID") {
            if v.len() != 3 || !v.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(ConfigError::new(
                    "HUB_PARTY_ID",
                    "must be three letters or digits",
                ));
            }
            s.party_id = v.to_ascii_uppercase();
        }
        if let Some(v) = get("HUB_BUSINESS_NAME") {
            if v.chars().count() > 100 {
                return Err(ConfigError::new(
                    "HUB_BUSINESS_NAME",
                    "at most 100 characters",
                ));
            }
            s.business_name = v.to_string();
        }
        if let Some(v) = get("HUB_BUSINESS_WEBSITE") {
            url::Url::parse(v)
                .map_err(|e| ConfigError::new("HUB_BUSINESS_WEBSITE", e.to_string()))?;
            s.business_website = Some(v.to_string());
        }
        if let Some(v) = get("HUB_CPO_COUNTRY_CODE") {
            if v.len() != 2 || !v.chars().all(|c| c.is_ascii_alphabetic()) {
                return Err(ConfigError::new(
                    "HUB_CPO_COUNTRY_CODE",
                    "must be two letters",
                ));
            }
            s.cpo_country_code = Some(v.to_ascii_uppercase());
        }
        if let Some(v) = get("HUB_CPO_PARTY_ID") {
            if v.len() != 3 || !v.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(ConfigError::new(
                    "HUB_CPO_PARTY_ID",
                    "must be three letters or digits",
                ));
            }
            s.cpo_party_id = Some(v.to_ascii_uppercase());
        }
        if let Some(v) = get("HUB_DEFAULT_TARIFF_ID") {
            if v.len() > 36 || !v.chars().all(|c| ('!'..='~').contains(&c)) {
                return Err(ConfigError::new(
                    "HUB_DEFAULT_TARIFF_ID",
                    "must be a CiString(36)",
                ));
            }
            s.default_tariff_id = Some(v.to_string());
        }
        if let Some(v) = get("HUB_LOG_FORMAT") {
            s.log_format = match v.to_ascii_lowercase().as_str() {
                "pretty" => LogFormat::Pretty,
                "json" => LogFormat::Json,
                _ => return Err(ConfigError::new("HUB_LOG_FORMAT", "must be pretty or json")),
            };
        }
        if let Some(v) = get("HUB_LOG_LEVEL") {
            tracing_subscriber::EnvFilter::try_new(v)
                .map_err(|e| ConfigError::new("HUB_LOG_LEVEL", e.to_string()))?;
            s.log_level = v.to_string();
        }
        if let Some(v) = get("HUB_SIGNING_KEY") {
            crate::keys::MasterSecret::from_base64(v)
                .map_err(|reason| ConfigError::new("HUB_SIGNING_KEY", reason))?;
            s.signing_key = Some(v.to_string());
        }
        if let Some(v) = get("HUB_MAX_PAGE_LIMIT") {
            s.max_page_limit = parse_range("HUB_MAX_PAGE_LIMIT", v, 1, 100_000)?;
        }
        if let Some(v) = get("HUB_MAX_BODY_BYTES") {
            s.max_body_bytes = parse_range("HUB_MAX_BODY_BYTES", v, 1024, 256 * 1024 * 1024)?;
        }
        if let Some(v) = get("HUB_OUTBOUND_TIMEOUT_SECS") {
            s.outbound_timeout_secs = parse_range("HUB_OUTBOUND_TIMEOUT_SECS", v, 1, 600)?;
        }
        if let Some(v) = get("HUB_ALLOW_PRIVATE_TARGETS") {
            s.allow_private_targets = parse_bool("HUB_ALLOW_PRIVATE_TARGETS", v)?;
        }
        if let Some(v) = get("HUB_ADMIN_TOKEN_TTL_SECS") {
            s.admin_token_ttl_secs = parse_range("HUB_ADMIN_TOKEN_TTL_SECS", v, 60, 31_536_000)?;
        }
        if let Some(v) = get("HUB_OUTBOX_MAX_ATTEMPTS") {
            s.outbox_max_attempts = parse_range("HUB_OUTBOX_MAX_ATTEMPTS", v, 1, 1000)?;
        }
        if let Some(v) = get("HUB_OUTBOX_BACKOFF_BASE_MS") {
            s.outbox_backoff_base_ms = parse_range("HUB_OUTBOX_BACKOFF_BASE_MS", v, 1, 3_600_000)?;
        }
        if let Some(v) = get("HUB_OUTBOX_BACKOFF_MAX_SECS") {
            s.outbox_backoff_max_secs = parse_range("HUB_OUTBOX_BACKOFF_MAX_SECS", v, 1, 604_800)?;
        }
        if let Some(v) = get("HUB_OUTBOX_POLL_MS") {
            s.outbox_poll_ms = parse_range("HUB_OUTBOX_POLL_MS", v, 10, 600_000)?;
        }
        if let Some(v) = get("HUB_OUTBOX_LEASE_SECS") {
            s.outbox_lease_secs = parse_range("HUB_OUTBOX_LEASE_SECS", v, 5, 86_400)?;
        }
        if let Some(v) = get("HUB_OUTBOX_CONCURRENCY") {
            s.outbox_concurrency = parse_range("HUB_OUTBOX_CONCURRENCY", v, 1, 1024)?;
        }
        if let Some(v) = get("HUB_OCPP_ADDR") {
            s.ocpp_addr = v.parse().map_err(|_| {
                ConfigError::new("HUB_OCPP_ADDR", format!("`{v}` is not HOST:PORT"))
            })?;
        }
        if let Some(v) = get("HUB_OCPP_ALLOW_UNKNOWN") {
            s.ocpp_allow_unknown = parse_bool("HUB_OCPP_ALLOW_UNKNOWN", v)?;
        }
        if let Some(v) = get("HUB_OCPP_AUTHORIZE") {
            s.ocpp_authorize = match v.to_ascii_lowercase().as_str() {
                "tokens" => AuthorizePolicy::Tokens,
                "accept" => AuthorizePolicy::AcceptAll,
                "reject" => AuthorizePolicy::RejectAll,
                _ => {
                    return Err(ConfigError::new(
                        "HUB_OCPP_AUTHORIZE",
                        "must be tokens, accept or reject",
                    ));
                }
            };
        }
        if let Some(v) = get("HUB_AUTHORIZE_TIMEOUT_MS") {
            s.authorize_timeout_ms = parse_range("HUB_AUTHORIZE_TIMEOUT_MS", v, 100, 60_000)?;
        }
        if let Some(v) = get("HUB_OCPP_MESSAGE_LOG_DAYS") {
            s.ocpp_message_log_days = parse_range("HUB_OCPP_MESSAGE_LOG_DAYS", v, 0, 3650)?;
        }
        if let Some(v) = get("HUB_OCPP_HEARTBEAT_SECS") {
            s.ocpp_heartbeat_secs = parse_range("HUB_OCPP_HEARTBEAT_SECS", v, 10, 86_400)?;
        }
        if let Some(v) = get("HUB_COMMAND_TIMEOUT_SECS") {
            s.command_timeout_secs = parse_range("HUB_COMMAND_TIMEOUT_SECS", v, 1, 3600)?;
        }
        if let Some(v) = get("HUB_OCPP_CALL_TIMEOUT_SECS") {
            s.ocpp_call_timeout_secs = parse_range("HUB_OCPP_CALL_TIMEOUT_SECS", v, 1, 600)?;
        }
        if let Some(v) = get("HUB_OCPP_PING_SECS") {
            s.ocpp_ping_secs = parse_range("HUB_OCPP_PING_SECS", v, 1, 3600)?;
        }
        if let Some(v) = get("HUB_OCPP_SCHEMA_DIR") {
            let dir = std::path::PathBuf::from(v);
            if !dir.is_dir() {
                return Err(ConfigError::new(
                    "HUB_OCPP_SCHEMA_DIR",
                    format!("`{v}` is not a folder"),
                ));
            }
            s.ocpp_schema_dir = Some(dir);
        }
        match (get("HUB_OCPP_TLS_CERT"), get("HUB_OCPP_TLS_KEY")) {
            (None, None) => {}
            (Some(cert), Some(key)) => {
                for (var, path) in [("HUB_OCPP_TLS_CERT", cert), ("HUB_OCPP_TLS_KEY", key)] {
                    if !std::path::Path::new(path).is_file() {
                        return Err(ConfigError::new(var, format!("`{path}` is not a file")));
                    }
                }
                s.ocpp_tls = Some((cert.into(), key.into()));
            }
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "HUB_OCPP_TLS_KEY",
                    "is needed with HUB_OCPP_TLS_CERT",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "HUB_OCPP_TLS_CERT",
                    "is needed with HUB_OCPP_TLS_KEY",
                ));
            }
        }
        if let Some(v) = get("HUB_LIST_CACHE_MS") {
            s.list_cache_ms = parse_range("HUB_LIST_CACHE_MS", v, 0, 3_600_000)?;
        }
        if s.outbox_lease_secs <= s.outbound_timeout_secs {
            return Err(ConfigError::new(
                "HUB_OUTBOX_LEASE_SECS",
                "must exceed HUB_OUTBOUND_TIMEOUT_SECS so a lease outlives the call it covers",
            ));
        }
        Ok(s)
    }

    /// The CPO party of the hub's own charge points.
    pub fn own_cpo(&self) -> (String, String) {
        (
            self.cpo_country_code
                .clone()
                .unwrap_or_else(|| self.country_code.clone()),
            self.cpo_party_id
                .clone()
                .unwrap_or_else(|| self.party_id.clone()),
        )
    }

    /// The directory of a `sqlite://` database file, created before opening it.
    pub fn sqlite_path(&self) -> Option<String> {
        let rest = self.database_url.strip_prefix("sqlite:")?;
        Some(rest.trim_start_matches("//").to_string())
    }
}

fn parse_range<T>(var: &str, v: &str, min: T, max: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let n: T = v
        .parse()
        .map_err(|_| ConfigError::new(var, format!("`{v}` is not a number")))?;
    if n < min || n > max {
        return Err(ConfigError::new(
            var,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(n)
}

fn parse_bool(var: &str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::new(var, format!("`{v}` is not true or false"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_work_without_any_variable() {
        let s = Settings::from_map(&BTreeMap::new()).unwrap();
        assert_eq!(s.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.sqlite_path().as_deref(), Some("data/ocpi-hub.db"));
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (k, v) in [
            ("HUB_HTTP_ADDR", "nope"),
            ("HUB_COUNTRY_CODE", "NLD"),
            ("HUB_PARTY_ID", "AB"),
            ("HUB_LOG_FORMAT", "xml"),
            ("DATABASE_URL", "mysql://x"),
            ("HUB_SIGNING_KEY", "short"),
            ("HUB_MAX_PAGE_LIMIT", "0"),
            ("HUB_ALLOW_PRIVATE_TARGETS", "maybe"),
            ("HUB_PUBLIC_URL", "ftp://x"),
        ] {
            let err = Settings::from_map(&map(&[(k, v)])).unwrap_err();
            assert_eq!(err.var, k, "{err}");
            assert!(err.to_string().contains(k));
        }
    }

    #[test]
    fn file_values_are_overridden_by_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.toml");
        std::fs::write(&path, "hub_party_id = \"FIL\"\nhub_max_page_limit = 50\n").unwrap();
        let p = path.to_string_lossy().to_string();
        let s = Settings::from_map(&map(&[("HUB_CONFIG_FILE", &p)])).unwrap();
        assert_eq!(s.party_id, "FIL");
        assert_eq!(s.max_page_limit, 50);
        let s =
            Settings::from_map(&map(&[("HUB_CONFIG_FILE", &p), ("HUB_PARTY_ID", "ENV")])).unwrap();
        assert_eq!(s.party_id, "ENV");
        std::fs::write(&path, "bogus = 1\n").unwrap();
        let err = Settings::from_map(&map(&[("HUB_CONFIG_FILE", &p)])).unwrap_err();
        assert_eq!(err.var, "HUB_CONFIG_FILE");
    }

    #[test]
    fn every_variable_is_documented() {
        let readme = include_str!("../README.md");
        let example = include_str!("../.env.example");
        for (name, _) in VARIABLES {
            assert!(readme.contains(name), "README.md lacks {name}");
            assert!(example.contains(name), ".env.example lacks {name}");
        }
    }
}
