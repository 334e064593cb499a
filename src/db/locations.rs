//! Locations (with their EVSEs and connectors inside the JSON) and tariffs: canonical OCPI JSON
//! plus the key columns the queries need.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{location_visibility, locations, tariffs};
use super::{DbConnection, DbError, PageQuery};
use crate::http::routing::PartyRef;

/// `CC/PID/id`: one key for both backends' keyset pagination. Country code and party id are
/// case-insensitive in OCPI and stored upper-case.
pub fn object_key(cc: &str, pid: &str, id: &str) -> String {
    format!(
        "{}/{}/{}",
        cc.to_ascii_uppercase(),
        pid.to_ascii_uppercase(),
        id
    )
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = locations)]
pub struct LocationRow {
    pub key: String,
    pub country_code: String,
    pub party_id: String,
    pub id: String,
    pub object: String,
    pub publish: bool,
    pub lat_e7: i64,
    pub lon_e7: i64,
    pub source_platform_id: Option<String>,
    pub last_updated: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

pub fn get(conn: &mut DbConnection, key: &str) -> Result<Option<LocationRow>, DbError> {
    Ok(locations::table
        .find(key)
        .select(LocationRow::as_select())
        .first(conn)
        .optional()?)
}

/// Locations with this id, whoever owns them (a hub may store the same id for several CPOs).
pub fn find_by_id(conn: &mut DbConnection, id: &str) -> Result<Vec<LocationRow>, DbError> {
    Ok(locations::table
        .filter(locations::id.eq(id))
        .select(LocationRow::as_select())
        .order(locations::key.asc())
        .load(conn)?)
}

/// Insert or replace; `created_at` of an existing row is kept. Returns true when created.
/// `visible_to` replaces the parties allowed to see the location while it is unpublished.
pub fn upsert(
    conn: &mut DbConnection,
    row: &LocationRow,
    visible_to: &[PartyRef],
) -> Result<bool, DbError> {
    let existing = get(conn, &row.key)?;
    let created = existing.is_none();
    match existing {
        None => {
            diesel::insert_into(locations::table)
                .values(row)
                .execute(conn)?;
        }
        Some(old) => {
            let mut row = row.clone();
            row.created_at = old.created_at;
            diesel::update(locations::table.find(&row.key))
                .set(&row)
                .execute(conn)?;
            diesel::delete(
                location_visibility::table.filter(location_visibility::location_key.eq(&row.key)),
            )
            .execute(conn)?;
        }
    }
    for p in visible_to {
        diesel::insert_into(location_visibility::table)
            .values((
                location_visibility::location_key.eq(&row.key),
                location_visibility::country_code.eq(&p.country_code),
                location_visibility::party_id.eq(&p.party_id),
            ))
            .execute(conn)?;
    }
    Ok(created)
}

type Boxed<'a> = locations::BoxedQuery<'a, super::multi_connection_impl::MultiBackend>;

/// Keys of the unpublished locations one of `parties` may see.
fn allowed_keys(conn: &mut DbConnection, parties: &[PartyRef]) -> Result<Vec<String>, DbError> {
    let mut keys = Vec::new();
    for p in parties {
        keys.extend(
            location_visibility::table
                .filter(location_visibility::country_code.eq(&p.country_code))
                .filter(location_visibility::party_id.eq(&p.party_id))
                .select(location_visibility::location_key)
                .load::<String>(conn)?,
        );
    }
    keys.sort_unstable();
    keys.dedup();
    Ok(keys)
}

/// True when one of `parties` is allowed to see the (unpublished) location `key`.
pub fn visible_to(
    conn: &mut DbConnection,
    key: &str,
    parties: &[PartyRef],
) -> Result<bool, DbError> {
    for p in parties {
        let n: i64 = location_visibility::table
            .filter(location_visibility::location_key.eq(key))
            .filter(location_visibility::country_code.eq(&p.country_code))
            .filter(location_visibility::party_id.eq(&p.party_id))
            .count()
            .get_result(conn)?;
        if n > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The date filters, and who may see a location: everyone when published, else only the
/// parties listed for it. `viewer` None: the hub's operators, who see everything.
fn visible<'a>(
    conn: &mut DbConnection,
    viewer: Option<&[PartyRef]>,
    pq: &PageQuery,
) -> Result<Boxed<'a>, DbError> {
    let mut q = locations::table.into_boxed();
    if let Some(from) = pq.date_from {
        q = q.filter(locations::last_updated.ge(from));
    }
    if let Some(to) = pq.date_to {
        q = q.filter(locations::last_updated.lt(to));
    }
    if let Some(parties) = viewer {
        let keys = allowed_keys(conn, parties)?;
        q = q.filter(locations::publish.eq(true).or(locations::key.eq_any(keys)));
    }
    Ok(q)
}

/// Every visible location's sort key, in list order (for the list cache).
pub fn keys(
    conn: &mut DbConnection,
    q: &PageQuery,
    viewer: Option<&[PartyRef]>,
) -> Result<Vec<(NaiveDateTime, String)>, DbError> {
    Ok(visible(conn, viewer, q)?
        .select((locations::last_updated, locations::key))
        .order((locations::last_updated.asc(), locations::key.asc()))
        .load(conn)?)
}

/// The rows of `keys`, in the order of `keys` (missing ones left out).
pub fn get_many(conn: &mut DbConnection, keys: &[String]) -> Result<Vec<LocationRow>, DbError> {
    let mut rows: Vec<LocationRow> = locations::table
        .filter(locations::key.eq_any(keys))
        .select(LocationRow::as_select())
        .load(conn)?;
    let pos: std::collections::HashMap<&str, usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    rows.sort_by_key(|r| pos.get(r.key.as_str()).copied().unwrap_or(usize::MAX));
    Ok(rows)
}

/// Locations inside a latitude/longitude box (1e-7 degrees), for the app search.
pub fn in_box(
    conn: &mut DbConnection,
    lat: (i64, i64),
    lon: (i64, i64),
    viewer: Option<&[PartyRef]>,
    limit: i64,
) -> Result<Vec<LocationRow>, DbError> {
    let q = visible(conn, viewer, &PageQuery::default())?
        .filter(locations::lat_e7.between(lat.0, lat.1))
        .filter(locations::lon_e7.between(lon.0, lon.1));
    Ok(q.select(LocationRow::as_select())
        .order(locations::key.asc())
        .limit(limit)
        .load(conn)?)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = tariffs)]
pub struct TariffRow {
    pub key: String,
    pub country_code: String,
    pub party_id: String,
    pub id: String,
    pub object: String,
    pub source_platform_id: Option<String>,
    pub last_updated: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

pub fn get_tariff(conn: &mut DbConnection, key: &str) -> Result<Option<TariffRow>, DbError> {
    Ok(tariffs::table
        .find(key)
        .select(TariffRow::as_select())
        .first(conn)
        .optional()?)
}

/// Tariffs with these keys (the connectors' `tariff_ids` of one CPO).
pub fn tariffs_by_keys(
    conn: &mut DbConnection,
    keys: &[String],
) -> Result<Vec<TariffRow>, DbError> {
    Ok(tariffs::table
        .filter(tariffs::key.eq_any(keys))
        .select(TariffRow::as_select())
        .load(conn)?)
}

/// Insert or replace; returns true when created.
pub fn upsert_tariff(conn: &mut DbConnection, row: &TariffRow) -> Result<bool, DbError> {
    match get_tariff(conn, &row.key)? {
        None => {
            diesel::insert_into(tariffs::table)
                .values(row)
                .execute(conn)?;
            Ok(true)
        }
        Some(old) => {
            let mut row = row.clone();
            row.created_at = old.created_at;
            diesel::update(tariffs::table.find(&row.key))
                .set(&row)
                .execute(conn)?;
            Ok(false)
        }
    }
}

/// Remove a tariff; false when there was none.
pub fn delete_tariff(conn: &mut DbConnection, key: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(tariffs::table.find(key)).execute(conn)? == 1)
}

pub fn count_tariffs(conn: &mut DbConnection, q: &PageQuery) -> Result<i64, DbError> {
    let mut f = tariffs::table.into_boxed();
    if let Some(from) = q.date_from {
        f = f.filter(tariffs::last_updated.ge(from));
    }
    if let Some(to) = q.date_to {
        f = f.filter(tariffs::last_updated.lt(to));
    }
    Ok(f.count().get_result(conn)?)
}

pub fn page_tariffs(conn: &mut DbConnection, q: &PageQuery) -> Result<Vec<TariffRow>, DbError> {
    let mut f = tariffs::table.into_boxed();
    if let Some(from) = q.date_from {
        f = f.filter(tariffs::last_updated.ge(from));
    }
    if let Some(to) = q.date_to {
        f = f.filter(tariffs::last_updated.lt(to));
    }
    let mut offset = q.offset;
    if let Some((ts, key)) = &q.after {
        f = f.filter(tariffs::last_updated.ge(*ts)).filter(
            tariffs::last_updated
                .gt(*ts)
                .or(tariffs::key.gt(key.clone())),
        );
        offset = 0;
    }
    Ok(f.select(TariffRow::as_select())
        .order((tariffs::last_updated.asc(), tariffs::key.asc()))
        .offset(offset)
        .limit(q.limit)
        .load(conn)?)
}
