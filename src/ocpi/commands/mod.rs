//! The Commands module: eMSPs start, stop, reserve and unlock through the hub.

pub mod interfaces;
pub mod model;
pub mod service;
