//! Locations module (OCPI 2.2.1): model, Receiver and Sender interfaces.

pub mod model;
pub mod receiver;
pub mod sender;
pub mod service;
