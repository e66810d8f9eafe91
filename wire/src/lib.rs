//! `sio-wire`: a wire-exact Engine.IO 4 / Socket.IO 5 client, for tests and load generators.
//! It knows the protocol and nothing about scenarios; the harness and the server's tests both
//! build on it.
//!
//! How the pieces fit, in the order data flows from the socket up:
//!
//! - [`transport`] opens an Engine.IO session over websocket, long-polling, or polling upgraded
//!   to websocket, and hands back one [`transport::Link`] whatever the transport: frames in and
//!   out, decoded into Engine.IO packets by [`codec::engine`]. Every request carries the client's
//!   [`cookies`] (a load balancer's stickiness).
//! - [`codec::socket`] turns Engine.IO messages into Socket.IO packets (namespaces, acks,
//!   binary attachments reassembled) and back; the codecs do no I/O.
//! - [`client`] drives one Socket.IO client over a link: pings, namespaces with their auth,
//!   acks both ways with timeouts, reconnection with the official client's back-off. Everything
//!   it sees or does comes out as a [`client::Observation`], in order, for a caller to check.
//! - [`proxy`] sits between a client and its server on loopback, one per client, to cut,
//!   blackhole, restore or move its network, and to shape it with the latency, jitter,
//!   bandwidth and loss modelled by [`shaping`].
//!
//! So a frame from the server becomes an Engine.IO packet, then a Socket.IO packet, then an
//! observation; a command to the client goes the other way down.

pub mod client;
pub mod codec;
pub mod cookies;
pub mod proxy;
pub mod shaping;
pub mod transport;
