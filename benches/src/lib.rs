//! Micro benchmarks of the hot paths (`benches/`: packet codec, JWT verify plus user lookup,
//! room broadcast). Reconnect storms and fan-out, Rust against Node, are run by `compare.sh`
//! through `sio-harness storm` and `sio-harness fanout`; see `docs/benchmarks.md`.
