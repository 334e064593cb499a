//! Pagination of every OCPI list endpoint: `offset`, `limit` (capped, cap reported in
//! `X-Limit`), `date_from` inclusive, `date_to` exclusive, `X-Total-Count`, and a
//! `Link: <…>; rel="next"` that repeats every filter of the request.
//!
//! Deep pages stay cheap: the `Link` we hand out also carries an opaque `cursor` (the sort key
//! of the last object returned, bound to the next offset). A request whose cursor matches its
//! offset seeks by `(last_updated, id)` on the index instead of skipping `offset` rows; any
//! other request uses the plain offset, so hand-written URLs behave exactly per OCPI.

use actix_web::{FromRequest, HttpRequest, dev::Payload};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDateTime;

use crate::db::PageQuery;
use crate::error::AppError;
use crate::ocpi::types::DateTime;
use crate::state::AppState;

#[derive(Debug, Clone)]
pub struct Pagination {
    pub query: PageQuery,
    /// The server's cap (`X-Limit`).
    pub max_limit: i64,
    /// The original query pairs, to repeat in `Link`.
    raw: Vec<(String, String)>,
    path: String,
    public_url: String,
}

fn encode_cursor(offset: i64, ts: NaiveDateTime, id: &str) -> String {
    let micros = ts.and_utc().timestamp_micros();
    URL_SAFE_NO_PAD.encode(format!("{offset}|{micros}|{id}"))
}

fn decode_cursor(s: &str, offset: i64) -> Option<(NaiveDateTime, String)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(s).ok()?).ok()?;
    let mut parts = raw.splitn(3, '|');
    let off: i64 = parts.next()?.parse().ok()?;
    let micros: i64 = parts.next()?.parse().ok()?;
    let id = parts.next()?.to_string();
    if off != offset {
        return None;
    }
    let ts = chrono::DateTime::from_timestamp_micros(micros)?.naive_utc();
    Some((ts, id))
}

impl Pagination {
    pub fn parse(req: &HttpRequest, max_limit: u32, public_url: &str) -> Result<Self, AppError> {
        let raw: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |k: &str| {
            raw.iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        let int = |k: &str| -> Result<Option<i64>, AppError> {
            match get(k) {
                None | Some("") => Ok(None),
                Some(v) => v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .map(Some)
                    .ok_or_else(|| {
                        AppError::invalid(format!(
                            "query parameter `{k}`: `{v}` is not a non-negative integer"
                        ))
                    }),
            }
        };
        let date = |k: &str| -> Result<Option<NaiveDateTime>, AppError> {
            match get(k) {
                None | Some("") => Ok(None),
                Some(v) => DateTime::parse(v)
                    .map(|d| Some(d.naive()))
                    .map_err(|e| AppError::invalid(format!("query parameter `{k}`: {e}"))),
            }
        };
        let max = i64::from(max_limit);
        let offset = int("offset")?.unwrap_or(0);
        let limit = int("limit")?.unwrap_or(max).min(max);
        let date_from = date("date_from")?;
        let date_to = date("date_to")?;
        let after = get("cursor").and_then(|c| decode_cursor(c, offset));
        Ok(Self {
            query: PageQuery {
                date_from,
                date_to,
                offset,
                limit,
                after,
            },
            max_limit: max,
            raw,
            path: req.path().to_string(),
            public_url: public_url.to_string(),
        })
    }

    /// `X-Total-Count`, `X-Limit` and, unless this is the last page, `Link`.
    /// `last_key` is the sort key of the last object on this page.
    pub fn headers(
        &self,
        total: i64,
        returned: usize,
        last_key: Option<(NaiveDateTime, &str)>,
    ) -> Vec<(String, String)> {
        let mut h = vec![
            ("X-Total-Count".to_string(), total.to_string()),
            ("X-Limit".to_string(), self.max_limit.to_string()),
        ];
        let next = self.query.offset + returned as i64;
        if returned > 0 && next < total {
            let mut url = match url::Url::parse(&format!("{}{}", self.public_url, self.path)) {
                Ok(u) => u,
                Err(_) => return h,
            };
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("offset", &next.to_string());
                q.append_pair("limit", &self.query.limit.to_string());
                for (k, v) in &self.raw {
                    if !matches!(k.as_str(), "offset" | "limit" | "cursor") {
                        q.append_pair(k, v);
                    }
                }
                if let Some((ts, id)) = last_key {
                    q.append_pair("cursor", &encode_cursor(next, ts, id));
                }
            }
            h.push(("Link".to_string(), format!("<{url}>; rel=\"next\"")));
        }
        h
    }
}

impl Pagination {
    /// The page as an OCPI answer, with the pagination headers.
    pub fn respond<T>(
        &self,
        items: Vec<T>,
        total: i64,
        last_key: Option<(NaiveDateTime, &str)>,
    ) -> crate::http::envelope::OcpiResponse<Vec<T>> {
        let headers = self.headers(total, items.len(), last_key);
        let mut resp = crate::http::envelope::OcpiResponse::ok(items);
        for (k, v) in headers {
            resp = resp.header(&k, v);
        }
        resp
    }

    /// A page of objects stored as canonical JSON text: they go out as they are, without a
    /// parse and a re-serialise. `rows` are (last_updated, key, object) in page order.
    pub fn respond_stored(
        &self,
        rows: Vec<(NaiveDateTime, String, String)>,
        total: i64,
    ) -> Result<crate::http::envelope::OcpiResponse<Vec<Box<serde_json::value::RawValue>>>, AppError>
    {
        let last = rows.last().map(|(t, k, _)| (*t, k.clone()));
        let items = rows
            .into_iter()
            .map(|(_, _, object)| {
                serde_json::value::RawValue::from_string(object).map_err(AppError::internal)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.respond(items, total, last.as_ref().map(|(t, k)| (*t, k.as_str()))))
    }
}

impl FromRequest for Pagination {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            AppState::of(req)
                .and_then(|s| Pagination::parse(req, s.settings.max_page_limit, &s.public_url)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn caps_limit_and_repeats_filters() {
        let req = TestRequest::get()
            .uri("/ocpi/2.2.1/sender/x?date_from=2020-01-01T00:00:00%2B00:00&limit=5000&foo=bar")
            .to_http_request();
        let p = Pagination::parse(&req, 100, "https://hub.example").unwrap();
        assert_eq!(p.query.limit, 100);
        assert!(p.query.date_from.is_some());
        let ts = p.query.date_from.unwrap();
        let h = p.headers(250, 100, Some((ts, "id-1")));
        let link = &h.iter().find(|(k, _)| k == "Link").unwrap().1;
        assert!(link.starts_with("<https://hub.example/ocpi/2.2.1/sender/x?offset=100&limit=100&date_from=2020-01-01T00%3A00%3A00%2B00%3A00"), "{link}");
        assert!(link.contains("foo=bar") && link.contains("cursor="));
        assert!(link.ends_with(">; rel=\"next\""));
        let last = p.headers(250, 0, None);
        assert!(!last.iter().any(|(k, _)| k == "Link"));
    }

    #[test]
    fn cursor_is_bound_to_its_offset() {
        let ts = DateTime::parse("2021-05-05T10:00:00.123456Z")
            .unwrap()
            .naive();
        let c = encode_cursor(40, ts, "abc|def");
        assert_eq!(decode_cursor(&c, 40), Some((ts, "abc|def".to_string())));
        assert_eq!(decode_cursor(&c, 41), None);
        assert_eq!(decode_cursor("garbage", 40), None);
    }

    #[test]
    fn refuses_bad_parameters() {
        for q in [
            "offset=-1",
            "limit=abc",
            "date_from=yesterday",
            "date_to=2020-13-01",
        ] {
            let req = TestRequest::get().uri(&format!("/x?{q}")).to_http_request();
            let e = Pagination::parse(&req, 10, "http://h").unwrap_err();
            assert_eq!(e.ocpi_code(), 2001, "{q}");
        }
    }
}
