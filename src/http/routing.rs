//! The OCPI routing headers (`OCPI-from-*`, `OCPI-to-*`) of functional modules: parsed,
//! checked against the caller's credentials roles, mirrored on the response.
//! Configuration modules (versions, credentials, hubclientinfo) carry none.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::error::AppError;

pub const FROM_COUNTRY: &str = "ocpi-from-country-code";
pub const FROM_PARTY: &str = "ocpi-from-party-id";
pub const TO_COUNTRY: &str = "ocpi-to-country-code";
pub const TO_PARTY: &str = "ocpi-to-party-id";

/// One OCPI party address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyRef {
    pub country_code: String,
    pub party_id: String,
}

/// Whether `cc`/`pid` is one of `roles` (party codes compare case-insensitively).
pub fn holds(roles: &[PartyRef], cc: &str, pid: &str) -> bool {
    roles
        .iter()
        .any(|r| r.country_code.eq_ignore_ascii_case(cc) && r.party_id.eq_ignore_ascii_case(pid))
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutingHeaders {
    pub from: Option<PartyRef>,
    pub to: Option<PartyRef>,
}

/// Modules that are configuration modules: never routed.
const CONFIGURATION_MODULES: &[&str] = &["credentials", "hubclientinfo"];

/// True for paths of functional modules: `/ocpi/2.2.1/{sender|receiver}/{module}…`.
pub fn is_functional_path(path: &str) -> bool {
    let mut seg = path.trim_start_matches('/').split('/');
    matches!(
        (seg.next(), seg.next(), seg.next(), seg.next()),
        (Some("ocpi"), Some(_), Some("sender" | "receiver"), Some(m)) if !CONFIGURATION_MODULES.contains(&m)
    )
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, AppError> {
    match h.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| AppError::invalid(format!("header {name} is not ASCII"))),
    }
}

fn pair(h: &HeaderMap, cc: &str, pid: &str) -> Result<Option<PartyRef>, AppError> {
    match (header(h, cc)?, header(h, pid)?) {
        (None, None) => Ok(None),
        (Some(c), Some(p)) => {
            if c.len() != 2 || !c.chars().all(|x| x.is_ascii_alphabetic()) {
                return Err(AppError::invalid(format!(
                    "header {cc}: `{c}` is not a CiString(2) country code"
                )));
            }
            if p.len() != 3 || !p.chars().all(|x| x.is_ascii_alphanumeric()) {
                return Err(AppError::invalid(format!(
                    "header {pid}: `{p}` is not a CiString(3) party id"
                )));
            }
            Ok(Some(PartyRef {
                country_code: c.to_ascii_uppercase(),
                party_id: p.to_ascii_uppercase(),
            }))
        }
        (Some(_), None) => Err(AppError::invalid(format!(
            "header {cc} given without {pid}"
        ))),
        (None, Some(_)) => Err(AppError::invalid(format!(
            "header {pid} given without {cc}"
        ))),
    }
}

impl RoutingHeaders {
    pub fn parse(h: &HeaderMap) -> Result<Self, AppError> {
        Ok(Self {
            from: pair(h, FROM_COUNTRY, FROM_PARTY)?,
            to: pair(h, TO_COUNTRY, TO_PARTY)?,
        })
    }

    /// The `OCPI-from-*` party must be one of the caller's credentials roles (2001 otherwise).
    /// Absent headers stand for the caller's only role when it has exactly one.
    pub fn check_from(&self, caller_roles: &[PartyRef]) -> Result<PartyRef, AppError> {
        match &self.from {
            Some(f) if caller_roles.contains(f) => Ok(f.clone()),
            Some(f) => Err(AppError::invalid(format!(
                "OCPI-from {}/{} is not one of your credentials roles",
                f.country_code, f.party_id
            ))),
            None if caller_roles.len() == 1 => Ok(caller_roles[0].clone()),
            None => Err(AppError::invalid(
                "OCPI-from-country-code and OCPI-from-party-id are required: your platform has several roles",
            )),
        }
    }

    /// On the response: to = the requester, from = the party addressed.
    pub fn mirror_into(&self, h: &mut HeaderMap) {
        let mut put = |name: &'static str, v: &str| {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(HeaderName::from_static(name), v);
            }
        };
        if let Some(f) = &self.from {
            put(TO_COUNTRY, &f.country_code);
            put(TO_PARTY, &f.party_id);
        }
        if let Some(t) = &self.to {
            put(FROM_COUNTRY, &t.country_code);
            put(FROM_PARTY, &t.party_id);
        }
    }
}

/// A body's id field must equal the URL's (case-insensitively): 2001 naming the field otherwise.
pub fn same_id(field: &str, url: &str, body: &str) -> Result<(), AppError> {
    if url.eq_ignore_ascii_case(body) {
        Ok(())
    } else {
        Err(AppError::invalid(format!(
            "field `{field}`: `{body}` differs from `{url}` in the URL"
        )))
    }
}

/// [`same_id`] for each (field, URL value, body value).
pub fn same_ids(pairs: &[(&str, &str, &str)]) -> Result<(), AppError> {
    pairs
        .iter()
        .try_for_each(|(field, url, body)| same_id(field, url, body))
}

/// `{country_code}/{party_id}/{<id_segment>}` of a Receiver URL for an object the caller owns:
/// the id must be a CiString(36) (2001 otherwise) and the party one of the caller's roles (404
/// otherwise).
pub fn owned_address(
    req: &actix_web::HttpRequest,
    roles: &[PartyRef],
    id_segment: &str,
) -> Result<(String, String, String), AppError> {
    let m = req.match_info();
    let cc = m.get("country_code").unwrap_or_default().to_string();
    let pid = m.get("party_id").unwrap_or_default().to_string();
    let id = m.get(id_segment).unwrap_or_default().to_string();
    if id.is_empty() || id.len() > 36 || !id.chars().all(|c| (' '..='~').contains(&c)) {
        return Err(AppError::invalid(format!(
            "URL segment `{id_segment}`: `{id}` is not a CiString(36)"
        )));
    }
    if !holds(roles, &cc, &pid) {
        return Err(AppError::NotFound(format!(
            "{cc}/{pid} is not one of your credentials roles"
        )));
    }
    Ok((cc, pid, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    fn party(c: &str, p: &str) -> PartyRef {
        PartyRef {
            country_code: c.into(),
            party_id: p.into(),
        }
    }

    #[test]
    fn parses_checks_and_mirrors() {
        let h = headers(&[
            ("ocpi-from-country-code", "nl"),
            ("ocpi-from-party-id", "abc"),
            ("ocpi-to-country-code", "DE"),
            ("ocpi-to-party-id", "HUB"),
        ]);
        let r = RoutingHeaders::parse(&h).unwrap();
        assert_eq!(r.from, Some(party("NL", "ABC")));
        assert_eq!(
            r.check_from(&[party("NL", "ABC"), party("BE", "XYZ")])
                .unwrap(),
            party("NL", "ABC")
        );
        let err = r.check_from(&[party("BE", "XYZ")]).unwrap_err();
        assert!(err.to_string().contains("NL/ABC"));
        let mut out = HeaderMap::new();
        r.mirror_into(&mut out);
        assert_eq!(out.get("ocpi-to-party-id").unwrap(), "ABC");
        assert_eq!(out.get("ocpi-from-country-code").unwrap(), "DE");
    }

    #[test]
    fn refuses_half_or_malformed_headers() {
        assert!(RoutingHeaders::parse(&headers(&[("ocpi-from-country-code", "NL")])).is_err());
        assert!(
            RoutingHeaders::parse(&headers(&[
                ("ocpi-to-country-code", "NLD"),
                ("ocpi-to-party-id", "ABC")
            ]))
            .is_err()
        );
        assert!(
            RoutingHeaders::parse(&headers(&[
                ("ocpi-to-country-code", "NL"),
                ("ocpi-to-party-id", "AB")
            ]))
            .is_err()
        );
        let none = RoutingHeaders::parse(&HeaderMap::new()).unwrap();
        assert_eq!(
            none.check_from(&[party("NL", "ABC")]).unwrap(),
            party("NL", "ABC")
        );
        assert!(
            none.check_from(&[party("NL", "ABC"), party("NL", "DEF")])
                .is_err()
        );
    }

    #[test]
    fn functional_paths() {
        assert!(is_functional_path("/ocpi/2.2.1/sender/locations"));
        assert!(is_functional_path("/ocpi/2.2.1/receiver/tokens/NL/ABC/1"));
        assert!(!is_functional_path("/ocpi/2.2.1/credentials"));
        assert!(!is_functional_path("/ocpi/2.2.1/sender/hubclientinfo"));
        assert!(!is_functional_path("/ocpi/versions"));
    }
}
