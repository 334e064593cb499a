//! The Sessions module: the hub's own sessions derived from OCPP transactions (see
//! `ocpp::bridge`), sessions pushed by remote CPOs, and the Sender interface for eMSPs.

pub mod interfaces;
pub mod model;
