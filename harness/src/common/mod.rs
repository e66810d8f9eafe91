//! What several modes share, so that no mode imports another: the [`virtual_client`]s of a load
//! profile (what every client shares, and each one's values rendered once), the [`preflight`]
//! every load mode runs first (one virtual client until it is ready, so another app is told
//! apart from a broken server before any load), the [`control`] client timed while the fuzzer or
//! `exhaust` works, the [`metrics`] every mode reads from `/proc` and summarises latencies with,
//! and this repository's load [`users`] as SQL (`load-users`).

pub mod control;
pub mod metrics;
pub mod preflight;
pub mod users;
pub mod virtual_client;
