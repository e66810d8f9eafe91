//! Packet encode and decode, as the load generator does them for every frame.

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use sio_wire::codec::engine::EnginePacket;
use sio_wire::codec::socket::{Assembler, Packet};

fn codec(c: &mut Criterion) {
    let statuses = json!([[
        {"service": "jellyfin", "status": "up", "responseTime": 42, "lastCheck": "2026-01-01T00:00:00.000Z", "uptime": 99.9},
        {"service": "plex", "status": "up", "responseTime": 57, "lastCheck": "2026-01-01T00:00:00.000Z", "uptime": 99.5},
        {"service": "sonarr", "status": "degraded", "responseTime": 830, "lastCheck": "2026-01-01T00:00:00.000Z", "uptime": 97.25}
    ]]);
    let args = statuses.as_array().cloned().unwrap_or_default();
    let event = Packet::event("/", "status:current", &args, None).expect("encodes");
    let frame = EnginePacket::Message(event.encode()).encode_text();

    c.bench_function("encode status:current", |b| {
        b.iter(|| {
            EnginePacket::Message(
                Packet::event("/", "status:current", &args, None)
                    .expect("encodes")
                    .encode(),
            )
            .encode_text()
        })
    });
    c.bench_function("decode status:current", |b| {
        b.iter(|| {
            let Ok(EnginePacket::Message(text)) = EnginePacket::decode_text(&frame) else {
                panic!("message")
            };
            Assembler::default().text(&text).expect("decodes")
        })
    });
    let binary = Packet::event(
        "/",
        "blob",
        &[json!({"$binary": "AAECAwQFBgcICQ=="})],
        Some(7),
    )
    .expect("encodes");
    c.bench_function("binary event round trip", |b| {
        b.iter(|| {
            let mut assembler = Assembler::default();
            assembler.text(&binary.encode()).expect("header");
            assembler
                .binary(binary.attachments[0].clone())
                .expect("attachment")
        })
    });
}

criterion_group!(benches, codec);
criterion_main!(benches);
