//! `GET /api/locations/search`: the nearest usable EVSEs for an eMSP app, filtered by connector
//! standard, power type, power and availability, sorted by distance or by an estimated price for
//! a given energy. Not OCPI: a convenience on top of the locations the caller may see.

use actix_web::{FromRequest, HttpRequest, dev::Payload, get, web};
use futures_util::future::LocalBoxFuture;
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::locations::{self as store, object_key};
use crate::error::AppError;
use crate::http::auth::{Admin, PartyCaller};
use crate::http::envelope::OcpiResponse;
use crate::http::routing::PartyRef;
use crate::state::AppState;

use super::locations::model::{Connector, Evse, Location, PowerType, Status};
use super::tariffs::model::{Tariff, TariffDimensionType};

/// Who searches: an operator (admin JWT, sees everything) or a registered partner (OCPI token,
/// sees what its roles may see).
pub struct Searcher(pub Option<Vec<PartyRef>>);

impl FromRequest for Searcher {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, p: &mut Payload) -> Self::Future {
        let bearer = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("bearer "));
        let req = req.clone();
        let mut payload = p.take();
        Box::pin(async move {
            if bearer {
                Admin::from_request(&req, &mut payload).await?;
                return Ok(Searcher(None));
            }
            let c = PartyCaller::from_request(&req, &mut payload).await?.0;
            let roles = c.roles;
            Ok(Searcher(Some(roles)))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortBy {
    Distance,
    Price,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Latitude of the driver, decimal degrees.
    pub lat: f64,
    /// Longitude of the driver, decimal degrees.
    pub lon: f64,
    /// Search radius in km (default 10, at most 500).
    pub radius_km: Option<f64>,
    /// Connector standard, an OCPI ConnectorType (e.g. `IEC_62196_T2_COMBO`).
    pub standard: Option<String>,
    /// OCPI PowerType (`AC_1_PHASE`, `AC_3_PHASE`, `DC`, ...).
    pub power_type: Option<String>,
    /// Only connectors of at least this power, kW.
    pub min_power_kw: Option<f64>,
    /// Only EVSEs whose status is AVAILABLE.
    pub available_now: Option<bool>,
    /// `distance` (default) or `price`.
    pub sort: Option<SortBy>,
    /// Energy for the price estimate, kWh (default 20).
    pub energy_kwh: Option<f64>,
    /// At most this many results (default 20, at most 100).
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PriceEstimate {
    pub tariff_id: String,
    pub currency: String,
    #[schema(value_type = f64)]
    #[serde(with = "rust_decimal::serde::float")]
    pub excl_vat: Decimal,
    #[schema(value_type = Option<f64>)]
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub incl_vat: Option<Decimal>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    pub country_code: String,
    pub party_id: String,
    pub location_id: String,
    pub name: Option<String>,
    pub address: String,
    pub city: String,
    pub evse_uid: String,
    pub evse_id: Option<String>,
    pub status: String,
    pub connector_id: String,
    pub standard: String,
    pub power_type: String,
    pub max_power_kw: f64,
    pub latitude: f64,
    pub longitude: f64,
    pub distance_km: f64,
    /// Energy, flat and time components of the connector's tariff for `energy_kwh` at the
    /// connector's power (restrictions ignored): an estimate, not a quote.
    pub estimated_price: Option<PriceEstimate>,
}

const EARTH_KM: f64 = 6371.0088;

pub fn haversine_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1) = (a.0.to_radians(), a.1.to_radians());
    let (la2, lo2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * EARTH_KM * h.sqrt().asin()
}

/// Power of a connector in kW: `max_electric_power`, else volts × amps × phases.
pub fn power_kw(c: &Connector) -> f64 {
    if let Some(w) = c.max_electric_power {
        return f64::from(w) / 1000.0;
    }
    let phases = match c.power_type {
        PowerType::Ac3Phase => 3.0,
        _ => 1.0,
    };
    f64::from(c.max_voltage) * f64::from(c.max_amperage) * phases / 1000.0
}

fn enum_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Energy × ENERGY price + FLAT + hours × TIME price, from the first element of each kind.
pub fn estimate(t: &Tariff, energy_kwh: Decimal, power_kw: f64) -> PriceEstimate {
    let hours = if power_kw > 0.0 {
        Decimal::from_f64(energy_kwh.to_f64().unwrap_or(0.0) / power_kw).unwrap_or_default()
    } else {
        Decimal::ZERO
    };
    let mut excl = Decimal::ZERO;
    let mut incl = Decimal::ZERO;
    let mut all_vat = true;
    for dim in [
        TariffDimensionType::Energy,
        TariffDimensionType::Flat,
        TariffDimensionType::Time,
    ] {
        let Some(pc) = t
            .elements
            .iter()
            .flat_map(|e| e.price_components.iter())
            .find(|pc| pc.dimension == dim)
        else {
            continue;
        };
        let amount = match dim {
            TariffDimensionType::Energy => pc.price * energy_kwh,
            TariffDimensionType::Time => pc.price * hours,
            _ => pc.price,
        };
        excl += amount;
        match pc.vat {
            Some(v) => incl += amount * (Decimal::ONE + v / Decimal::ONE_HUNDRED),
            None => all_vat = false,
        }
    }
    PriceEstimate {
        tariff_id: t.id.as_str().to_string(),
        currency: t.currency.as_str().to_string(),
        excl_vat: excl.round_dp(2),
        incl_vat: all_vat.then(|| incl.round_dp(2)),
    }
}

fn usable(e: &Evse, q: &SearchQuery) -> bool {
    !matches!(e.status, Status::Removed)
        && (!q.available_now.unwrap_or(false) || matches!(e.status, Status::Available))
}

fn connector_matches(c: &Connector, q: &SearchQuery) -> bool {
    q.standard
        .as_ref()
        .is_none_or(|s| enum_name(&c.standard).eq_ignore_ascii_case(s))
        && q.power_type
            .as_ref()
            .is_none_or(|p| enum_name(&c.power_type).eq_ignore_ascii_case(p))
        && q.min_power_kw.is_none_or(|m| power_kw(c) + 1e-9 >= m)
}

/// Nearest usable EVSEs, by distance or estimated price.
#[utoipa::path(
    tag = "search",
    params(SearchQuery),
    responses((status = 200, description = "Envelope with the matching EVSEs (one hit per EVSE: its most powerful matching connector)", body = Vec<SearchHit>),
               (status = 401, description = "Neither a registered partner's OCPI token nor an admin JWT")),
    security(("ocpi_token" = []), ("admin_jwt" = []))
)]
#[get("/api/locations/search")]
pub async fn search(
    state: web::Data<AppState>,
    who: Searcher,
    q: web::Query<SearchQuery>,
) -> Result<OcpiResponse<Vec<SearchHit>>, AppError> {
    let q = q.into_inner();
    if !(-90.0..=90.0).contains(&q.lat) || !(-180.0..=180.0).contains(&q.lon) {
        return Err(AppError::invalid(
            "query parameters `lat`/`lon`: outside -90..90 / -180..180",
        ));
    }
    let radius = q.radius_km.unwrap_or(10.0);
    if !(radius > 0.0 && radius <= 500.0) {
        return Err(AppError::invalid(
            "query parameter `radius_km`: must be in (0, 500]",
        ));
    }
    let energy = q.energy_kwh.unwrap_or(20.0);
    if !(energy > 0.0 && energy <= 1000.0) {
        return Err(AppError::invalid(
            "query parameter `energy_kwh`: must be in (0, 1000]",
        ));
    }
    let energy = Decimal::from_f64(energy).unwrap_or(Decimal::from(20));
    let limit = q.limit.unwrap_or(20).clamp(1, 100);
    let dlat = radius / 111.32;
    let dlon = (radius / (111.32 * q.lat.to_radians().cos().max(0.01))).min(180.0);
    let to_e7 = |d: f64| (d * 1e7).round() as i64;
    let lat_box = (to_e7(q.lat - dlat), to_e7(q.lat + dlat));
    let lon_box = (to_e7(q.lon - dlon), to_e7(q.lon + dlon));
    let viewer = who.0;
    let default_tariff = state.settings.default_tariff_id.clone();
    let own = state.settings.own_cpo();
    let (rows, tariffs) = state
        .db
        .read(move |c| {
            let rows = store::in_box(c, lat_box, lon_box, viewer.as_deref(), 5000)?;
            let mut keys = Vec::new();
            for r in &rows {
                if let Ok(loc) = serde_json::from_str::<Location>(&r.object) {
                    for e in loc.evses.iter().flatten() {
                        for con in &e.connectors {
                            for t in con.tariff_ids.iter().flatten() {
                                keys.push(object_key(&r.country_code, &r.party_id, t.as_str()));
                            }
                        }
                    }
                }
            }
            if let Some(d) = &default_tariff {
                keys.push(object_key(&own.0, &own.1, d));
            }
            keys.sort_unstable();
            keys.dedup();
            Ok((rows, store::tariffs_by_keys(c, &keys)?))
        })
        .await?;
    let tariffs: std::collections::HashMap<String, Tariff> = tariffs
        .into_iter()
        .filter_map(|t| {
            serde_json::from_str::<Tariff>(&t.object)
                .ok()
                .map(|p| (t.key, p))
        })
        .collect();
    let own = state.settings.own_cpo();
    let mut hits = Vec::new();
    for r in rows {
        let loc: Location = match serde_json::from_str(&r.object) {
            Ok(l) => l,
            Err(_) => continue,
        };
        let base = (
            loc.coordinates
                .latitude
                .as_str()
                .parse::<f64>()
                .unwrap_or(0.0),
            loc.coordinates
                .longitude
                .as_str()
                .parse::<f64>()
                .unwrap_or(0.0),
        );
        for e in loc.evses.iter().flatten().filter(|e| usable(e, &q)) {
            let Some(best) = e
                .connectors
                .iter()
                .filter(|c| connector_matches(c, &q))
                .max_by(|a, b| power_kw(a).total_cmp(&power_kw(b)))
            else {
                continue;
            };
            let point = e
                .coordinates
                .as_ref()
                .map(|g| {
                    (
                        g.latitude.as_str().parse::<f64>().unwrap_or(base.0),
                        g.longitude.as_str().parse::<f64>().unwrap_or(base.1),
                    )
                })
                .unwrap_or(base);
            let distance = haversine_km((q.lat, q.lon), point);
            if distance > radius {
                continue;
            }
            let tariff_key = match best.tariff_ids.as_ref().and_then(|t| t.first()) {
                Some(t) => Some(object_key(&r.country_code, &r.party_id, t.as_str())),
                None if r.country_code == own.0 && r.party_id == own.1 => state
                    .settings
                    .default_tariff_id
                    .as_ref()
                    .map(|d| object_key(&own.0, &own.1, d)),
                None => None,
            };
            let estimated_price = tariff_key
                .and_then(|k| tariffs.get(&k))
                .map(|t| estimate(t, energy, power_kw(best)));
            hits.push(SearchHit {
                country_code: r.country_code.clone(),
                party_id: r.party_id.clone(),
                location_id: r.id.clone(),
                name: loc.name.as_ref().map(|n| n.as_str().to_string()),
                address: loc.address.as_str().to_string(),
                city: loc.city.as_str().to_string(),
                evse_uid: e.uid.as_str().to_string(),
                evse_id: e.evse_id.as_ref().map(|i| i.as_str().to_string()),
                status: enum_name(&e.status),
                connector_id: best.id.as_str().to_string(),
                standard: enum_name(&best.standard),
                power_type: enum_name(&best.power_type),
                max_power_kw: power_kw(best),
                latitude: point.0,
                longitude: point.1,
                distance_km: (distance * 1000.0).round() / 1000.0,
                estimated_price,
            });
        }
    }
    match q.sort.unwrap_or(SortBy::Distance) {
        SortBy::Distance => hits.sort_by(|a, b| a.distance_km.total_cmp(&b.distance_km)),
        SortBy::Price => hits.sort_by(|a, b| {
            let pa = a.estimated_price.as_ref().map(|p| p.excl_vat);
            let pb = b.estimated_price.as_ref().map(|p| p.excl_vat);
            match (pa, pb) {
                (Some(x), Some(y)) => x.cmp(&y).then(a.distance_km.total_cmp(&b.distance_km)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => a.distance_km.total_cmp(&b.distance_km),
            }
        }),
    }
    hits.truncate(limit);
    Ok(OcpiResponse::ok(hits))
}

#[cfg(test)]
mod tests {
    use super::haversine_km;

    #[test]
    fn haversine_matches_known_distances() {
        // Amsterdam Centraal to Utrecht Centraal: about 35 km.
        let d = haversine_km((52.37890, 4.90060), (52.08940, 5.11010));
        assert!((d - 35.0).abs() < 1.5, "{d}");
        assert!(haversine_km((10.0, 10.0), (10.0, 10.0)) < 1e-9);
    }
}
