//! `sio-harness`: a Socket.IO v4 protocol harness.
//!
//! How the pieces fit: [`codec`] encodes and decodes Engine.IO and Socket.IO packets (pure);
//! [`transport`] opens Engine.IO sessions over websocket, long-polling or an upgrade; [`client`]
//! drives one connection (heartbeat, namespaces, acks, reconnection) and reports every fact as
//! an [`client::Observation`].

pub mod client;
pub mod codec;
pub mod jwt;
pub mod load;
pub mod matcher;
pub mod proxy;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod snapshot;
pub mod suite;
pub mod target;
pub mod template;
pub mod transcript;
pub mod transport;
