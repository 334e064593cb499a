//! The delivery worker. It leases due deliveries (the oldest pending one of each partner/object
//! group), sends each as its own task so one slow partner delays nobody else, and records the
//! outcome: delivered; retried later with exponential back-off and jitter (network error,
//! timeout, HTTP 5xx, OCPI 3xxx); dead-lettered after the configured attempts or when the partner
//! refuses the request (HTTP 4xx, OCPI 2xxx); dropped at the first failure for partners without
//! store-and-forward. Nothing is held in memory that the database does not also hold: a crash
//! loses nothing, and an expired lease lets any instance take the delivery over.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::web;
use rand::Rng;
use reqwest::Method;
use tokio::sync::{Notify, Semaphore};

use crate::db::outbox::{self, DEAD, DROPPED, Delivery};
use crate::db::{Db, DbError, platforms};
use crate::http::routing::PartyRef;
use crate::ocpi::client::{ClientError, Target};
use crate::state::AppState;

use super::{EMSP_LIKE, receiver_endpoint};

/// Wakes the worker and tells it what to lease. A change that names what it enqueued
/// ([`Wakeup::enqueued`]: sessions, CDRs, locations, tariffs, tokens) queues those ids, which
/// the worker leases one by one as slots come free. Anything else ([`Wakeup::notify`]: a retry
/// coming due, a delivery given up, an operator's retry, a command result) has it search the
/// whole outbox for due group heads, as it also does every `HUB_OUTBOX_POLL_MS`; the heads
/// found are queued the same way, up to [`SCAN_BATCH`] per search (one more search when the
/// queue has run dry if there were more). The ids are only a shortcut: a lease checks every
/// condition again, and what a lease by id does not take (not yet its group's head) is taken
/// over by its predecessor's worker or by a later search.
#[derive(Default)]
pub struct Wakeup {
    notify: Notify,
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    /// Deliveries to lease by id.
    ids: VecDeque<i64>,
    /// Search the whole outbox next.
    scan: bool,
    /// The last search found a full batch: search again once `ids` is empty.
    more: bool,
}

/// More ids than this waiting: they are dropped for one search of the whole outbox.
const MAX_WAITING_IDS: usize = 10_000;
/// At most this many group heads per search of the whole outbox (a search reads every
/// pending row; the heads it finds are then leased one by one, by key).
const SCAN_BATCH: i64 = 1_000;

/// What the worker does next.
#[derive(Debug, PartialEq)]
enum Next {
    Scan,
    Ids(Vec<i64>),
    Nothing,
}

impl Wakeup {
    /// Something may have become due that the worker cannot name: search the whole outbox.
    pub fn notify(&self) {
        self.pending().scan = true;
        self.notify.notify_one();
    }

    /// Deliveries `ids` were enqueued and committed.
    pub fn enqueued(&self, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        self.queue(ids);
        self.notify.notify_one();
    }

    fn queue(&self, ids: &[i64]) {
        let mut p = self.pending();
        if p.ids.len() + ids.len() > MAX_WAITING_IDS {
            p.ids.clear();
            p.scan = true;
        } else {
            p.ids.extend(ids);
        }
    }

    /// A search found the due heads `ids`; `full` when it found as many as it could take.
    fn found(&self, ids: &[i64], full: bool) {
        self.queue(ids);
        self.pending().more |= full;
    }

    /// A delivery slot came free: what waited for one can go.
    fn slot_freed(&self) {
        self.notify.notify_one();
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What to do with `free` slots: search when asked for or `scan_due`, else lease up to
    /// `free` queued ids, else search again if the last search left more.
    fn next(&self, free: usize, scan_due: bool) -> Next {
        let mut p = self.pending();
        if p.scan || scan_due {
            p.scan = false;
            p.more = false;
            return Next::Scan;
        }
        if p.ids.is_empty() {
            return if std::mem::take(&mut p.more) {
                Next::Scan
            } else {
                Next::Nothing
            };
        }
        let n = free.min(p.ids.len());
        Next::Ids(p.ids.drain(..n).collect())
    }
}

/// The delay before attempt `attempt + 1`: base × 2^attempt, capped, with up to half of it
/// taken off at random so that retries of many deliveries spread out.
pub fn backoff(attempt: u32, base_ms: u64, max_secs: u64) -> Duration {
    let exp = base_ms.saturating_mul(1u64 << attempt.min(40));
    let capped = exp.min(max_secs.saturating_mul(1000)).max(1);
    let jitter = rand::thread_rng().gen_range(0..=capped / 2);
    Duration::from_millis(capped - jitter)
}

enum Outcome {
    /// With the `Location` the partner answered (CDR POSTs).
    Delivered(Option<String>),
    Retry(String),
    Refused(String),
}

fn classify(e: &ClientError) -> Outcome {
    match e {
        ClientError::Network(_) | ClientError::Timeout | ClientError::BadResponse(_) => {
            Outcome::Retry(e.to_string())
        }
        ClientError::Http(s) if *s >= 500 || *s == 429 || *s == 408 => {
            Outcome::Retry(e.to_string())
        }
        ClientError::Ocpi { code, .. }
            if (3000..4000).contains(code) || (4000..5000).contains(code) =>
        {
            Outcome::Retry(e.to_string())
        }
        _ => Outcome::Refused(e.to_string()),
    }
}

/// Run until the process ends.
pub async fn run(state: web::Data<AppState>) {
    let owner = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    let slots = Arc::new(Semaphore::new(state.settings.outbox_concurrency as usize));
    // Connections of its own: request handlers and the OCPP gateway cannot starve delivery.
    let db = state.db.dedicated_by_key(WORKER_CONNECTIONS);
    let partners = Arc::new(Partners::default());
    let poll = Duration::from_millis(state.settings.outbox_poll_ms);
    tracing::info!(worker = %owner, "push worker started");
    let wakeup = state.outbox_wakeup.clone();
    // The first pass leases from the whole outbox (what an earlier run left).
    let mut last_scan: Option<Instant> = None;
    loop {
        let free = slots.available_permits();
        if free == 0 {
            // A finishing delivery frees a slot and wakes the worker.
            wakeup.notify.notified().await;
            continue;
        }
        let scan_due = last_scan.is_none_or(|t| t.elapsed() >= poll);
        let leased = match wakeup.next(free, scan_due) {
            Next::Nothing => {
                let left = last_scan.map_or(Duration::ZERO, |t| poll.saturating_sub(t.elapsed()));
                tokio::select! {
                    _ = wakeup.notify.notified() => {}
                    _ = tokio::time::sleep(left) => {}
                }
                continue;
            }
            Next::Scan => {
                last_scan = Some(Instant::now());
                let now = crate::db::now();
                match db
                    .read(move |c| outbox::due_heads(c, now, SCAN_BATCH))
                    .await
                {
                    Ok(heads) => wakeup.found(&heads, heads.len() as i64 >= SCAN_BATCH),
                    Err(e) => {
                        tracing::error!(error = %e, "push worker cannot search the outbox");
                        tokio::time::sleep(poll).await;
                        wakeup.pending().scan = true;
                    }
                }
                continue;
            }
            Next::Ids(ids) => lease(&state, &db, &owner, ids).await,
        };
        let rows = match leased {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "push worker cannot lease deliveries");
                tokio::time::sleep(poll).await;
                wakeup.pending().scan = true;
                continue;
            }
        };
        for d in rows {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let state = state.clone();
            let owner = owner.clone();
            let (db, partners) = (db.clone(), partners.clone());
            tokio::spawn(async move {
                // A delivered one may hand over the next of its group at once.
                let mut next = Some(d);
                while let Some(d) = next {
                    next = deliver(&state, &db, &partners, &owner, d).await;
                }
                drop(permit);
                state.outbox_wakeup.slot_freed();
            });
        }
    }
}

/// The worker's own database connections.
const WORKER_CONNECTIONS: u32 = 4;
/// How long the worker uses a partner's platform row and roles before reading them again.
const PARTNER_TTL: Duration = Duration::from_secs(1);

/// Partners as the worker last read them (platform row and active roles, or gone), each for
/// [`PARTNER_TTL`]: a burst of deliveries to one partner reads it once, and a change of its
/// registration, endpoints or token takes effect within that time.
#[derive(Default)]
struct Partners(Mutex<HashMap<String, (Instant, Partner)>>);

type Partner = Option<Arc<(platforms::Platform, Vec<platforms::RoleRow>)>>;

impl Partners {
    async fn get(&self, db: &Db, platform_id: &str) -> Result<Partner, DbError> {
        if let Some((at, p)) = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(platform_id)
            && at.elapsed() < PARTNER_TTL
        {
            return Ok(p.clone());
        }
        let pid = platform_id.to_string();
        let found: Partner = db
            .read(move |c| {
                let p = platforms::get(c, &pid)?;
                let roles = platforms::roles_of(c, &pid)?;
                Ok(p.map(|p| Arc::new((p, roles))))
            })
            .await?;
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (at, _)| at.elapsed() < PARTNER_TTL);
        map.insert(platform_id.to_string(), (Instant::now(), found.clone()));
        Ok(found)
    }
}

/// Lease those of `ids` that are due, free and their group's head.
async fn lease(
    state: &AppState,
    db: &Db,
    owner: &str,
    ids: Vec<i64>,
) -> Result<Vec<Delivery>, DbError> {
    let now = crate::db::now();
    let until = now + chrono::Duration::seconds(state.settings.outbox_lease_secs as i64);
    let owner = owner.to_string();
    db.write_single(move |c| outbox::lease_ids(c, &owner, &ids, now, until))
        .await
}

/// Send one delivery and record what happened; returns the next delivery of its group when
/// this one was delivered and the next was due and could be leased at once.
async fn deliver(
    state: &AppState,
    db: &Db,
    partners: &Partners,
    owner: &str,
    d: Delivery,
) -> Option<Delivery> {
    let span = tracing::info_span!(
        "push",
        party.platform_id = %d.platform_id,
        push.id = d.id,
        push.module = %d.module,
        push.method = %d.method,
        push.attempt = d.attempts + 1,
    );
    match tracing::Instrument::instrument(deliver_inner(state, db, partners, owner, d), span).await
    {
        Ok(next) => next,
        Err(e) => {
            tracing::error!(error = %e, "delivery outcome not recorded (the lease expires and it is sent again)");
            None
        }
    }
}

async fn deliver_inner(
    state: &AppState,
    db: &Db,
    partners: &Partners,
    owner: &str,
    d: Delivery,
) -> Result<Option<Delivery>, DbError> {
    let found = partners.get(db, &d.platform_id).await?;
    let store_and_forward = found.as_ref().is_none_or(|p| p.0.store_and_forward);
    let outcome = match found.as_deref() {
        None => Outcome::Refused("partner no longer exists".into()),
        Some((p, _)) if !p.is_registered() => Outcome::Refused("partner is not registered".into()),
        Some((p, roles)) => send(state, &d, p, roles).await,
    };
    let id = d.id;
    let owner = owner.to_string();
    match outcome {
        Outcome::Delivered(location) => {
            let cdr_key = (d.module == "cdrs" && d.method == "POST")
                .then(|| d.body.as_deref().and_then(posted_cdr_key))
                .flatten();
            let lease_secs = state.settings.outbox_lease_secs as i64;
            let record = move |c: &mut crate::db::DbConnection| {
                let now = crate::db::now();
                let until = now + chrono::Duration::seconds(lease_secs);
                outbox::delivered_then_next(c, &d, &owner, now, until)
            };
            // A posted CDR's `Location` is stored before the success is recorded, each
            // statement on its own: should the second not happen (a crash), the CDR is
            // sent again (the eMSP takes it idempotently by id) and its `Location` stored
            // again.
            let outcome = match (cdr_key, location) {
                (Some(key), Some(url)) => {
                    db.write_single(move |c| {
                        crate::db::cdrs::set_emsp_location(c, &key, &url)?;
                        record(c)
                    })
                    .await?
                }
                _ => db.write_single(record).await?,
            };
            let (recorded, next) = (outcome.recorded, outcome.next);
            if recorded {
                tracing::info!("delivered");
            } else {
                tracing::warn!("delivered, but the lease had expired meanwhile");
            }
            return Ok(next);
        }
        Outcome::Retry(err) if !store_and_forward => {
            tracing::warn!(error = %err, "push failed; partner has store-and-forward off, dropped (it re-syncs by GET)");
            db.write_single(move |c| outbox::mark_failed(c, id, &owner, &err, None, DROPPED))
                .await?;
        }
        Outcome::Retry(err) => {
            let attempts = d.attempts + 1;
            let s = &state.settings;
            if attempts >= i64::from(s.outbox_max_attempts) {
                tracing::warn!(error = %err, attempts, "push failed; dead-lettered");
                db.write_single(move |c| outbox::mark_failed(c, id, &owner, &err, None, DEAD))
                    .await?;
            } else {
                let wait = backoff(
                    attempts as u32 - 1,
                    s.outbox_backoff_base_ms,
                    s.outbox_backoff_max_secs,
                );
                let at = crate::db::now()
                    + chrono::Duration::from_std(wait)
                        .unwrap_or_else(|_| chrono::Duration::seconds(60));
                tracing::info!(error = %err, retry_in_ms = wait.as_millis() as u64, "push failed; will retry");
                let wakeup = state.outbox_wakeup_handle();
                db.write_single(move |c| outbox::mark_failed(c, id, &owner, &err, Some(at), DEAD))
                    .await?;
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    wakeup.notify();
                });
            }
        }
        Outcome::Refused(err) => {
            tracing::warn!(error = %err, "push refused; dead-lettered");
            db.write_single(move |c| outbox::mark_failed(c, id, &owner, &err, None, DEAD))
                .await?;
        }
    }
    // Retried later (its timer wakes the worker) or given up: in the second case the next
    // delivery of its group is now the group's head, for a whole-outbox lease.
    state.outbox_wakeup.notify();
    Ok(None)
}

/// The store key of the CDR in a POST body.
fn posted_cdr_key(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let s = |k: &str| v.get(k).and_then(serde_json::Value::as_str);
    Some(crate::db::sessions::object_key(
        s("country_code")?,
        s("party_id")?,
        s("id")?,
    ))
}

async fn send(
    state: &AppState,
    d: &Delivery,
    p: &platforms::Platform,
    roles: &[platforms::RoleRow],
) -> Outcome {
    // A full URL (a command's `response_url`) is used as it is; otherwise the path is appended
    // to the partner's RECEIVER endpoint of the module.
    let absolute = d.path.starts_with("https://") || d.path.starts_with("http://");
    let base = if absolute {
        String::new()
    } else {
        match receiver_endpoint(p.endpoints.as_deref(), &d.module) {
            Some(b) => b,
            None => {
                return Outcome::Refused(format!("partner has no {} RECEIVER endpoint", d.module));
            }
        }
    };
    let Some(sealed) = &p.their_token else {
        return Outcome::Refused("partner token missing".into());
    };
    let token = match state.keys.open(sealed) {
        Ok(t) => t,
        Err(e) => return Outcome::Refused(format!("cannot open the partner's token: {e}")),
    };
    let Ok(method) = Method::from_bytes(d.method.as_bytes()) else {
        return Outcome::Refused(format!("bad method {}", d.method));
    };
    let body = match d
        .body
        .as_deref()
        .map(serde_json::from_str::<serde_json::Value>)
    {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => return Outcome::Refused(format!("stored body is not JSON: {e}")),
    };
    let from = PartyRef {
        country_code: d.from_country_code.clone(),
        party_id: d.from_party_id.clone(),
    };
    let addressed = d
        .to_country_code
        .as_ref()
        .zip(d.to_party_id.as_ref())
        .map(|(cc, pid)| PartyRef {
            country_code: cc.clone(),
            party_id: pid.clone(),
        });
    let to = addressed
        .or_else(|| {
            roles
                .iter()
                .find(|r| EMSP_LIKE.contains(&r.role.as_str()))
                .or(roles.first())
                .map(|r| PartyRef {
                    country_code: r.country_code.clone(),
                    party_id: r.party_id.clone(),
                })
        })
        .unwrap_or_else(|| from.clone());
    let url = format!("{base}{}", d.path);
    let audience = p.versions_url.clone().unwrap_or_default();
    let target = Target {
        url: &url,
        token: &token,
        base64: p.auth_base64,
        audience: &audience,
        correlation_id: None,
        routing: Some((&from, &to)),
    };
    match state
        .client
        .call::<serde_json::Value>(method, &target, body.as_ref())
        .await
    {
        Ok(reply) => Outcome::Delivered(reply.location),
        Err(e) => classify(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_ids_go_out_per_free_slot_and_a_full_search_is_followed_by_another() {
        let w = Wakeup::default();
        assert_eq!(w.next(4, false), Next::Nothing);
        assert_eq!(w.next(4, true), Next::Scan);
        w.enqueued(&[]);
        assert_eq!(w.next(4, false), Next::Nothing);
        w.enqueued(&[1, 2, 3]);
        w.enqueued(&[4]);
        // In order, no more than the free slots.
        assert_eq!(w.next(3, false), Next::Ids(vec![1, 2, 3]));
        assert_eq!(w.next(3, false), Next::Ids(vec![4]));
        assert_eq!(w.next(3, false), Next::Nothing);
        // A search (asked for, or due) comes first; the queue is kept.
        w.enqueued(&[5]);
        w.notify();
        assert_eq!(w.next(3, false), Next::Scan);
        assert_eq!(w.next(3, false), Next::Ids(vec![5]));
        // What a search found is queued; a full batch means one more search once it is done.
        w.found(&[6, 7], true);
        w.enqueued(&[8]);
        assert_eq!(w.next(2, false), Next::Ids(vec![6, 7]));
        assert_eq!(w.next(2, false), Next::Ids(vec![8]));
        assert_eq!(w.next(2, false), Next::Scan);
        assert_eq!(w.next(2, false), Next::Nothing);
        w.found(&[9], false);
        assert_eq!(w.next(2, false), Next::Ids(vec![9]));
        assert_eq!(w.next(2, false), Next::Nothing);
        // Too many waiting: one search instead.
        let many: Vec<i64> = (0..MAX_WAITING_IDS as i64).collect();
        w.enqueued(&many);
        w.enqueued(&[10]);
        assert_eq!(w.next(3, false), Next::Scan);
        assert_eq!(w.next(3, false), Next::Nothing);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        for attempt in 0..6 {
            let full = 100u64 << attempt;
            for _ in 0..50 {
                let d = backoff(attempt, 100, 3600).as_millis() as u64;
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d}");
            }
        }
        assert!(backoff(30, 1000, 60).as_millis() <= 60_000);
        assert!(backoff(60, u64::MAX, 60).as_millis() <= 60_000);
    }

    #[test]
    fn retry_only_what_may_succeed_later() {
        assert!(matches!(classify(&ClientError::Timeout), Outcome::Retry(_)));
        assert!(matches!(
            classify(&ClientError::Http(503)),
            Outcome::Retry(_)
        ));
        assert!(matches!(
            classify(&ClientError::Ocpi {
                code: 3000,
                message: String::new()
            }),
            Outcome::Retry(_)
        ));
        assert!(matches!(
            classify(&ClientError::Http(404)),
            Outcome::Refused(_)
        ));
        assert!(matches!(
            classify(&ClientError::Ocpi {
                code: 2001,
                message: String::new()
            }),
            Outcome::Refused(_)
        ));
    }
}
