//! The bytes on Redis: notepack's msgpack (broadcasts, type 7 and 9 messages) and JSON (the
//! other requests and responses), and their translation to and from socketioxide's packets.
//!
//! socketioxide holds an event's arguments as the JSON text its common parser writes, with
//! binary attachments beside it (`{"_placeholder":true,"num":n}` in the text). The Node adapter
//! sends them as one msgpack array with binaries inline as msgpack `bin`; [`to_msgpack`] and
//! [`from_msgpack`] convert between the two, so binary crosses in both directions.

use std::collections::VecDeque;

use bytes::Bytes;
use rmpv::Value as Msg;
use serde_json::Value as Json;
use socketioxide_core::Value;
use socketioxide_core::adapter::{BroadcastFlags, BroadcastOptions, Room};
use socketioxide_core::packet::{Packet, PacketData};

/// socket.io-parser's EVENT: the Node adapter always sends this type, binary or not (a BINARY_EVENT
/// with inline binaries makes Node clients disconnect with "parse error").
const EVENT: i64 = 2;
/// msgpack's Timestamp extension, which notepack uses for a JS `Date`.
const TIMESTAMP_EXT: i8 = -1;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("not msgpack: {0}")]
    Msgpack(String),
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unexpected shape: {0}")]
    Shape(&'static str),
    #[error("binary-encoded (msgpack parser) payloads are not supported on this adapter")]
    BinaryParser,
}

/// Reads msgpack or JSON as the Node adapter does: JSON when the first byte is `{`.
pub fn decode_any(bytes: &[u8]) -> Result<Msg, WireError> {
    if bytes.first() == Some(&b'{') {
        let json: Json = serde_json::from_slice(bytes)?;
        Ok(json_to_msgpack(&json, &VecDeque::new()))
    } else {
        decode_msgpack(bytes)
    }
}

/// One msgpack value and nothing after it.
pub fn decode_msgpack(bytes: &[u8]) -> Result<Msg, WireError> {
    let mut reader = bytes;
    let value = rmpv::decode::read_value(&mut reader)
        .map_err(|error| WireError::Msgpack(error.to_string()))?;
    if reader.is_empty() {
        Ok(value)
    } else {
        Err(WireError::Msgpack(format!(
            "{} trailing bytes",
            reader.len()
        )))
    }
}

pub fn encode_msgpack(value: &Msg) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut bytes, value);
    bytes
}

/// A field of a msgpack map (Node's objects), by name.
pub fn field<'a>(map: &'a Msg, name: &str) -> Option<&'a Msg> {
    map.as_map()?
        .iter()
        .find(|(key, _)| key.as_str() == Some(name))
        .map(|(_, value)| value)
}

/// A msgpack map from named fields, in the given order (notepack keeps JS insertion order).
pub fn map(fields: impl IntoIterator<Item = (&'static str, Msg)>) -> Msg {
    Msg::Map(
        fields
            .into_iter()
            .map(|(key, value)| (Msg::from(key), value))
            .collect(),
    )
}

/// An event's `[name, ...args]` as msgpack, from socketioxide's packet value.
pub fn to_msgpack(value: &Value) -> Result<Msg, WireError> {
    match value {
        Value::Str(text, binaries) => {
            let json: Json = serde_json::from_str(text.as_str())?;
            Ok(json_to_msgpack(
                &json,
                binaries.as_ref().unwrap_or(&VecDeque::new()),
            ))
        }
        Value::Bytes(_) => Err(WireError::BinaryParser),
    }
}

/// socketioxide's packet value for a msgpack array (an event's `[name, ...args]`, or acks).
pub fn from_msgpack(value: &Msg) -> Value {
    let mut binaries = VecDeque::new();
    let json = msgpack_to_json(value, &mut binaries);
    let text = json.to_string();
    Value::Str(text.into(), (!binaries.is_empty()).then_some(binaries))
}

/// The event packet socketioxide sends to local sockets for the Node adapter's `packet.data`.
pub fn event_packet(ns: &str, data: &Msg) -> Result<Packet, WireError> {
    if !data.is_array() {
        return Err(WireError::Shape("packet.data is not an array"));
    }
    let value = from_msgpack(data);
    let binary = matches!(&value, Value::Str(_, Some(_)));
    let inner = if binary {
        PacketData::BinaryEvent(value, None)
    } else {
        PacketData::Event(value, None)
    };
    Ok(Packet {
        inner,
        ns: ns.to_owned().into(),
    })
}

/// The Node adapter's `packet`: `{type: 2, data, nsp}`.
pub fn wire_packet(packet: &Packet) -> Result<Msg, WireError> {
    let data = match &packet.inner {
        PacketData::Event(value, _) | PacketData::BinaryEvent(value, _) => to_msgpack(value)?,
        _ => return Err(WireError::Shape("only events are broadcast")),
    };
    Ok(map([
        ("type", Msg::from(EVENT)),
        ("data", data),
        ("nsp", Msg::from(packet.ns.as_str())),
    ]))
}

/// `{rooms, except, flags}` as the Node adapter sends them, from socketioxide's options.
/// socket.io puts the sender in `except` where socketioxide names it in `sid`, and a socket
/// addressed alone is the room named after its id.
pub fn wire_options(opts: &BroadcastOptions, timeout_ms: Option<u64>) -> Msg {
    let mut rooms: Vec<Msg> = opts.rooms.iter().map(|room| Msg::from(&**room)).collect();
    let mut except: Vec<Msg> = opts.except.iter().map(|room| Msg::from(&**room)).collect();
    if let Some(sid) = opts.sid {
        if opts.has_flag(BroadcastFlags::Broadcast) {
            except.push(Msg::from(sid.as_str()));
        } else if rooms.is_empty() {
            rooms.push(Msg::from(sid.as_str()));
        }
    }
    let mut flags = Vec::new();
    if opts.has_flag(BroadcastFlags::Volatile) {
        flags.push(("volatile", Msg::Boolean(true)));
    }
    if let Some(timeout) = timeout_ms {
        flags.push(("timeout", Msg::from(timeout)));
    }
    map([
        ("rooms", Msg::Array(rooms)),
        ("except", Msg::Array(except)),
        ("flags", map(flags)),
    ])
}

/// socketioxide's options for the Node adapter's `{rooms, except, flags}`: every local socket
/// in one of `rooms` (all of them when empty) and in none of `except`.
pub fn local_options(opts: Option<&Msg>) -> BroadcastOptions {
    let mut local = BroadcastOptions::default();
    local.add_flag(BroadcastFlags::Broadcast);
    let Some(opts) = opts else {
        return local;
    };
    local.rooms = room_list(field(opts, "rooms")).into_iter().collect();
    local.except = room_list(field(opts, "except")).into_iter().collect();
    if field(opts, "flags")
        .and_then(|flags| field(flags, "volatile"))
        .and_then(Msg::as_bool)
        == Some(true)
    {
        local.add_flag(BroadcastFlags::Volatile);
    }
    local
}

/// Room names from a list of strings or numbers (`io.to(42)` sends a number), or one of them.
pub fn room_list(value: Option<&Msg>) -> Vec<Room> {
    let room = |value: &Msg| match value {
        Msg::String(text) => text.as_str().map(|text| Room::Owned(text.to_owned())),
        Msg::Integer(number) => Some(Room::Owned(number.to_string())),
        _ => None,
    };
    match value {
        Some(Msg::Array(items)) => items.iter().filter_map(room).collect(),
        Some(single) => room(single).into_iter().collect(),
        None => Vec::new(),
    }
}

/// JSON to msgpack as notepack would encode the same JS value: an integral number as an
/// integer, socketioxide's binary placeholders as `bin`.
fn json_to_msgpack(json: &Json, binaries: &VecDeque<Bytes>) -> Msg {
    match json {
        Json::Null => Msg::Nil,
        Json::Bool(flag) => Msg::Boolean(*flag),
        Json::Number(number) => {
            if let Some(integer) = number.as_i64() {
                Msg::from(integer)
            } else if let Some(integer) = number.as_u64() {
                Msg::from(integer)
            } else {
                let float = number.as_f64().unwrap_or(f64::NAN);
                if float.fract() == 0.0 && float.abs() < 9_007_199_254_740_992.0 {
                    Msg::from(float as i64)
                } else {
                    Msg::F64(float)
                }
            }
        }
        Json::String(text) => Msg::from(text.as_str()),
        Json::Array(items) => Msg::Array(
            items
                .iter()
                .map(|item| json_to_msgpack(item, binaries))
                .collect(),
        ),
        Json::Object(object) => {
            if let Some(binary) = placeholder(object).and_then(|num| binaries.get(num)) {
                return Msg::Binary(binary.to_vec());
            }
            Msg::Map(
                object
                    .iter()
                    .map(|(key, value)| (Msg::from(key.as_str()), json_to_msgpack(value, binaries)))
                    .collect(),
            )
        }
    }
}

fn placeholder(object: &serde_json::Map<String, Json>) -> Option<usize> {
    if object.len() == 2 && object.get("_placeholder") == Some(&Json::Bool(true)) {
        object.get("num")?.as_u64().map(|num| num as usize)
    } else {
        None
    }
}

/// msgpack to JSON as a Node client would see the value: `bin` as an attachment (in order, as
/// socket.io-parser numbers them), a Timestamp as its ISO string (a `Date` in JSON), a number
/// that is not finite as `null`.
fn msgpack_to_json(value: &Msg, binaries: &mut VecDeque<Bytes>) -> Json {
    match value {
        Msg::Nil => Json::Null,
        Msg::Boolean(flag) => Json::Bool(*flag),
        Msg::Integer(integer) => integer
            .as_i64()
            .map(Json::from)
            .or_else(|| integer.as_u64().map(Json::from))
            .unwrap_or(Json::Null),
        Msg::F32(float) => float_json(f64::from(*float)),
        Msg::F64(float) => float_json(*float),
        Msg::String(text) => Json::String(text.as_str().unwrap_or_default().to_owned()),
        Msg::Binary(bytes) => {
            let num = binaries.len();
            binaries.push_back(Bytes::copy_from_slice(bytes));
            serde_json::json!({ "_placeholder": true, "num": num })
        }
        Msg::Array(items) => Json::Array(
            items
                .iter()
                .map(|item| msgpack_to_json(item, binaries))
                .collect(),
        ),
        Msg::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(key, value)| (map_key(key), msgpack_to_json(value, binaries)))
                .collect(),
        ),
        Msg::Ext(TIMESTAMP_EXT, bytes) => timestamp(bytes).map_or(Json::Null, Json::String),
        Msg::Ext(..) => Json::Null,
    }
}

fn float_json(float: f64) -> Json {
    serde_json::Number::from_f64(float).map_or(Json::Null, Json::Number)
}

fn map_key(key: &Msg) -> String {
    match key {
        Msg::String(text) => text.as_str().unwrap_or_default().to_owned(),
        other => other.to_string(),
    }
}

/// msgpack's Timestamp (32, 64 or 96 bits) as JSON.stringify writes a `Date`.
fn timestamp(bytes: &[u8]) -> Option<String> {
    let (seconds, nanos) = match bytes.len() {
        4 => (i64::from(u32::from_be_bytes(bytes.try_into().ok()?)), 0),
        8 => {
            let packed = u64::from_be_bytes(bytes.try_into().ok()?);
            ((packed & 0x3_ffff_ffff) as i64, (packed >> 34) as u32)
        }
        12 => (
            i64::from_be_bytes(bytes[4..].try_into().ok()?),
            u32::from_be_bytes(bytes[..4].try_into().ok()?),
        ),
        _ => return None,
    };
    let time = chrono::DateTime::from_timestamp(seconds, nanos)?;
    Some(
        time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes node B published for `admin:refresh-status` (node-redis-adapter-wire.md §3).
    const NODE_BROADCAST: &str = "93a655725678686883a47479706502a46461746191b17374617475733a72656672657368696e67a36e7370a12f83a5726f6f6d7391ae7374617475732d75706461746573a665786365707490a5666c61677380";

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&text[at..at + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn a_captured_node_broadcast_decodes_to_its_event_and_rooms() {
        let message = decode_msgpack(&hex(NODE_BROADCAST)).expect("msgpack");
        let parts = message.as_array().expect("array");
        assert_eq!(parts[0].as_str(), Some("UrVxhh"));
        let packet = event_packet("/", field(&parts[1], "data").expect("data")).expect("event");
        match packet.inner {
            PacketData::Event(Value::Str(text, None), None) => {
                assert_eq!(text.as_str(), r#"["status:refreshing"]"#)
            }
            other => panic!("{other:?}"),
        }
        let opts = local_options(Some(&parts[2]));
        assert_eq!(opts.rooms.as_slice(), ["status-updates"]);
        assert!(opts.except.is_empty());
        assert!(opts.has_flag(BroadcastFlags::Broadcast));
    }

    #[test]
    fn our_broadcast_is_byte_for_byte_what_node_sends() {
        let packet = Packet {
            inner: PacketData::Event(Value::Str(r#"["status:refreshing"]"#.into(), None), None),
            ns: "/".into(),
        };
        let mut opts = BroadcastOptions::default();
        opts.rooms.push("status-updates".into());
        let message = Msg::Array(vec![
            Msg::from("UrVxhh"),
            wire_packet(&packet).expect("event"),
            wire_options(&opts, None),
        ]);
        assert_eq!(encode_msgpack(&message), hex(NODE_BROADCAST));
    }

    #[test]
    fn binaries_numbers_and_dates_cross_as_node_encodes_them() {
        let value = Value::Str(
            r#"["bin",{"_placeholder":true,"num":0},{"n":{"_placeholder":true,"num":1}},1.0,1.5]"#
                .into(),
            Some(VecDeque::from([
                Bytes::from_static(&[1, 2, 3]),
                Bytes::from_static(b"hi"),
            ])),
        );
        let msg = to_msgpack(&value).expect("converts");
        let bytes = encode_msgpack(&msg);
        // notepack: c4 03 010203, then {n: c4 02 "hi"}, 1 as an int, 1.5 as float64.
        assert!(bytes.windows(5).any(|w| w == [0xc4, 3, 1, 2, 3]));
        assert!(bytes.ends_with(&[0x01, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]));
        // Back as JS would write it: 1.0 is the integer 1.
        match from_msgpack(&msg) {
            Value::Str(text, Some(binaries)) => {
                assert_eq!(
                    text.as_str(),
                    r#"["bin",{"_placeholder":true,"num":0},{"n":{"_placeholder":true,"num":1}},1,1.5]"#
                );
                assert_eq!(binaries, [&[1u8, 2, 3][..], b"hi"]);
            }
            other => panic!("{other:?}"),
        }

        // A Date from Node (Timestamp 64: 2026-01-02T03:04:05.678Z).
        let nanos: u64 = 678_000_000;
        let seconds: u64 = 1_767_323_045;
        let date = Msg::Ext(
            TIMESTAMP_EXT,
            ((nanos << 34) | seconds).to_be_bytes().to_vec(),
        );
        match from_msgpack(&Msg::Array(vec![date])) {
            Value::Str(text, None) => assert_eq!(text.as_str(), r#"["2026-01-02T03:04:05.678Z"]"#),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rooms_may_be_numbers_and_a_lone_socket_is_its_own_room() {
        let opts = local_options(Some(&map([
            ("rooms", Msg::Array(vec![Msg::from(42), Msg::from("a")])),
            ("except", Msg::from("b")),
        ])));
        assert_eq!(opts.rooms.as_slice(), ["42", "a"]);
        assert_eq!(opts.except.as_slice(), ["b"]);

        let sid = socketioxide_core::Sid::new();
        let sent = wire_options(&BroadcastOptions::new(sid), Some(1000));
        assert_eq!(room_list(field(&sent, "rooms")), [sid.to_string()]);
        let mut broadcast = BroadcastOptions::new(sid);
        broadcast.add_flag(BroadcastFlags::Broadcast);
        let sent = wire_options(&broadcast, None);
        assert_eq!(room_list(field(&sent, "except")), [sid.to_string()]);
        assert!(room_list(field(&sent, "rooms")).is_empty());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_msgpack(b"not msgpack at all").is_err());
        assert!(decode_any(b"{bad json").is_err());
        assert!(event_packet("/", &Msg::from(3)).is_err());
    }
}
