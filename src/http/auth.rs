//! `Authorization: Token …` for OCPI endpoints, and `Authorization: Bearer …` for the admin API.
//!
//! A credentials token is accepted Base64-encoded (OCPI 2.2.1) or raw (2.1.1 / 2.2 peers). Its
//! MAC is checked before any database lookup; only then is its hash looked up. Which form the
//! partner sends is remembered, and the hub answers it in the same form.

use actix_web::{FromRequest, HttpRequest, dev::Payload};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::future::LocalBoxFuture;

use crate::db::platforms::{self, KIND_REGISTRATION, Platform};
use crate::error::AppError;
use crate::keys::{KeyRing, token_hash};
use crate::state::AppState;

/// An authenticated OCPI caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub platform: Platform,
    /// `A` (registration) or `C` (access).
    pub token_kind: String,
    /// The token as presented (the caller already holds it; never logged).
    pub token: String,
    /// True when the header carried the token Base64-encoded.
    pub encoded: bool,
    /// The platform's active roles (loaded with the token, in the same database round trip).
    pub roles: Vec<super::routing::PartyRef>,
}

impl Caller {
    /// May use functional modules: an access token of a registered platform.
    pub fn is_registered(&self) -> bool {
        self.token_kind != KIND_REGISTRATION && self.platform.is_registered()
    }
}

/// Split `Token <value>` and decide which form the value is in. Returns the plain token and
/// whether it was encoded. Fails without touching the database when no form carries a MAC of
/// one of the hub's keys.
pub fn decode_token_header(
    header: Option<&str>,
    keys: &KeyRing,
) -> Result<(String, bool), AppError> {
    let header =
        header.ok_or_else(|| AppError::Unauthorized("missing Authorization header".into()))?;
    let (scheme, value) = header.trim().split_once(' ').ok_or_else(|| {
        AppError::Unauthorized("Authorization must be `Token <credentials token>`".into())
    })?;
    if !scheme.eq_ignore_ascii_case("token") {
        return Err(AppError::Unauthorized(
            "Authorization must be `Token <credentials token>`".into(),
        ));
    }
    let value = value.trim();
    if let Ok(raw) = STANDARD.decode(value)
        && let Ok(s) = String::from_utf8(raw)
    {
        let s = s.trim_end_matches(['\n', '\r']).to_string();
        if keys.token_is_authentic(&s) {
            return Ok((s, true));
        }
    }
    if keys.token_is_authentic(value) {
        return Ok((value.to_string(), false));
    }
    Err(AppError::Unauthorized("unknown credentials token".into()))
}

async fn authenticate(req: &HttpRequest) -> Result<Caller, AppError> {
    let state = AppState::of(req)?.clone();
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let (token, encoded) = decode_token_header(header, &state.keys)?;
    let hash = token_hash(&token);
    let found = state
        .db
        .read(move |c| {
            Ok(match platforms::find_by_token(c, &hash)? {
                None => None,
                Some((row, p)) => {
                    let roles = platforms::roles_of(c, &p.id)?;
                    Some((row, p, roles))
                }
            })
        })
        .await?;
    let (row, platform, roles) = found
        .ok_or_else(|| AppError::Unauthorized("unknown or revoked credentials token".into()))?;
    let roles = roles
        .into_iter()
        .map(|r| super::routing::PartyRef {
            country_code: r.country_code,
            party_id: r.party_id,
        })
        .collect();
    if platform.auth_base64 != encoded {
        let id = platform.id.clone();
        state
            .db
            .write(move |c| platforms::set_auth_base64(c, &id, encoded))
            .await?;
    }
    tracing::Span::current().record("party.platform_id", platform.id.as_str());
    Ok(Caller {
        platform,
        token_kind: row.kind,
        token,
        encoded,
        roles,
    })
}

/// A registered platform's access token; Token A and tokens of unfinished handshakes → 401.
async fn authenticate_registered(req: &HttpRequest) -> Result<Caller, AppError> {
    let c = authenticate(req).await?;
    if !c.is_registered() {
        return Err(AppError::Unauthorized(
            "this token may only be used on the versions and credentials modules until registration completes".into(),
        ));
    }
    Ok(c)
}

/// Any live credentials token (A or C): for the versions and credentials modules.
pub struct AnyCaller(pub Caller);

impl FromRequest for AnyCaller {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await.map(AnyCaller) })
    }
}

/// A registered partner's access token: for every other module. Token A → 401.
pub struct PartyCaller(pub Caller);

impl FromRequest for PartyCaller {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let c = authenticate_registered(&req).await?;
            Ok(PartyCaller(c))
        })
    }
}

/// An operator holding a valid admin JWT (`Authorization: Bearer …`).
pub struct Admin(pub crate::keys::AdminClaims);

impl FromRequest for Admin {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = (|| {
            let state = AppState::of(req)?;
            let header = req
                .headers()
                .get(actix_web::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    AppError::AdminUnauthorized("missing Authorization: Bearer token".into())
                })?;
            let jwt = header
                .strip_prefix("Bearer ")
                .or_else(|| header.strip_prefix("bearer "))
                .ok_or_else(|| {
                    AppError::AdminUnauthorized("Authorization must be `Bearer <admin JWT>`".into())
                })?;
            state
                .keys
                .verify_admin(jwt.trim())
                .map(Admin)
                .map_err(|e| AppError::AdminUnauthorized(format!("admin token refused: {e}")))
        })();
        std::future::ready(result)
    }
}

/// A registered partner calling a functional module: its routing headers parsed and its
/// `OCPI-from-*` party checked against its credentials roles (2001 otherwise). Modules of later
/// issues take this extractor.
pub struct RoutedCaller {
    pub caller: Caller,
    /// The party the request comes from (one of the caller's roles).
    pub from: super::routing::PartyRef,
    /// The party addressed, when the `OCPI-to-*` headers are present.
    pub to: Option<super::routing::PartyRef>,
    /// Every role of the calling platform.
    pub roles: Vec<super::routing::PartyRef>,
}

impl FromRequest for RoutedCaller {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let c = authenticate_registered(&req).await?;
            let headers = super::routing::RoutingHeaders::parse(req.headers())?;
            let roles = c.roles.clone();
            let from = headers.check_from(&roles)?;
            Ok(RoutedCaller {
                caller: c,
                from,
                to: headers.to,
                roles,
            })
        })
    }
}
