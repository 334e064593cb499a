//! Deciding on an id token presented at one of the hub's charge points (OCPP Authorize,
//! StartTransaction, TransactionEvent), and real-time authorisation by the owning eMSP.
//!
//! The stored token and its `whitelist` decide whether the eMSP is asked:
//! - `ALWAYS`: never asked; allowed when `valid`, blocked otherwise.
//! - `ALLOWED`: a valid token is allowed from the store; an invalid one is asked about (the eMSP
//!   may have re-enabled it) and blocked when the eMSP cannot be reached.
//! - `ALLOWED_OFFLINE`: asked; when the eMSP cannot be reached in `HUB_AUTHORIZE_TIMEOUT_MS`,
//!   allowed if the stored token is valid.
//! - `NEVER`: asked; refused when the eMSP cannot be reached.
//!
//! An unknown token is refused (OCPP Invalid / Unknown). The eMSP's `authorization_reference`
//! is kept with the decision, which is cached per charge point and token for
//! [`REMEMBER`] so that a StartTransaction after an Authorize does not ask again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::Method;

use crate::config::AuthorizePolicy;
use crate::db::chargers;
use crate::db::commands::{CommandRow, Reservation};
use crate::db::tokens::{self as store, TokenRow};
use crate::http::routing::PartyRef;
use crate::ocpi::client::ClientError;
use crate::ocpi::types::CiString;
use crate::ocpi::versions::InterfaceRole;
use crate::state::AppState;

use super::model::{AllowedType, AuthorizationInfo, LocationReferences, TokenType};

/// How long a decision is reused for the same charge point and token.
pub const REMEMBER: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// None: the token is unknown.
    pub allowed: Option<AllowedType>,
    pub token_key: Option<String>,
    pub group_id: Option<String>,
    /// OCPI AuthMethod: WHITELIST (decided from the store) or AUTH_REQUEST (asked the eMSP).
    pub method: &'static str,
    pub reference: Option<String>,
    /// The OCPI START_SESSION that sent this token to this charge point, when there is one.
    pub command_id: Option<String>,
}

impl Decision {
    fn unknown() -> Self {
        Self {
            allowed: None,
            token_key: None,
            group_id: None,
            method: "WHITELIST",
            reference: None,
            command_id: None,
        }
    }

    pub fn is_allowed(&self) -> bool {
        self.allowed == Some(AllowedType::Allowed)
    }

    /// OCPP 1.6 `idTagInfo.status`.
    pub fn ocpp16_status(&self) -> &'static str {
        match self.allowed {
            Some(AllowedType::Allowed) => "Accepted",
            Some(AllowedType::Blocked) => "Blocked",
            Some(AllowedType::Expired) => "Expired",
            _ => "Invalid",
        }
    }

    /// OCPP 2.0.1 `idTokenInfo.status`.
    pub fn ocpp201_status(&self) -> &'static str {
        match self.allowed {
            Some(AllowedType::Allowed) => "Accepted",
            Some(AllowedType::Blocked) => "Blocked",
            Some(AllowedType::Expired) => "Expired",
            Some(AllowedType::NoCredit) => "NoCredit",
            Some(AllowedType::NotAllowed) => "NotAtThisLocation",
            None => "Unknown",
        }
    }
}

/// Recent decisions per (charge point, token uid).
#[derive(Default)]
pub struct RecentDecisions {
    map: Mutex<HashMap<(String, String), (Instant, Decision)>>,
}

impl RecentDecisions {
    fn get(&self, charger: &str, uid: &str) -> Option<Decision> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(charger.to_string(), uid.to_ascii_uppercase()))
            .filter(|(at, _)| at.elapsed() < REMEMBER)
            .map(|(_, d)| d.clone())
    }

    fn put(&self, charger: &str, uid: &str, d: &Decision) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (at, _)| at.elapsed() < REMEMBER);
        }
        map.insert(
            (charger.to_string(), uid.to_ascii_uppercase()),
            (Instant::now(), d.clone()),
        );
    }
}

/// The OCPI token types an OCPP id token type may be, most likely first.
pub fn candidate_types(ocpp_type: Option<&str>) -> &'static [&'static str] {
    match ocpp_type {
        Some("Central") | Some("eMAID") => &["APP_USER", "AD_HOC_USER", "OTHER", "RFID"],
        Some("KeyCode") | Some("Local") | Some("MacAddress") => &["OTHER", "RFID", "APP_USER"],
        _ => &["RFID", "APP_USER", "AD_HOC_USER", "OTHER"],
    }
}

/// Why the eMSP gave no answer.
#[derive(Debug)]
pub enum AskError {
    /// The eMSP does not know the token (2004).
    Unknown,
    /// No answer within `HUB_AUTHORIZE_TIMEOUT_MS`.
    Timeout(String),
    /// Not reachable, or no endpoint to ask.
    Unreachable(String),
}

/// Whether the stored token decides without asking the eMSP: `ALWAYS`, or `ALLOWED` and valid.
pub fn store_decides(row: &TokenRow) -> bool {
    match row.whitelist.as_str() {
        "ALWAYS" => true,
        "ALLOWED" => row.valid,
        _ => false,
    }
}

/// What the stored token says on its own: allowed when valid, blocked otherwise.
pub fn stored_answer(row: &TokenRow) -> AllowedType {
    if row.valid {
        AllowedType::Allowed
    } else {
        AllowedType::Blocked
    }
}

/// Decide on a token presented at charge point `charger` (on `evse`, when known). A decision
/// made for the same charge point and token in the last [`REMEMBER`] is reused.
pub async fn decide(
    state: &AppState,
    charger: &str,
    uid: &str,
    ocpp_type: Option<&str>,
    evse: Option<i64>,
) -> Decision {
    decide_reserved(state, charger, uid, ocpp_type, evse, None)
        .await
        .0
}

/// [`decide`], and the active reservation of the charge point's EVSE `reserved_evse` (when
/// asked), read in the same trip to the database.
pub async fn decide_reserved(
    state: &AppState,
    charger: &str,
    uid: &str,
    ocpp_type: Option<&str>,
    evse: Option<i64>,
    reserved_evse: Option<i64>,
) -> (Decision, Option<Reservation>) {
    let policy = state.settings.ocpp_authorize;
    let cached = match policy {
        AuthorizePolicy::Tokens => state.recent_authorizations.get(charger, uid),
        _ => None,
    };
    // The stored token is read only when it may decide (no recent decision to reuse).
    let read_token = matches!(policy, AuthorizePolicy::Tokens) && cached.is_none();
    let since = crate::db::now()
        - chrono::Duration::minutes(crate::ocpi::commands::service::COMMAND_TOKEN_TRUST_MINUTES);
    let types = candidate_types(ocpp_type);
    let (cid, u) = (charger.to_string(), uid.to_string());
    let found = state
        .db
        .read(move |c| {
            let command = crate::db::commands::recent_start(c, &cid, &u, None, since)?;
            let reservation = match reserved_evse {
                Some(evse) => crate::db::commands::active_on(c, &cid, evse)?,
                None => None,
            };
            let token = if read_token {
                Some((store::by_uid(c, &u, types)?, chargers::get(c, &cid)?))
            } else {
                None
            };
            Ok((command, reservation, token))
        })
        .await;
    let (command, reservation, token) = match found {
        Ok(r) => r,
        // Without the database the policy or a recent decision still answers; a token that
        // needed the store is refused this once (not remembered).
        Err(e) if read_token => {
            tracing::error!(error = %e, "token lookup failed");
            return (Decision::unknown(), None);
        }
        Err(e) => {
            tracing::error!(error = %e, "command and reservation lookup failed");
            (None, None, None)
        }
    };
    // A token an eMSP sent in a START_SESSION for this charge point is not asked about again.
    if let Some(d) = command.and_then(command_decision) {
        return (d, reservation);
    }
    let d = match (policy, cached, token) {
        (AuthorizePolicy::AcceptAll, ..) => Decision {
            allowed: Some(AllowedType::Allowed),
            ..Decision::unknown()
        },
        (AuthorizePolicy::RejectAll, ..) => Decision {
            allowed: Some(AllowedType::Blocked),
            ..Decision::unknown()
        },
        (AuthorizePolicy::Tokens, Some(d), _) => d,
        (AuthorizePolicy::Tokens, None, token) => {
            let (rows, charger_row) = token.unwrap_or_default();
            let d = decide_now(state, charger, evse, rows, charger_row).await;
            state.recent_authorizations.put(charger, uid, &d);
            d
        }
    };
    (d, reservation)
}

/// The decision a recent START_SESSION made for its token at its charge point.
fn command_decision(cmd: CommandRow) -> Option<Decision> {
    let request: serde_json::Value = serde_json::from_str(&cmd.request).ok()?;
    Some(Decision {
        allowed: Some(AllowedType::Allowed),
        token_key: None,
        group_id: request["token"]["group_id"].as_str().map(str::to_string),
        method: "COMMAND",
        reference: request["authorization_reference"]
            .as_str()
            .map(str::to_string),
        command_id: Some(cmd.id),
    })
}

/// The decision from the stored token `rows` (the first, most likely type first) at the charge
/// point `charger_row`: the store's, or the eMSP's when its `whitelist` says to ask.
async fn decide_now(
    state: &AppState,
    charger: &str,
    evse: Option<i64>,
    rows: Vec<TokenRow>,
    charger_row: Option<chargers::Charger>,
) -> Decision {
    let Some(row) = rows.into_iter().next() else {
        tracing::info!(ocpp.charge_point_id = %charger, "unknown token refused");
        return Decision::unknown();
    };
    let group_id = serde_json::from_str::<serde_json::Value>(&row.object)
        .ok()
        .and_then(|v| v["group_id"].as_str().map(str::to_string));
    let stored = |allowed: AllowedType| Decision {
        allowed: Some(allowed),
        token_key: Some(row.key.clone()),
        group_id: group_id.clone(),
        method: "WHITELIST",
        reference: None,
        command_id: None,
    };
    let from_store = stored_answer(&row);
    if store_decides(&row) {
        return stored(from_store);
    }
    let location = charger_row
        .and_then(|c| c.location_id)
        .and_then(|loc| CiString::new(loc).ok())
        .map(|location_id| LocationReferences {
            location_id,
            evse_uids: evse
                .and_then(|e| CiString::new(format!("{charger}-{e}")).ok())
                .into_iter()
                .collect(),
        });
    match ask(state, &row, location.as_ref()).await {
        Ok(info) => Decision {
            allowed: Some(info.allowed),
            token_key: Some(row.key.clone()),
            group_id,
            method: "AUTH_REQUEST",
            reference: info.authorization_reference.map(|r| r.as_str().to_string()),
            command_id: None,
        },
        Err(AskError::Unknown) => Decision::unknown(),
        Err(AskError::Timeout(why) | AskError::Unreachable(why)) => {
            tracing::warn!(error = %why, whitelist = %row.whitelist, "real-time authorisation unanswered");
            match row.whitelist.as_str() {
                "ALLOWED_OFFLINE" => stored(from_store),
                "NEVER" => Decision {
                    allowed: None,
                    ..stored(AllowedType::Blocked)
                },
                _ => stored(AllowedType::Blocked),
            }
        }
    }
}

/// Real-time authorisation: POST `{eMSP tokens SENDER}/{uid}/authorize?type=` with the
/// location, within `HUB_AUTHORIZE_TIMEOUT_MS`.
pub async fn ask(
    state: &AppState,
    row: &TokenRow,
    location: Option<&LocationReferences>,
) -> Result<AuthorizationInfo, AskError> {
    let Some(platform_id) = row.source_platform_id.clone() else {
        return Err(AskError::Unreachable(
            "the token was not pushed by a partner".into(),
        ));
    };
    let ep =
        crate::ocpi::relay::partner_endpoint(state, &platform_id, "tokens", InterfaceRole::Sender)
            .await
            .map_err(AskError::Unreachable)?;
    let url = format!(
        "{}/{}/authorize?type={}",
        ep.base,
        url::form_urlencoded::byte_serialize(row.uid.as_bytes()).collect::<String>(),
        row.token_type
    );
    let (cc, pid) = state.settings.own_cpo();
    let from = PartyRef {
        country_code: cc,
        party_id: pid,
    };
    let to = PartyRef {
        country_code: row.country_code.clone(),
        party_id: row.party_id.clone(),
    };
    let target = ep.target(&url, &from, &to);
    let body = location
        .map(serde_json::to_value)
        .transpose()
        .ok()
        .flatten();
    let call = state
        .client
        .call::<AuthorizationInfo>(Method::POST, &target, body.as_ref());
    let timeout = Duration::from_millis(state.settings.authorize_timeout_ms);
    match tokio::time::timeout(timeout, call).await {
        Err(_) => Err(AskError::Timeout(format!(
            "no answer within {} ms",
            timeout.as_millis()
        ))),
        Ok(Ok(reply)) => reply
            .data
            .ok_or_else(|| AskError::Unreachable("answer without AuthorizationInfo".into())),
        Ok(Err(ClientError::Ocpi { code: 2004, .. } | ClientError::Http(404))) => {
            Err(AskError::Unknown)
        }
        Ok(Err(e)) => Err(AskError::Unreachable(e.to_string())),
    }
}

/// The `type` query parameter of the tokens endpoints: a TokenType, RFID when absent.
pub fn token_type_param(t: Option<&str>) -> Result<TokenType, String> {
    match t {
        None => Ok(TokenType::Rfid),
        Some(s) => TokenType::parse(s).ok_or_else(|| format!("`{s}` is not a TokenType")),
    }
}
