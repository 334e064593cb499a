//! The CDRs module: the hub's own CDRs built from OCPP transactions (see `ocpp::bridge`),
//! CDRs pushed by remote CPOs, and the Sender list for eMSPs.

pub mod interfaces;
pub mod model;
