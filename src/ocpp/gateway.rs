//! The WebSocket endpoint `ws://HUB_OCPP_ADDR/ocpp/{charge_point_id}`: subprotocol negotiation
//! (`ocpp2.0.1`, `ocpp1.6`, the client's order of preference), security profile 1 (HTTP Basic,
//! per-charge-point password), newest connection wins, dead sockets found by ping/pong, and the
//! receive → parse → handle → respond loop of each connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, Session};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tracing::Instrument;

use crate::db::chargers;
use crate::state::AppState;

use super::frame::{self, Frame, RpcError, Version};
use super::handlers::{self, Ctx};
use super::log::ChargerEvent;
use super::schema::Direction;

/// Largest OCPP message accepted (bytes).
const MAX_FRAME: usize = 256 * 1024;

/// `sha256$<salt hex>$<hash hex>` of a charge point password.
pub fn hash_password(password: &str) -> String {
    let salt: [u8; 16] = rand::random();
    let digest = Sha256::new()
        .chain_update(salt)
        .chain_update(password.as_bytes())
        .finalize();
    format!("sha256${}${}", hex::encode(salt), hex::encode(digest))
}

/// Compare a presented password with a stored hash, in constant time.
pub fn verify_password(stored: &str, password: &[u8]) -> bool {
    let mut parts = stored.split('$');
    let (Some("sha256"), Some(salt), Some(want)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Ok(salt), Ok(want)) = (hex::decode(salt), hex::decode(want)) else {
        return false;
    };
    let got = Sha256::new()
        .chain_update(salt)
        .chain_update(password)
        .finalize();
    bool::from(got.as_slice().ct_eq(&want))
}

/// Register a charge point: id 1..48 characters without ':', password 16..40 characters
/// (OCPP security profile 1), stored hashed.
pub async fn add_charger(
    state: &AppState,
    id: &str,
    password: &str,
    location_id: Option<&str>,
) -> Result<(), crate::error::AppError> {
    use crate::error::AppError;
    if id.is_empty() || id.chars().count() > 48 || id.contains(':') {
        return Err(AppError::invalid(
            "charge point id: 1 to 48 characters, no ':'",
        ));
    }
    if !(16..=40).contains(&password.len()) || !password.chars().all(|c| ('!'..='~').contains(&c)) {
        return Err(AppError::invalid(
            "password: 16 to 40 printable ASCII characters (OCPP security profile 1)",
        ));
    }
    let (id, hash, loc) = (
        id.to_string(),
        hash_password(password),
        location_id.map(str::to_string),
    );
    let added = state
        .db
        .write(move |c| chargers::add(c, &id, Some(&hash), loc.as_deref()))
        .await?;
    if !added {
        return Err(AppError::invalid("a charge point with this id exists"));
    }
    Ok(())
}

struct Live {
    conn_id: u64,
    version: Version,
    /// A registered charge point (its connection state is stored).
    registered: bool,
    session: Session,
    outbound: Arc<Outbound>,
}

/// A charge point's answer to one of the hub's calls.
#[derive(Debug)]
enum Answer {
    Result(serde_json::Value),
    Error { code: String, description: String },
}

/// The hub's calls to one connection: the one outstanding call, and who waits for its answer.
#[derive(Default)]
pub struct Outbound {
    pending: Mutex<HashMap<String, tokio::sync::oneshot::Sender<Answer>>>,
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl Outbound {
    fn complete(&self, id: &str, answer: Answer) -> bool {
        let waiter = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        match waiter {
            Some(tx) => tx.send(answer).is_ok(),
            None => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("charge point {0} is not connected to this hub instance")]
    NotConnected(String),
    #[error("no answer within {0} s")]
    Timeout(u64),
    #[error("charge point answered {code}: {description}")]
    Rejected { code: String, description: String },
    #[error("connection closed before the answer")]
    Closed,
    #[error("payload does not match the schema: {0}")]
    Invalid(String),
}

/// The charge points connected to this instance.
#[derive(Default)]
pub struct Registry {
    next: AtomicU64,
    live: Mutex<HashMap<String, Live>>,
    /// Connection tasks still running (replaced ones included) and a signal when none is.
    running: AtomicU64,
    idle: tokio::sync::Notify,
}

impl Registry {
    /// Register a connection; returns its id and the session it replaced, if any.
    fn attach(
        &self,
        id: &str,
        version: Version,
        registered: bool,
        session: Session,
        outbound: Arc<Outbound>,
    ) -> (u64, Option<Session>, chrono::NaiveDateTime) {
        let conn_id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.running.fetch_add(1, Ordering::SeqCst);
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        // Taken under the lock: attach times order the connections of one charge point.
        let at = crate::db::now();
        let old = live.insert(
            id.to_string(),
            Live {
                conn_id,
                version,
                registered,
                session,
                outbound,
            },
        );
        (conn_id, old.map(|o| o.session), at)
    }

    /// Forget a connection, unless a newer one took its place; true when it was current.
    fn detach(&self, id: &str, conn_id: u64) -> bool {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if live.get(id).is_some_and(|l| l.conn_id == conn_id) {
            live.remove(id);
            true
        } else {
            false
        }
    }

    /// A connection task has finished, its state changes enqueued.
    fn detached(&self) {
        if self.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Wait until every connection task has finished (after [`Self::close_all`]), at most
    /// `timeout`; false on timeout.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.idle.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.running.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    /// On shutdown, for the connections whose tasks did not end in time: forget them (their
    /// tasks will then not record anything) and return the registered ones with their
    /// protocol, for the caller to record as disconnected before the writer's last flush.
    pub fn detach_remaining(&self) -> Vec<(String, Version)> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.drain()
            .filter(|(_, l)| l.registered)
            .map(|(id, l)| (id, l.version))
            .collect()
    }

    /// Connected charge points and their protocol.
    pub fn connected(&self) -> Vec<(String, Version)> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.iter().map(|(k, l)| (k.clone(), l.version)).collect()
    }

    /// The protocol of a connected charge point.
    pub fn version(&self, id: &str) -> Option<Version> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.get(id).map(|l| l.version)
    }

    /// Send a CALL to a connected charge point and wait for its answer: at most one outstanding
    /// call per connection (later ones queue), a new message id per call, `timeout` for the
    /// answer. A charge point connected to another hub instance is `NotConnected` here.
    pub async fn call(
        &self,
        id: &str,
        action: &str,
        payload: &serde_json::Value,
        timeout: Duration,
        log: &super::log::MessageLog,
    ) -> Result<serde_json::Value, CallError> {
        let (session, outbound) = {
            let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            let l = live
                .get(id)
                .ok_or_else(|| CallError::NotConnected(id.to_string()))?;
            (l.session.clone(), l.outbound.clone())
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let _turn = tokio::time::timeout_at(deadline, outbound.one_at_a_time.lock())
            .await
            .map_err(|_| CallError::Timeout(timeout.as_secs()))?;
        let message_id = uuid::Uuid::new_v4().simple().to_string();
        let (tx, rx) = tokio::sync::oneshot::channel();
        outbound
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(message_id.clone(), tx);
        let mut session = session;
        let text = frame::call(&message_id, action, payload);
        log.record(id, "OUT", 2, &message_id, Some(action), &text)
            .await;
        if session.text(text).await.is_err() {
            outbound
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&message_id);
            return Err(CallError::Closed);
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(Answer::Result(v))) => Ok(v),
            Ok(Ok(Answer::Error { code, description })) => {
                Err(CallError::Rejected { code, description })
            }
            Ok(Err(_)) => Err(CallError::Closed),
            Err(_) => {
                outbound
                    .pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&message_id);
                Err(CallError::Timeout(timeout.as_secs()))
            }
        }
    }

    /// Close every connection ("going away"): on shutdown, so that charge points reconnect
    /// (to another instance) at once instead of waiting for a dead socket to time out.
    pub async fn close_all(&self) {
        let sessions: Vec<Session> = {
            let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            live.values().map(|l| l.session.clone()).collect()
        };
        for s in sessions {
            let _ = s
                .close(Some(actix_ws::CloseReason {
                    code: actix_ws::CloseCode::Away,
                    description: Some("hub shutting down".into()),
                }))
                .await;
        }
    }

    pub fn is_connected(&self, id: &str) -> bool {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.contains_key(id)
    }
}

/// Charge point reads of the handshakes in flight, batched: each handshake waits for its row,
/// and every handshake that arrives while a read is running joins the next one (one `IN (…)`
/// query for up to [`READ_BATCH`] charge points, at most [`READS_IN_FLIGHT`] at once). Nothing
/// is cached: each handshake sees the row as stored when it arrived or later, so disabling a
/// charge point or changing its password takes effect at its next connection.
pub struct ChargerReads {
    tx: tokio::sync::mpsc::Sender<ReadRequest>,
    rx: Mutex<Option<tokio::sync::mpsc::Receiver<ReadRequest>>>,
}

type ReadAnswer = Result<Option<chargers::Charger>, String>;
type ReadRequest = (String, tokio::sync::oneshot::Sender<ReadAnswer>);

const READ_BATCH: usize = 1000;
const READS_IN_FLIGHT: usize = 4;

impl Default for ChargerReads {
    fn default() -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel(20_000);
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("charge point not read: {0}")]
pub struct ReadError(String);

impl ChargerReads {
    /// The registered charge point `id`, if any.
    pub async fn get(&self, id: &str) -> Result<Option<chargers::Charger>, ReadError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send((id.to_string(), tx))
            .await
            .map_err(|_| ReadError("reader not running".into()))?;
        rx.await
            .map_err(|_| ReadError("reader not running".into()))?
            .map_err(ReadError)
    }

    /// The reader task (one per process); returns at once if already taken.
    pub async fn run(&self, db: crate::db::Db) {
        let Some(mut rx) = self.rx.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let slots = Arc::new(tokio::sync::Semaphore::new(READS_IN_FLIGHT));
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let Some(first) = rx.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < READ_BATCH
                && let Ok(r) = rx.try_recv()
            {
                batch.push(r);
            }
            let db = db.clone();
            tokio::spawn(async move {
                let mut ids: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
                ids.sort_unstable();
                ids.dedup();
                match db.read(move |c| chargers::get_many(c, &ids)).await {
                    Ok(rows) => {
                        let rows: HashMap<String, chargers::Charger> =
                            rows.into_iter().map(|c| (c.id.clone(), c)).collect();
                        for (id, answer) in batch {
                            let _ = answer.send(Ok(rows.get(&id).cloned()));
                        }
                    }
                    Err(e) => {
                        for (_, answer) in batch {
                            let _ = answer.send(Err(e.to_string()));
                        }
                    }
                }
                drop(slot);
            });
        }
    }
}

/// The subprotocol to speak: the first one the client lists that the hub supports.
pub fn negotiate(req: &HttpRequest) -> Option<Version> {
    req.headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(Version::from_subprotocol)
}

fn basic_password(req: &HttpRequest, id: &str) -> Option<Vec<u8>> {
    let h = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = h.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = STANDARD.decode(b64.trim()).ok()?;
    let colon = raw.iter().position(|b| *b == b':')?;
    (raw[..colon] == *id.as_bytes()).then(|| raw[colon + 1..].to_vec())
}

fn unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"ocpp\""))
        .finish()
}

/// `GET /ocpp/{charge_point_id}` with `Upgrade: websocket`.
pub async fn connect(
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let id = path.into_inner();
    if id.is_empty() || id.chars().count() > 48 || id.contains(':') {
        return Ok(HttpResponse::BadRequest().body("charge point id: 1 to 48 characters, no ':'"));
    }
    let known = state
        .ocpp_chargers
        .get(&id)
        .await
        .map_err(actix_web::error::ErrorInternalServerError)?;
    match &known {
        None if !state.settings.ocpp_allow_unknown => {
            tracing::warn!(ocpp.charge_point_id = %id, "unknown charge point refused");
            return Ok(HttpResponse::NotFound().finish());
        }
        Some(c) => {
            if let Some(hash) = &c.password_hash {
                match basic_password(&req, &id) {
                    Some(pw) if verify_password(hash, &pw) => {}
                    _ => {
                        tracing::warn!(ocpp.charge_point_id = %id, "bad or missing Basic credentials");
                        return Ok(unauthorized());
                    }
                }
            }
        }
        None => {}
    }
    let version = negotiate(&req);
    let (mut response, session, stream) = actix_ws::handle(&req, body)?;
    let Some(version) = version else {
        // No common subprotocol: finish the handshake without one, then close at once.
        tracing::warn!(ocpp.charge_point_id = %id, "no supported subprotocol offered");
        actix_web::rt::spawn(async move {
            let _ = session.close(None).await;
        });
        return Ok(response);
    };
    response.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(version.subprotocol()),
    );
    let stream = stream
        .max_frame_size(MAX_FRAME)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME);
    let state = state.into_inner();
    // Attached before the handshake answer leaves: once the charge point sees the upgrade, the
    // hub can call it.
    let outbound = Arc::new(Outbound::default());
    let (conn_id, replaced, at) = state.ocpp_registry.attach(
        &id,
        version,
        known.is_some(),
        session.clone(),
        outbound.clone(),
    );
    let attachment = Attachment {
        conn_id,
        replaced,
        at,
        outbound,
    };
    actix_web::rt::spawn(run(state, id, version, known, session, stream, attachment));
    Ok(response)
}

/// A connection as the registry took it.
struct Attachment {
    conn_id: u64,
    /// The connection of the same charge point it replaced.
    replaced: Option<Session>,
    at: chrono::NaiveDateTime,
    outbound: Arc<Outbound>,
}

async fn run(
    state: Arc<AppState>,
    id: String,
    version: Version,
    known: Option<chargers::Charger>,
    mut session: Session,
    mut stream: actix_ws::AggregatedMessageStream,
    attachment: Attachment,
) {
    let registry = state.ocpp_registry.clone();
    let Attachment {
        conn_id,
        replaced,
        at: attached_at,
        outbound,
    } = attachment;
    let replaced_any = replaced.is_some();
    if let Some(old) = replaced {
        let _ = old.close(None).await;
    }
    let proto = version.subprotocol();
    if known.is_some() {
        let event = ChargerEvent::Connected {
            protocol: proto,
            replaced: replaced_any,
        };
        if let Err(e) = state.ocpp_log.charger_at(&id, event, attached_at).await {
            tracing::error!(error = %e, "connection state not stored");
        }
    }
    tracing::info!(ocpp.charge_point_id = %id, ocpp.protocol = proto, "charge point connected");
    let ping_every = Duration::from_secs(state.settings.ocpp_ping_secs);
    let mut ticker = tokio::time::interval(ping_every);
    ticker.tick().await;
    let mut last_heard = Instant::now();
    let ctx = Ctx {
        state: &state,
        shared: &state,
        charger_id: &id,
        version,
        known: known.clone(),
    };
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if last_heard.elapsed() > ping_every * 2 {
                    tracing::warn!(ocpp.charge_point_id = %id, "no pong: closing a dead connection");
                    break;
                }
                if session.ping(b"").await.is_err() {
                    break;
                }
            }
            msg = stream.next() => {
                let Some(Ok(msg)) = msg else { break };
                last_heard = Instant::now();
                match msg {
                    AggregatedMessage::Text(text) => {
                        if let Some(reply) = on_text(&ctx, &outbound, &text).await
                            && session.text(reply).await.is_err()
                        {
                            break;
                        }
                    }
                    AggregatedMessage::Binary(_) => {
                        let e = frame::RpcError::new("-1", frame::ErrorKind::Format, "OCPP-J messages are text frames");
                        if session.text(frame::error(&e, version)).await.is_err() {
                            break;
                        }
                    }
                    AggregatedMessage::Ping(p) => {
                        if session.pong(&p).await.is_err() {
                            break;
                        }
                    }
                    AggregatedMessage::Pong(_) => {}
                    AggregatedMessage::Close(_) => break,
                }
            }
        }
    }
    let current = registry.detach(&id, conn_id);
    if current && known.is_some() {
        let event = ChargerEvent::Disconnected { protocol: proto };
        if let Err(e) = state.ocpp_log.charger(&id, event).await {
            tracing::error!(error = %e, "connection state not stored");
        }
    }
    registry.detached();
    let _ = session.close(None).await;
    tracing::info!(ocpp.charge_point_id = %id, replaced = !current, "charge point disconnected");
}

/// One inbound text frame; the reply to send, if any.
async fn on_text(ctx: &Ctx<'_>, outbound: &Outbound, text: &str) -> Option<String> {
    let log = &ctx.state.ocpp_log;
    let cp = ctx.charger_id;
    match frame::parse(text, ctx.version) {
        Err(e) => {
            log.record(cp, "IN", 0, &e.id, None, text).await;
            let reply = frame::error(&e, ctx.version);
            log.record(cp, "OUT", 4, &e.id, None, &reply).await;
            Some(reply)
        }
        Ok(None) => {
            log.record(cp, "IN", 0, "-1", None, text).await;
            None
        }
        Ok(Some(Frame::Call {
            id,
            action,
            payload,
        })) => {
            log.record(cp, "IN", 2, &id, Some(&action), text).await;
            let span =
                tracing::info_span!("ocpp", ocpp.charge_point_id = %cp, ocpp.action = %action);
            let checked = match ctx.state.ocpp_schemas.as_deref() {
                Some(s) => s.check(ctx.version, Direction::Request, &action, &payload),
                None => Ok(()),
            };
            let handled = match checked {
                Err(v) if !super::transactions::is_transaction_message(&action) => {
                    Err(RpcError::new(id.clone(), v.kind, v.description))
                }
                other => {
                    if let Err(v) = other {
                        // Stored and accepted all the same: a refusal could make the charge
                        // point drop transaction data.
                        tracing::warn!(ocpp.charge_point_id = %cp, ocpp.action = %action, violation = %v.description, "transaction message does not match its schema; accepted");
                    }
                    handlers::handle(ctx, &id, &action, payload)
                        .instrument(span)
                        .await
                }
            };
            let (kind, reply) = match handled {
                Ok(p) => (3, frame::result(&id, &p)),
                Err(e) => (4, frame::error(&e, ctx.version)),
            };
            log.record(cp, "OUT", kind, &id, Some(&action), &reply)
                .await;
            Some(reply)
        }
        // Answers to the hub's own calls.
        Ok(Some(Frame::Result { id, payload })) => {
            log.record(cp, "IN", 3, &id, None, text).await;
            if !outbound.complete(&id, Answer::Result(payload)) {
                tracing::warn!(ocpp.charge_point_id = %cp, message_id = %id, "answer to no outstanding call");
            }
            None
        }
        Ok(Some(Frame::Error {
            id,
            code,
            description,
            ..
        })) => {
            log.record(cp, "IN", 4, &id, None, text).await;
            if !outbound.complete(&id, Answer::Error { code, description }) {
                tracing::warn!(ocpp.charge_point_id = %cp, message_id = %id, "error for no outstanding call");
            }
            None
        }
    }
}

/// The OCPP listener's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ocpp/{charge_point_id}", web::get().to(connect));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_as_bytes() {
        let h = hash_password("s3cret-Passw0rd");
        assert!(verify_password(&h, b"s3cret-Passw0rd"));
        assert!(!verify_password(&h, b"s3cret-passw0rd"));
        assert!(!verify_password(&h, b""));
        assert!(!verify_password("garbage", b"x"));
        assert_ne!(hash_password("a"), hash_password("a"), "salted");
    }
}
