//! Tariffs module (OCPI 2.2.1): model, Receiver and Sender interfaces.

pub mod interfaces;
pub mod model;
