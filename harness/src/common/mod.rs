//! What several modes share, so that no mode imports another: the [`control`] client timed
//! while the fuzzer or `exhaust` works, the [`metrics`] every mode reads from `/proc` and
//! summarises latencies with, and the load [`users`] the load modes, the fuzzer and `exhaust`
//! sign in as.

pub mod control;
pub mod metrics;
pub mod users;
