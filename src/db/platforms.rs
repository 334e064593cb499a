//! Partner platforms, their roles and the credentials tokens the hub issued to them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{credentials_tokens, platform_roles, platforms};
use super::{DbConnection, DbError, PageQuery};
use crate::http::routing::PartyRef;

pub const STATE_PENDING: &str = "PENDING";
pub const STATE_REGISTERED: &str = "REGISTERED";
pub const STATE_UNREGISTERED: &str = "UNREGISTERED";

/// Token A: registration only. Token C: the partner's access token.
pub const KIND_REGISTRATION: &str = "A";
pub const KIND_ACCESS: &str = "C";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = platforms)]
pub struct Platform {
    pub id: String,
    pub name: String,
    pub state: String,
    pub initiated_by: String,
    pub expected_role: Option<String>,
    pub expected_country_code: Option<String>,
    pub expected_party_id: Option<String>,
    pub versions_url: Option<String>,
    pub version: Option<String>,
    pub endpoints: Option<String>,
    /// The partner's own token (token B / C from their side), sealed with the hub's key.
    pub their_token: Option<String>,
    /// Whether the partner Base64-encodes its tokens (the hub answers in the same form).
    pub auth_base64: bool,
    pub store_and_forward: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Platform {
    pub fn is_registered(&self) -> bool {
        self.state == STATE_REGISTERED
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = platform_roles)]
pub struct RoleRow {
    pub id: String,
    pub platform_id: String,
    pub role: String,
    pub country_code: String,
    pub party_id: String,
    pub business_details: String,
    pub active: bool,
    pub last_updated: NaiveDateTime,
}

#[derive(Debug, Clone)]
pub struct NewRole {
    pub role: String,
    pub country_code: String,
    pub party_id: String,
    pub business_details: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = credentials_tokens)]
pub struct TokenRow {
    pub token_hash: String,
    pub platform_id: String,
    pub kind: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Default)]
pub struct NewPlatform {
    pub name: String,
    pub initiated_by: String,
    pub expected_role: Option<String>,
    pub expected_country_code: Option<String>,
    pub expected_party_id: Option<String>,
    pub versions_url: Option<String>,
}

/// Create a platform in state PENDING with one token of `kind`.
pub fn create(
    conn: &mut DbConnection,
    new: &NewPlatform,
    token_hash: &str,
    kind: &str,
) -> Result<Platform, DbError> {
    let now = super::now();
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(platforms::table)
        .values((
            platforms::id.eq(&id),
            platforms::name.eq(&new.name),
            platforms::state.eq(STATE_PENDING),
            platforms::initiated_by.eq(&new.initiated_by),
            platforms::expected_role.eq(&new.expected_role),
            platforms::expected_country_code.eq(&new.expected_country_code),
            platforms::expected_party_id.eq(&new.expected_party_id),
            platforms::versions_url.eq(&new.versions_url),
            platforms::auth_base64.eq(true),
            platforms::store_and_forward.eq(true),
            platforms::created_at.eq(now),
            platforms::updated_at.eq(now),
        ))
        .execute(conn)?;
    insert_token(conn, &id, token_hash, kind)?;
    get(conn, &id)?.ok_or_else(|| DbError::Other("platform vanished".into()))
}

pub fn insert_token(
    conn: &mut DbConnection,
    platform_id: &str,
    token_hash: &str,
    kind: &str,
) -> Result<(), DbError> {
    diesel::insert_into(credentials_tokens::table)
        .values((
            credentials_tokens::token_hash.eq(token_hash),
            credentials_tokens::platform_id.eq(platform_id),
            credentials_tokens::kind.eq(kind),
            credentials_tokens::created_at.eq(super::now()),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut DbConnection, id: &str) -> Result<Option<Platform>, DbError> {
    Ok(platforms::table
        .find(id)
        .select(Platform::as_select())
        .first(conn)
        .optional()?)
}

pub fn list(conn: &mut DbConnection) -> Result<Vec<Platform>, DbError> {
    Ok(platforms::table
        .select(Platform::as_select())
        .order((platforms::created_at.asc(), platforms::id.asc()))
        .load(conn)?)
}

pub fn roles_of(conn: &mut DbConnection, platform_id: &str) -> Result<Vec<RoleRow>, DbError> {
    Ok(platform_roles::table
        .filter(platform_roles::platform_id.eq(platform_id))
        .filter(platform_roles::active.eq(true))
        .select(RoleRow::as_select())
        .order((
            platform_roles::role.asc(),
            platform_roles::country_code.asc(),
        ))
        .load(conn)?)
}

/// The platforms on which one of `parties` holds an active role in `roles`, with that role,
/// in the order of [`list`]: one query, for a change addressed to known parties (a session or
/// CDR to its eMSP) instead of every platform's roles.
pub fn holding(
    conn: &mut DbConnection,
    parties: &[PartyRef],
    roles: &[&str],
) -> Result<Vec<(Platform, RoleRow)>, DbError> {
    let mut out: Vec<(Platform, RoleRow)> = Vec::new();
    for p in parties {
        out.extend(
            platforms::table
                .inner_join(platform_roles::table)
                .filter(platform_roles::active.eq(true))
                .filter(platform_roles::country_code.eq(&p.country_code))
                .filter(platform_roles::party_id.eq(&p.party_id))
                .filter(platform_roles::role.eq_any(roles))
                .select((Platform::as_select(), RoleRow::as_select()))
                .order((
                    platforms::created_at.asc(),
                    platforms::id.asc(),
                    platform_roles::role.asc(),
                    platform_roles::country_code.asc(),
                ))
                .load::<(Platform, RoleRow)>(conn)?,
        );
    }
    if parties.len() > 1 {
        out.sort_by(|(a, ra), (b, rb)| {
            (a.created_at, &a.id, &ra.role, &ra.country_code).cmp(&(
                b.created_at,
                &b.id,
                &rb.role,
                &rb.country_code,
            ))
        });
    }
    Ok(out)
}

/// The live (not revoked) token with this hash, and its platform.
pub fn find_by_token(
    conn: &mut DbConnection,
    token_hash: &str,
) -> Result<Option<(TokenRow, Platform)>, DbError> {
    Ok(credentials_tokens::table
        .inner_join(platforms::table)
        .filter(credentials_tokens::token_hash.eq(token_hash))
        .filter(credentials_tokens::revoked_at.is_null())
        .select((TokenRow::as_select(), Platform::as_select()))
        .first(conn)
        .optional()?)
}

pub fn set_auth_base64(conn: &mut DbConnection, id: &str, b64: bool) -> Result<(), DbError> {
    diesel::update(platforms::table.find(id))
        .set(platforms::auth_base64.eq(b64))
        .execute(conn)?;
    Ok(())
}

pub fn set_store_and_forward(conn: &mut DbConnection, id: &str, on: bool) -> Result<(), DbError> {
    diesel::update(platforms::table.find(id))
        .set((
            platforms::store_and_forward.eq(on),
            platforms::updated_at.eq(super::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// What a completed handshake (POST or PUT) stores about the partner.
#[derive(Debug, Clone)]
pub struct Registration {
    pub name: String,
    pub versions_url: String,
    pub version: String,
    pub endpoints_json: String,
    pub their_token_sealed: String,
    pub roles: Vec<NewRole>,
}

/// Store a completed handshake: the partner's endpoints, sealed token and roles; revoke every
/// token it held and record `new_token_hash` as its one access token.
pub fn complete_registration(
    conn: &mut DbConnection,
    platform_id: &str,
    reg: &Registration,
    new_token_hash: Option<&str>,
) -> Result<(), DbError> {
    let now = super::now();
    diesel::update(platforms::table.find(platform_id))
        .set((
            platforms::name.eq(&reg.name),
            platforms::state.eq(STATE_REGISTERED),
            platforms::versions_url.eq(&reg.versions_url),
            platforms::version.eq(&reg.version),
            platforms::endpoints.eq(&reg.endpoints_json),
            platforms::their_token.eq(&reg.their_token_sealed),
            platforms::updated_at.eq(now),
        ))
        .execute(conn)?;
    replace_roles(conn, platform_id, &reg.roles, now)?;
    if let Some(hash) = new_token_hash {
        revoke_tokens(conn, platform_id, now)?;
        insert_token(conn, platform_id, hash, KIND_ACCESS)?;
    }
    Ok(())
}

/// Make `roles` the platform's active roles; unchanged roles keep their `last_updated`.
fn replace_roles(
    conn: &mut DbConnection,
    platform_id: &str,
    roles: &[NewRole],
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let existing = roles_of(conn, platform_id)?;
    for old in &existing {
        let kept = roles.iter().any(|r| {
            r.role == old.role
                && r.country_code == old.country_code
                && r.party_id == old.party_id
                && r.business_details == old.business_details
        });
        if !kept {
            diesel::update(platform_roles::table.find(&old.id))
                .set((
                    platform_roles::active.eq(false),
                    platform_roles::last_updated.eq(now),
                ))
                .execute(conn)?;
        }
    }
    for r in roles {
        let same = existing.iter().any(|old| {
            r.role == old.role
                && r.country_code == old.country_code
                && r.party_id == old.party_id
                && r.business_details == old.business_details
        });
        if !same {
            diesel::insert_into(platform_roles::table)
                .values((
                    platform_roles::id.eq(uuid::Uuid::new_v4().to_string()),
                    platform_roles::platform_id.eq(platform_id),
                    platform_roles::role.eq(&r.role),
                    platform_roles::country_code.eq(&r.country_code),
                    platform_roles::party_id.eq(&r.party_id),
                    platform_roles::business_details.eq(&r.business_details),
                    platform_roles::active.eq(true),
                    platform_roles::last_updated.eq(now),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

fn revoke_tokens(
    conn: &mut DbConnection,
    platform_id: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(
        credentials_tokens::table
            .filter(credentials_tokens::platform_id.eq(platform_id))
            .filter(credentials_tokens::revoked_at.is_null()),
    )
    .set(credentials_tokens::revoked_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Unregister: every token revoked, roles inactive, the partner's token forgotten.
pub fn unregister(conn: &mut DbConnection, platform_id: &str) -> Result<(), DbError> {
    let now = super::now();
    revoke_tokens(conn, platform_id, now)?;
    diesel::update(
        platform_roles::table
            .filter(platform_roles::platform_id.eq(platform_id))
            .filter(platform_roles::active.eq(true)),
    )
    .set((
        platform_roles::active.eq(false),
        platform_roles::last_updated.eq(now),
    ))
    .execute(conn)?;
    diesel::update(platforms::table.find(platform_id))
        .set((
            platforms::state.eq(STATE_UNREGISTERED),
            platforms::their_token.eq(None::<String>),
            platforms::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Remove a platform that never completed its handshake (nothing half-stored).
pub fn delete_unregistered(conn: &mut DbConnection, platform_id: &str) -> Result<(), DbError> {
    diesel::delete(
        credentials_tokens::table.filter(credentials_tokens::platform_id.eq(platform_id)),
    )
    .execute(conn)?;
    diesel::delete(platform_roles::table.filter(platform_roles::platform_id.eq(platform_id)))
        .execute(conn)?;
    diesel::delete(
        platforms::table
            .find(platform_id)
            .filter(platforms::state.ne(STATE_REGISTERED)),
    )
    .execute(conn)?;
    Ok(())
}

/// The roles matching the date filters (all platforms, active or not): `X-Total-Count`.
pub fn count_roles(conn: &mut DbConnection, q: &PageQuery) -> Result<i64, DbError> {
    let mut f = platform_roles::table.into_boxed();
    if let Some(from) = q.date_from {
        f = f.filter(platform_roles::last_updated.ge(from));
    }
    if let Some(to) = q.date_to {
        f = f.filter(platform_roles::last_updated.lt(to));
    }
    Ok(f.count().get_result(conn)?)
}

/// One page of roles in `(last_updated, id)` order, each with its platform's state.
pub fn page_roles(
    conn: &mut DbConnection,
    q: &PageQuery,
) -> Result<Vec<(RoleRow, String)>, DbError> {
    let mut page = platform_roles::table.into_boxed();
    if let Some(from) = q.date_from {
        page = page.filter(platform_roles::last_updated.ge(from));
    }
    if let Some(to) = q.date_to {
        page = page.filter(platform_roles::last_updated.lt(to));
    }
    let mut offset = q.offset;
    if let Some((ts, id)) = &q.after {
        // Written so both backends seek on the (last_updated, id) index: the first condition
        // starts the range scan, the second only sorts out rows of the same instant.
        page = page.filter(platform_roles::last_updated.ge(*ts)).filter(
            platform_roles::last_updated
                .gt(*ts)
                .or(platform_roles::id.gt(id.clone())),
        );
        offset = 0;
    }
    let rows: Vec<RoleRow> = page
        .select(RoleRow::as_select())
        .order((platform_roles::last_updated.asc(), platform_roles::id.asc()))
        .offset(offset)
        .limit(q.limit)
        .load(conn)?;
    let mut ids: Vec<&str> = rows.iter().map(|r| r.platform_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let states: Vec<(String, String)> = platforms::table
        .filter(platforms::id.eq_any(ids))
        .select((platforms::id, platforms::state))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let state = states
                .iter()
                .find(|(id, _)| *id == r.platform_id)
                .map(|(_, s)| s.clone())
                .unwrap_or_default();
            (r, state)
        })
        .collect())
}
