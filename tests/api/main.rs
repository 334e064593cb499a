//! The one integration-test binary: the real hub, a real database, wiremock partners.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod commands;
mod credentials;
mod interop;
mod locations;
mod ocpp;
mod operations;
mod outbox;
mod search;
mod sessions;
mod signatures;
mod support;
mod tokens;
mod transport;
