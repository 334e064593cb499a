//! The Tokens module: eMSPs push their drivers' tokens (Receiver), CPOs pull them and ask for
//! real-time authorisation (Sender), and the hub's own charge points are authorised from them.

pub mod authorize;
pub mod interfaces;
pub mod model;
