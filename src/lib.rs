//! ocpi-hub: an OCPI 2.2.1 roaming hub with an OCPP gateway (see ARCHITECTURE in docs/).

pub mod admin;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod keys;
pub mod ocpi;
pub mod ocpp;
pub mod openapi;
pub mod pricing;
pub mod push;
pub mod sim;
pub mod startup;
pub mod state;
pub mod telemetry;
