//! OCPI's basic types, checked at the edge: a value that breaks its type's rules fails
//! deserialisation, and the JSON extractor turns that into a 2001 naming the field.

use std::fmt;

use chrono::{NaiveDateTime, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

/// For a string newtype with a checking `new`: `as_str`, and a `Deserialize` that goes through
/// `new`, so a bad value fails deserialisation with `new`'s message (and the field's path).
macro_rules! checked_string {
    ($t:ident) => {
        impl $t {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                $t::new(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use checked_string;

/// OCPI `DateTime`: always UTC. Parsed leniently (missing `Z`, `+00:00` or another offset,
/// fractions of any length), written strictly with `Z` and at most milliseconds (string(25)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime(pub chrono::DateTime<Utc>);

impl DateTime {
    pub fn now() -> Self {
        Self::from_utc(Utc::now())
    }

    /// Truncated to microseconds, the precision both databases keep.
    pub fn from_utc(t: chrono::DateTime<Utc>) -> Self {
        let micros = t.nanosecond() / 1000 * 1000;
        Self(t.with_nanosecond(micros).unwrap_or(t))
    }

    pub fn from_naive(n: NaiveDateTime) -> Self {
        Self::from_utc(n.and_utc())
    }

    pub fn naive(&self) -> NaiveDateTime {
        self.0.naive_utc()
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.len() > 35 {
            return Err("is too long for a DateTime".into());
        }
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
            return Ok(Self::from_utc(t.with_timezone(&Utc)));
        }
        let bare = s.strip_suffix(['Z', 'z']).unwrap_or(s);
        NaiveDateTime::parse_from_str(bare, "%Y-%m-%dT%H:%M:%S%.f")
            .map(Self::from_naive)
            .map_err(|_| format!("`{s}` is not an RFC 3339 DateTime"))
    }

    pub fn to_ocpi_string(&self) -> String {
        let format = if self.0.nanosecond() / 1_000_000 == 0 {
            SecondsFormat::Secs
        } else {
            SecondsFormat::Millis
        };
        self.0.to_rfc3339_opts(format, true)
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ocpi_string())
    }
}

impl Serialize for DateTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_ocpi_string())
    }
}

impl<'de> Deserialize<'de> for DateTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn check_ascii(s: &str, max: usize) -> Result<(), String> {
    if let Some(c) = s.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(format!("contains {c:?}, only printable ASCII is allowed"));
    }
    if s.len() > max {
        return Err(format!(
            "is {} characters long, at most {max} allowed",
            s.len()
        ));
    }
    Ok(())
}

fn check_printable(s: &str, max: usize) -> Result<(), String> {
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(format!(
            "contains {c:?}, control characters are not allowed"
        ));
    }
    let n = s.chars().count();
    if n > max {
        return Err(format!("is {n} characters long, at most {max} allowed"));
    }
    Ok(())
}

/// `CiString(N)`: case-insensitive printable ASCII, at most N characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CiString<const N: usize>(String);

impl<const N: usize> CiString<N> {
    pub fn new(s: impl Into<String>) -> Result<Self, String> {
        let s = s.into();
        check_ascii(&s, N)?;
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn eq_ci(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }

    pub fn upper(&self) -> String {
        self.0.to_ascii_uppercase()
    }
}

impl<'de, const N: usize> Deserialize<'de> for CiString<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CiString::new(s).map_err(serde::de::Error::custom)
    }
}

impl<const N: usize> fmt::Display for CiString<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `string(N)`: case-sensitive printable UTF-8, at most N characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct OcpiString<const N: usize>(String);

impl<const N: usize> OcpiString<N> {
    pub fn new(s: impl Into<String>) -> Result<Self, String> {
        let s = s.into();
        check_printable(&s, N)?;
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de, const N: usize> Deserialize<'de> for OcpiString<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        OcpiString::new(s).map_err(serde::de::Error::custom)
    }
}

impl<const N: usize> fmt::Display for OcpiString<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `URL`: string(255), absolute http(s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Url(String);

impl Url {
    pub fn new(s: impl Into<String>) -> Result<Self, String> {
        let s = s.into();
        check_printable(&s, 255)?;
        let u = url::Url::parse(&s).map_err(|e| format!("`{s}` is not a URL: {e}"))?;
        if u.scheme() != "http" && u.scheme() != "https" {
            return Err(format!("`{s}` is not an http(s) URL"));
        }
        Ok(Self(s))
    }
}

checked_string!(Url);

/// ISO 3166-1 alpha-2 country code, CiString(2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn new(s: &str) -> Result<Self, String> {
        if s.len() != 2 || !s.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(format!("`{s}` is not a two-letter country code"));
        }
        Ok(Self(s.to_string()))
    }
}

checked_string!(CountryCode);

/// Party id, CiString(3) (ISO 15118: three alphanumerics).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PartyId(String);

impl PartyId {
    pub fn new(s: &str) -> Result<Self, String> {
        if s.len() != 3 || !s.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("`{s}` is not a three-character party id"));
        }
        Ok(Self(s.to_string()))
    }
}

checked_string!(PartyId);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    Cpo,
    Emsp,
    Hub,
    Nap,
    Nsp,
    Other,
    Scsp,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Cpo => "CPO",
            Role::Emsp => "EMSP",
            Role::Hub => "HUB",
            Role::Nap => "NAP",
            Role::Nsp => "NSP",
            Role::Other => "OTHER",
            Role::Scsp => "SCSP",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.to_ascii_uppercase()))
            .map_err(|_| format!("`{s}` is not a role (CPO, EMSP, HUB, NAP, NSP, OTHER, SCSP)"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ImageCategory {
    Charger,
    Entrance,
    Location,
    Network,
    Operator,
    Other,
    Owner,
}

/// `Image` class of the locations module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Image {
    #[schema(value_type = String)]
    pub url: Url,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub thumbnail: Option<Url>,
    pub category: ImageCategory,
    #[schema(value_type = String, max_length = 4)]
    #[serde(rename = "type")]
    pub image_type: CiString<4>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// `BusinessDetails` class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BusinessDetails {
    #[schema(value_type = String, max_length = 100)]
    pub name: OcpiString<100>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub website: Option<Url>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo: Option<Image>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_parse_leniently_and_print_with_z() {
        for (input, out) in [
            ("2015-06-29T20:39:09Z", "2015-06-29T20:39:09Z"),
            ("2015-06-29T20:39:09", "2015-06-29T20:39:09Z"),
            ("2016-12-29T17:45:09.2Z", "2016-12-29T17:45:09.200Z"),
            ("2016-12-29T17:45:09.2", "2016-12-29T17:45:09.200Z"),
            ("2018-01-01T01:08:01.123Z", "2018-01-01T01:08:01.123Z"),
            ("2018-01-01T01:08:01.123", "2018-01-01T01:08:01.123Z"),
            ("2018-01-01T01:08:01+00:00", "2018-01-01T01:08:01Z"),
            ("2018-01-01T03:08:01+02:00", "2018-01-01T01:08:01Z"),
            ("2018-01-01T01:08:01.123456789Z", "2018-01-01T01:08:01.123Z"),
        ] {
            assert_eq!(DateTime::parse(input).unwrap().to_string(), out, "{input}");
        }
        for bad in ["2018-01-01", "yesterday", "2018-13-01T00:00:00Z", ""] {
            assert!(DateTime::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn string_types_enforce_length_and_charset() {
        assert!(CiString::<3>::new("ABC").is_ok());
        assert!(
            CiString::<3>::new("ABCD")
                .unwrap_err()
                .contains("at most 3")
        );
        assert!(CiString::<10>::new("é").is_err());
        assert!(CiString::<10>::new("a\tb").is_err());
        assert!(OcpiString::<5>::new("héllo").is_ok());
        assert!(OcpiString::<5>::new("héllo!").is_err());
        assert!(OcpiString::<50>::new("line\nbreak").is_err());
        assert!(Url::new("https://example.com/ocpi/versions").is_ok());
        assert!(Url::new("not a url").is_err());
        assert!(Url::new(format!("https://e.com/{}", "a".repeat(250))).is_err());
        assert!(CountryCode::new("NL").is_ok());
        assert!(CountryCode::new("NLD").is_err());
        assert!(PartyId::new("AB1").is_ok());
        assert!(PartyId::new("AB").is_err());
        assert_eq!(Role::parse("emsp").unwrap(), Role::Emsp);
        assert!(Role::parse("DRIVER").is_err());
    }
}
