//! The OCPP gateway: charge points of the hub's own CPO connect here over OCPP-J (1.6 and
//! 2.0.1 on one endpoint). This first part covers the connection (subprotocols, Basic auth,
//! newest connection wins, ping/pong), the framing with each version's error codes, and
//! BootNotification, Heartbeat and StatusNotification (EVSE status → OCPI, pushed to eMSPs),
//! Authorize (a configured policy until the tokens module), and the transaction messages,
//! stored with normalised meter values for the sessions module.

pub mod bridge;
pub mod frame;
pub mod gateway;
pub mod handlers;
pub mod log;
pub mod meter;
pub mod relay;
pub mod schema;
pub mod transactions;
pub mod tx_batch;
