//! The requests and responses of `@socket.io/redis-adapter` 8.x (`lib/index.ts`, `RequestType`):
//! their numbers, channels and the JSON shapes its nodes send and expect.

use rand::Rng;
use rand::distr::Alphanumeric;
use rmpv::Value as Msg;
use serde_json::{Value as Json, json};

use super::wire::{WireError, decode_any, field};

/// `RequestType` in the adapter's `lib/index.ts`.
pub mod kind {
    pub const SOCKETS: u64 = 0;
    pub const ALL_ROOMS: u64 = 1;
    pub const REMOTE_JOIN: u64 = 2;
    pub const REMOTE_LEAVE: u64 = 3;
    pub const REMOTE_DISCONNECT: u64 = 4;
    pub const REMOTE_FETCH: u64 = 5;
    pub const SERVER_SIDE_EMIT: u64 = 6;
    pub const BROADCAST: u64 = 7;
    pub const BROADCAST_CLIENT_COUNT: u64 = 8;
    pub const BROADCAST_ACK: u64 = 9;
}

/// The adapter's default key.
const PREFIX: &str = "socket.io";

/// The channels of one namespace.
pub struct Channels {
    /// `socket.io#<nsp>#`; a broadcast to one room goes to `<this><room>#`.
    pub broadcast: String,
    /// `socket.io#<nsp>#*`, the pattern every node listens to.
    pub broadcast_pattern: String,
    /// `socket.io-request#<nsp>#`; its subscriber count is the number of nodes.
    pub request: String,
    /// `socket.io-response#<nsp>#`, where every response goes by default.
    pub response: String,
    /// `socket.io-response#<nsp>#<uid>#`, used by nodes set to `publishOnSpecificResponseChannel`.
    pub own_response: String,
}

impl Channels {
    pub fn new(nsp: &str, uid: &str) -> Self {
        let broadcast = format!("{PREFIX}#{nsp}#");
        Self {
            broadcast_pattern: format!("{broadcast}*"),
            broadcast,
            request: format!("{PREFIX}-request#{nsp}#"),
            response: format!("{PREFIX}-response#{nsp}#"),
            own_response: format!("{PREFIX}-response#{nsp}#{uid}#"),
        }
    }

    /// Where a broadcast to `rooms` goes: the room's own channel when there is exactly one.
    pub fn broadcast_to(&self, rooms: &[impl AsRef<str>]) -> String {
        match rooms {
            [room] => format!("{}{}#", self.broadcast, room.as_ref()),
            _ => self.broadcast.clone(),
        }
    }

    /// The room a broadcast channel names, `None` for the namespace's own channel.
    pub fn room_of<'a>(&self, channel: &'a str) -> Option<&'a str> {
        let rest = channel.strip_prefix(&self.broadcast)?;
        rest.strip_suffix('#').filter(|room| !room.is_empty())
    }
}

/// A node's and a request's id as the adapter makes them (`uid2(6)`): six characters of
/// `A-Za-z0-9`, a subset of its alphabet.
pub fn short_id() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(6)
        .map(char::from)
        .collect()
}

/// A request read from `socket.io-request#<nsp>#` (JSON, or msgpack for type 7).
pub struct Request {
    pub uid: String,
    pub request_id: Option<String>,
    pub kind: u64,
    /// The whole message, for the fields of its kind.
    pub body: Msg,
}

impl Request {
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let body = decode_any(bytes)?;
        let kind = field(&body, "type")
            .and_then(Msg::as_u64)
            .ok_or(WireError::Shape("request without a type"))?;
        let uid = field(&body, "uid")
            .and_then(Msg::as_str)
            .unwrap_or_default()
            .to_owned();
        let request_id = field(&body, "requestId")
            .and_then(Msg::as_str)
            .map(str::to_owned);
        Ok(Self {
            uid,
            request_id,
            kind,
            body,
        })
    }

    pub fn field(&self, name: &str) -> Option<&Msg> {
        field(&self.body, name)
    }
}

/// A JSON request as the adapter's requesters write it: `{uid, requestId, type, ...fields}`.
pub fn request(uid: &str, request_id: Option<&str>, kind: u64, fields: Json) -> Vec<u8> {
    let mut message = serde_json::Map::new();
    message.insert("uid".into(), json!(uid));
    if let Some(request_id) = request_id {
        message.insert("requestId".into(), json!(request_id));
    }
    message.insert("type".into(), json!(kind));
    if let Json::Object(fields) = fields {
        message.extend(fields);
    }
    Json::Object(message).to_string().into_bytes()
}

/// A socket in a fetchSockets (type 5) reply, in the shape socket.io's `RemoteSocket` reads.
/// Nothing of the handshake crosses: Node sends its headers and `auth` (the client's token),
/// which must not travel through Redis; `data` is socket.io's, which socketioxide has not.
pub fn fetched_socket(id: &str, rooms: &[String]) -> Json {
    json!({
        "id": id,
        "handshake": {
            "headers": {}, "time": "", "address": "", "xdomain": false, "secure": false,
            "issued": 0, "url": "", "query": {}, "auth": {}
        },
        "rooms": rooms,
        "data": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_named_as_the_node_adapter_names_them() {
        let channels = Channels::new("/", "ndEbRC");
        assert_eq!(channels.broadcast_pattern, "socket.io#/#*");
        assert_eq!(channels.request, "socket.io-request#/#");
        assert_eq!(channels.response, "socket.io-response#/#");
        assert_eq!(channels.own_response, "socket.io-response#/#ndEbRC#");
        assert_eq!(
            channels.broadcast_to(&["status-updates"]),
            "socket.io#/#status-updates#"
        );
        assert_eq!(channels.broadcast_to(&["a", "b"]), "socket.io#/#");
        assert_eq!(channels.broadcast_to(&[] as &[&str]), "socket.io#/#");
        assert_eq!(
            channels.room_of("socket.io#/#user:user-2#"),
            Some("user:user-2")
        );
        assert_eq!(channels.room_of("socket.io#/#"), None);
        assert_eq!(channels.room_of("socket.io#/probe#x#"), None);
    }

    #[test]
    fn a_captured_node_request_is_read_whole() {
        let captured =
            br#"{"uid":"QSQKvG","requestId":"O0STT3","type":5,"opts":{"rooms":[],"except":[]}}"#;
        let request = Request::decode(captured).expect("decodes");
        assert_eq!(request.uid, "QSQKvG");
        assert_eq!(request.request_id.as_deref(), Some("O0STT3"));
        assert_eq!(request.kind, kind::REMOTE_FETCH);
        assert!(request.field("opts").is_some());
        assert!(Request::decode(br#"{"uid":"x"}"#).is_err());
    }

    #[test]
    fn requests_carry_the_fields_node_requesters_send() {
        let bytes = request(
            "QSQKvG",
            Some("Ryh93I"),
            kind::ALL_ROOMS,
            Json::Object(Default::default()),
        );
        // Node reads JSON whatever its key order.
        let sent: Json = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(
            sent,
            json!({"uid": "QSQKvG", "requestId": "Ryh93I", "type": 1})
        );
        let id = short_id();
        assert_eq!(id.len(), 6);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
