//! Property tests: every packet survives encode/decode, and no input panics a decoder.

use proptest::prelude::*;
use serde_json::{Value, json};
use sio_wire::codec::engine::{self, EnginePacket, Handshake};
use sio_wire::codec::socket::{Assembler, Packet, PacketKind};

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[^\u{0}]{0,12}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4).prop_map(|m| Value::Object(
                m.into_iter().filter(|(k, _)| k != "$binary").collect()
            )),
        ]
    })
}

fn engine_packet() -> impl Strategy<Value = EnginePacket> {
    prop_oneof![
        ("[a-zA-Z0-9_-]{1,20}", any::<u32>(), any::<u32>()).prop_map(|(sid, interval, timeout)| {
            EnginePacket::Open(Handshake {
                sid,
                upgrades: vec!["websocket".into()],
                ping_interval: u64::from(interval),
                ping_timeout: u64::from(timeout),
                max_payload: 1_000_000,
            })
        }),
        Just(EnginePacket::Close),
        "[^\u{1e}]{0,8}".prop_map(EnginePacket::Ping),
        "[^\u{1e}]{0,8}".prop_map(EnginePacket::Pong),
        "[^\u{1e}]{0,40}".prop_map(EnginePacket::Message),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(EnginePacket::Binary),
        Just(EnginePacket::Upgrade),
        Just(EnginePacket::Noop),
    ]
}

fn namespace() -> impl Strategy<Value = String> {
    prop_oneof![Just("/".to_owned()), "/[a-z0-9_-]{1,10}"]
}

fn socket_packet() -> impl Strategy<Value = Packet> {
    let args = || prop::collection::vec(json_value(), 0..4);
    let binaries = || prop::collection::vec(prop::collection::vec(any::<u8>(), 0..16), 0..3);
    prop_oneof![
        (
            namespace(),
            prop::option::of(prop::collection::btree_map(
                "[a-z]{1,5}",
                json_value(),
                0..3
            ))
        )
            .prop_map(|(nsp, auth)| Packet::connect(
                &nsp,
                auth.map(|m| Value::Object(m.into_iter().collect()))
            )),
        namespace().prop_map(|nsp| Packet::disconnect(&nsp)),
        (
            namespace(),
            "[a-z:]{1,12}".prop_map(String::from),
            args(),
            prop::option::of(0u64..1_000_000),
            binaries()
        )
            .prop_map(
                |(nsp, name, mut args, id, bins): (
                    String,
                    String,
                    Vec<Value>,
                    Option<u64>,
                    Vec<Vec<u8>>
                )| {
                    args.extend(bins.iter().map(|b| json!({"$binary": base64_encode(b)})));
                    Packet::event(&nsp, &name, &args, id).expect("valid event")
                }
            ),
        (namespace(), args(), 0u64..1_000_000, binaries()).prop_map(|(nsp, mut args, id, bins)| {
            args.extend(bins.iter().map(|b| json!({"$binary": base64_encode(b)})));
            Packet::ack(&nsp, id, &args).expect("valid ack")
        }),
        (namespace(), "[^\"\\\\]{0,20}".prop_map(String::from)).prop_map(
            |(nsp, message): (String, String)| Packet {
                kind: PacketKind::ConnectError,
                nsp,
                id: None,
                data: Some(json!({ "message": message })),
                attachments: Vec::new(),
            }
        ),
    ]
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

proptest! {
    #[test]
    fn engine_packets_round_trip(packet in engine_packet()) {
        prop_assert_eq!(EnginePacket::decode_text(&packet.encode_text()), Ok(packet.clone()));
        prop_assert_eq!(EnginePacket::decode_frame(packet.to_frame()), Ok(packet));
    }

    #[test]
    fn polling_payloads_round_trip(packets in prop::collection::vec(engine_packet(), 1..6)) {
        prop_assert_eq!(engine::decode_payload(&engine::encode_payload(&packets)), Ok(packets));
    }

    #[test]
    fn socket_packets_round_trip_through_the_assembler(packet in socket_packet()) {
        let mut assembler = Assembler::default();
        let mut decoded = assembler.text(&packet.encode());
        for attachment in &packet.attachments {
            prop_assert_eq!(&decoded, &Ok(None));
            decoded = assembler.binary(attachment.clone());
        }
        prop_assert_eq!(decoded, Ok(Some(packet)));
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,64}") {
        let _ = EnginePacket::decode_text(&text);
        let _ = engine::decode_payload(&text);
        let _ = Packet::decode_header(&text);
    }

    #[test]
    fn packet_like_text_never_panics(text in "[0-6b][0-9]{0,3}-?/?[a-z]{0,3},?[0-9]{0,25}[\\[\\]{}\",:a-z0-9]{0,20}") {
        let _ = EnginePacket::decode_text(&text);
        let _ = Packet::decode_header(&text);
        let mut assembler = Assembler::default();
        if assembler.text(&text).is_ok() {
            let _ = assembler.binary(vec![1, 2, 3]);
        }
    }
}
