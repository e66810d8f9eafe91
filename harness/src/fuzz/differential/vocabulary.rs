//! The seed's vocabulary as actions, and a seeded generator of action sequences.
//!
//! An action says what a client or an HTTP caller does, never what should come back: the
//! [`super::model`] decides that when it renders a sequence as a scenario, and leaves out an
//! action that makes no sense where it stands (a read from a client that was cut). So any
//! subsequence of a generated sequence is still a sequence the model can render, which is what
//! the shrinker needs.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Clients a sequence may connect, named `c0` … `c3`; each name is connected at most once.
pub const MAX_CLIENTS: usize = 4;

/// A fixture user, by what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// `admin-1`.
    Admin,
    /// `user-1`, who owns `n-alice-1` and `n-alice-2`.
    Alice,
    /// `user-2`, who owns `n-bob-1`.
    Bob,
    /// `user-3`, suspended.
    Carol,
}

/// The token a client signs in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Valid(Role),
    /// Alice's, expired an hour ago.
    Expired,
    /// Alice's, signed with another secret.
    WrongSecret,
    /// Well signed, for a user that does not exist.
    Ghost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    Status,
    Notifications,
}

/// A `notification:read` argument that is not a real id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidId {
    Number,
    Empty,
    Object,
    Missing,
}

/// What a `notification:read` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadTarget {
    /// One of the fixture notifications ([`super::model::FIXTURE_NOTIFICATIONS`]).
    Fixture(usize),
    /// The n-th notification this sequence created over HTTP.
    Created(usize),
    /// An id no notification has.
    Unknown,
    Invalid(InvalidId),
}

/// Who asks `POST /api/v1/notifications`, and for whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// The admin, for a fixture user: 201 and a `notification:new` to the user's subscribers.
    ForUser(Role),
    /// The admin, for a user that does not exist.
    ForGhost,
    /// Alice, who is not an admin.
    ByNonAdmin,
}

/// An HTTP request the API refuses with 400 (nothing stored, nothing pushed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadRequest {
    /// A notification with an empty title.
    EmptyTitle,
    /// A body that is not JSON (the servers' parsers word it differently: compatibility.md 16).
    MalformedJson,
    /// A status with a negative response time.
    NegativeResponseTime,
    /// A status with an uptime over 100.
    UptimeOver100,
    /// A notification without `message` (the Rust server answered with axum's rejection text
    /// until this fuzzer found it).
    MissingMessage,
    /// A notification with a field the API does not know (likewise).
    UnknownField,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Connect {
        client: usize,
        credential: Credential,
        polling: bool,
    },
    Subscribe {
        client: usize,
        room: Room,
    },
    Unsubscribe {
        client: usize,
        room: Room,
    },
    Read {
        client: usize,
        target: ReadTarget,
    },
    /// `admin:refresh-status`.
    Refresh {
        client: usize,
    },
    Push(Push),
    /// The admin's request the API refuses.
    BadRequest(BadRequest),
    /// `PUT /api/v1/status/{service}` by the admin.
    SetStatus {
        service: usize,
        status: usize,
    },
    /// The client's connection reset; it reconnects only after [`Action::Restore`].
    Cut {
        client: usize,
    },
    Restore {
        client: usize,
    },
    Disconnect {
        client: usize,
    },
}

impl Action {
    /// A short name of the action's kind, for reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Connect {
                credential: Credential::Valid(role),
                ..
            } if *role != Role::Carol => "connect",
            Action::Connect { .. } => "connect-refused",
            Action::Subscribe { .. } => "subscribe",
            Action::Unsubscribe { .. } => "unsubscribe",
            Action::Read {
                target: ReadTarget::Fixture(_) | ReadTarget::Created(_),
                ..
            } => "read",
            Action::Read { .. } => "read-invalid",
            Action::Refresh { .. } => "refresh",
            Action::Push(_) => "push",
            Action::SetStatus { .. } => "set-status",
            Action::BadRequest(_) => "bad-request",
            Action::Cut { .. } => "cut",
            Action::Restore { .. } => "restore",
            Action::Disconnect { .. } => "disconnect",
        }
    }
}

/// Fewest and most actions in a generated sequence.
const LENGTH: std::ops::RangeInclusive<usize> = 6..=18;

/// Sequence `index` of `seed`: the same pair always gives the same actions, and sequences of one
/// seed do not depend on each other (any one can be regenerated alone).
pub fn sequence(seed: u64, index: u64) -> Vec<Action> {
    // Distinct streams per index: the index spread by a 64-bit odd constant (golden ratio).
    let mut rng = StdRng::seed_from_u64(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let length = rng.random_range(LENGTH);
    let mut connected: Vec<usize> = Vec::new();
    let mut cut: Vec<usize> = Vec::new();
    let mut actions = Vec::with_capacity(length);
    while actions.len() < length {
        // Connect first, and more clients now and then; the rest act on connected ones.
        let wants_client =
            connected.len() < MAX_CLIENTS && (connected.is_empty() || rng.random_ratio(1, 6));
        if wants_client {
            let client = connected.len();
            connected.push(client);
            actions.push(Action::Connect {
                client,
                credential: credential(&mut rng),
                polling: rng.random_ratio(1, 4),
            });
            continue;
        }
        let client = connected[rng.random_range(0..connected.len())];
        let next = match action(&mut rng, client) {
            // A restore is for a client that was cut, when there is one.
            Action::Restore { .. } if !cut.is_empty() => Action::Restore {
                client: cut.swap_remove(rng.random_range(0..cut.len())),
            },
            other => other,
        };
        if let Action::Cut { client } = next {
            cut.push(client);
        }
        actions.push(next);
    }
    actions
}

fn credential(rng: &mut StdRng) -> Credential {
    match rng.random_range(0..12) {
        0..=2 => Credential::Valid(Role::Alice),
        3..=5 => Credential::Valid(Role::Bob),
        6..=7 => Credential::Valid(Role::Admin),
        8 => Credential::Valid(Role::Carol),
        9 => Credential::Expired,
        10 => Credential::WrongSecret,
        _ => Credential::Ghost,
    }
}

fn room(rng: &mut StdRng) -> Room {
    if rng.random_bool(0.5) {
        Room::Status
    } else {
        Room::Notifications
    }
}

fn action(rng: &mut StdRng, client: usize) -> Action {
    match rng.random_range(0..21) {
        0..=3 => Action::Subscribe {
            client,
            room: room(rng),
        },
        4..=5 => Action::Unsubscribe {
            client,
            room: room(rng),
        },
        6..=9 => Action::Read {
            client,
            target: match rng.random_range(0..8) {
                0..=2 => ReadTarget::Fixture(rng.random_range(0..3)),
                3..=4 => ReadTarget::Created(rng.random_range(0..3)),
                5 => ReadTarget::Unknown,
                6 => ReadTarget::Invalid(if rng.random_bool(0.5) {
                    InvalidId::Number
                } else {
                    InvalidId::Empty
                }),
                _ => ReadTarget::Invalid(if rng.random_bool(0.5) {
                    InvalidId::Object
                } else {
                    InvalidId::Missing
                }),
            },
        },
        10 => Action::Refresh { client },
        11..=13 => Action::Push(match rng.random_range(0..8) {
            0..=2 => Push::ForUser(Role::Alice),
            3..=4 => Push::ForUser(Role::Bob),
            5 => Push::ForUser(Role::Admin),
            6 => Push::ForGhost,
            _ => Push::ByNonAdmin,
        }),
        14..=15 => Action::SetStatus {
            service: rng.random_range(0..3),
            status: rng.random_range(0..3),
        },
        16 => Action::Cut { client },
        17..=18 => Action::Restore { client },
        19 => Action::BadRequest(match rng.random_range(0..6) {
            0 => BadRequest::EmptyTitle,
            1 => BadRequest::MalformedJson,
            2 => BadRequest::NegativeResponseTime,
            3 => BadRequest::UptimeOver100,
            4 => BadRequest::MissingMessage,
            _ => BadRequest::UnknownField,
        }),
        _ => Action::Disconnect { client },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_and_index_give_the_same_sequence() {
        for index in 0..50 {
            assert_eq!(sequence(7, index), sequence(7, index));
        }
    }

    #[test]
    fn other_seeds_and_indexes_give_other_sequences() {
        let first = sequence(7, 0);
        assert_ne!(first, sequence(8, 0));
        assert_ne!(first, sequence(7, 1));
    }

    #[test]
    fn sequences_start_by_connecting_and_stay_within_bounds() {
        for index in 0..200 {
            let actions = sequence(16, index);
            assert!(LENGTH.contains(&actions.len()), "{actions:?}");
            assert!(matches!(actions[0], Action::Connect { client: 0, .. }));
            let connects = actions
                .iter()
                .filter(|a| matches!(a, Action::Connect { .. }))
                .count();
            assert!(connects <= MAX_CLIENTS);
        }
    }
}
