//! What several modes share, so that no mode imports another: the [`control`] client timed
//! while the fuzzer or `exhaust` works, the [`metrics`] every mode reads from `/proc` and
//! summarises latencies with, the load [`users`] the load modes, the fuzzer and `exhaust`
//! sign in as, and the [`preflight`] every one of them runs first: one client through the
//! flow they speak, so another app is told apart from a broken server before any load.

pub mod control;
pub mod metrics;
pub mod preflight;
pub mod users;
pub mod virtual_client;
