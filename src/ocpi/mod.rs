//! OCPI 2.2.1 modules. Each module keeps its model, Sender and Receiver side together.

pub mod cdrs;
pub mod client;
pub mod commands;
pub mod credentials;
pub mod hubclientinfo;
pub mod import;
pub mod locations;
pub mod relay;
pub mod search;
pub mod sessions;
pub mod tariffs;
#[cfg(test)]
pub mod test_support;
pub mod tokens;
pub mod types;
pub mod versions;

/// The only OCPI version the hub speaks.
pub const VERSION: &str = "2.2.1";
/// Base path of the 2.2.1 endpoints.
pub const BASE: &str = "/ocpi/2.2.1";
