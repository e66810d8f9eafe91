//! From taped traffic to Socket.IO facts: each Engine.IO session becomes one client, its
//! messages are decoded (binary attachments reassembled) into connects, emits, acks, received
//! events and disconnects, in the order the proxy saw them. Pings, pongs, noops and the upgrade
//! probe are transport detail and leave no fact.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::tap::{HttpCall, Side, Traffic};
use crate::codec::engine::EnginePacket;
use crate::codec::socket::{Assembler, Packet, PacketKind};
use crate::transport::TransportKind;

/// One Engine.IO session: a client of the scenario.
#[derive(Debug, Clone)]
pub struct Session {
    pub transport: TransportKind,
    pub query: Vec<(String, String)>,
    pub authorization: Option<String>,
}

/// What a client did or was told; `client` indexes [`Recording::sessions`].
#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    Connect {
        client: usize,
        nsp: String,
        auth: Option<Value>,
    },
    ConnectError {
        client: usize,
        nsp: String,
    },
    Emit {
        client: usize,
        nsp: String,
        event: String,
        args: Vec<Value>,
        ack: Option<u64>,
    },
    /// The server acknowledged the client's emit `id`.
    Acked {
        client: usize,
        nsp: String,
        id: u64,
        args: Vec<Value>,
    },
    Received {
        client: usize,
        nsp: String,
        event: String,
        args: Vec<Value>,
    },
    ServerDisconnect {
        client: usize,
        nsp: String,
    },
    /// The client left a namespace (`Some`), or closed its whole connection (`None`).
    ClientDisconnect {
        client: usize,
        nsp: Option<String>,
    },
    Http(HttpCall),
}

#[derive(Debug, Clone, Default)]
pub struct Recording {
    pub sessions: Vec<Session>,
    pub facts: Vec<Fact>,
}

struct Decoder {
    client: usize,
    up: Assembler,
    down: Assembler,
    /// Namespaces asked for and not left.
    open: BTreeSet<String>,
}

/// Decodes the tape. Packets of sessions whose handshake was not seen (opened before the
/// recording started) are left out, as is anything that does not decode.
pub fn decode(traffic: Vec<Traffic>) -> Recording {
    let mut recording = Recording::default();
    let mut decoders: HashMap<String, Decoder> = HashMap::new();
    for entry in traffic {
        match entry {
            Traffic::Opened {
                sid,
                transport,
                query,
                authorization,
            } => {
                decoders.insert(
                    sid,
                    Decoder {
                        client: recording.sessions.len(),
                        up: Assembler::default(),
                        down: Assembler::default(),
                        open: BTreeSet::new(),
                    },
                );
                recording.sessions.push(Session {
                    transport,
                    query,
                    authorization,
                });
            }
            Traffic::Upgraded { sid } => {
                if let Some(decoder) = decoders.get(&sid) {
                    let session = &mut recording.sessions[decoder.client];
                    if session.transport == TransportKind::Polling {
                        session.transport = TransportKind::Upgrade;
                    }
                }
            }
            Traffic::Packet { sid, from, packet } => {
                if let Some(decoder) = decoders.get_mut(&sid) {
                    decoder.engine_packet(from, packet, &mut recording.facts);
                }
            }
            Traffic::Closed { sid, by } => {
                if let Some(decoder) = decoders.get_mut(&sid) {
                    decoder.closed(by, &mut recording.facts);
                }
            }
            Traffic::Http(call) => recording.facts.push(Fact::Http(call)),
        }
    }
    recording
}

impl Decoder {
    fn engine_packet(&mut self, from: Side, packet: EnginePacket, facts: &mut Vec<Fact>) {
        let assembler = match from {
            Side::Client => &mut self.up,
            Side::Server => &mut self.down,
        };
        let assembled = match packet {
            EnginePacket::Message(text) => assembler.text(&text),
            EnginePacket::Binary(bytes) => assembler.binary(bytes),
            EnginePacket::Close => {
                self.closed(from, facts);
                return;
            }
            _ => return,
        };
        match assembled {
            Ok(Some(packet)) => self.socket_packet(from, packet, facts),
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "undecodable Socket.IO packet left out"),
        }
    }

    fn socket_packet(&mut self, from: Side, packet: Packet, facts: &mut Vec<Fact>) {
        let client = self.client;
        let nsp = packet.nsp.clone();
        let fact = match (from, packet.kind) {
            (Side::Client, PacketKind::Connect) => {
                self.open.insert(nsp.clone());
                Fact::Connect {
                    client,
                    nsp,
                    auth: packet.data,
                }
            }
            (Side::Server, PacketKind::ConnectError) => {
                self.open.remove(&nsp);
                Fact::ConnectError { client, nsp }
            }
            (_, PacketKind::Event | PacketKind::BinaryEvent) => {
                let Some((event, args)) = packet.event_parts() else {
                    return;
                };
                match from {
                    Side::Client => Fact::Emit {
                        client,
                        nsp,
                        event,
                        args,
                        ack: packet.id,
                    },
                    Side::Server => Fact::Received {
                        client,
                        nsp,
                        event,
                        args,
                    },
                }
            }
            (Side::Server, PacketKind::Ack | PacketKind::BinaryAck) => {
                let (Some(id), Some(Value::Array(args))) = (packet.id, packet.resolved_data())
                else {
                    return;
                };
                Fact::Acked {
                    client,
                    nsp,
                    id,
                    args,
                }
            }
            (Side::Server, PacketKind::Disconnect) => {
                self.open.remove(&nsp);
                Fact::ServerDisconnect { client, nsp }
            }
            (Side::Client, PacketKind::Disconnect) => {
                self.open.remove(&nsp);
                // Leaving the last namespace is how the official client closes its connection.
                let nsp = if self.open.is_empty() {
                    None
                } else {
                    Some(nsp)
                };
                Fact::ClientDisconnect { client, nsp }
            }
            // The server's CONNECT answers the client's; the client's acks answer server requests,
            // which a scenario cannot replay (see the module doc of `record`).
            _ => return,
        };
        facts.push(fact);
    }

    /// The connection ended: a client that still had namespaces open closed it itself.
    fn closed(&mut self, by: Side, facts: &mut Vec<Fact>) {
        if by == Side::Client && !self.open.is_empty() {
            facts.push(Fact::ClientDisconnect {
                client: self.client,
                nsp: None,
            });
        }
        self.open.clear();
    }
}
