#!/usr/bin/env bash
# Reconnect storms, fan-out and churn, Rust server against the Node original, in one run; the
# all-at-once storm also on PostgreSQL (a throwaway cluster from scripts/pg.sh, or the server
# TEST_DATABASE_URL names), so the real database's cost is measured, and storm and fan-out on two
# nodes sharing a redis-server the harness starts (Rust, Node, and one of each).
# Each target runs the same measurements ROUNDS times (alternating, so drift hits both); the
# table gives medians and the Rust/Node ratios. Loopback only; every server is launched by the
# harness on a free port and stopped by its pid.
#
#   bash benches/compare.sh [CLIENTS] [REPEATS]      (defaults: 10000 clients, 3 repeats)
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-10000}
repeats=${2:-3}
out=target/bench-compare
mkdir -p "$out"

cargo build --release -q -p realtime-server -p sio-harness -p realtime-benches --bins
(cd node-original && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run -s build)

# Each side needs a file descriptor per connection, and the listen queue decides the storm's tail.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(cat /proc/sys/net/core/somaxconn)" -lt 65535 ]; then
  sysctl -qw net.core.somaxconn=65535 2>/dev/null || echo "note: net.core.somaxconn stays $(cat /proc/sys/net/core/somaxconn)"
fi
sysctl -qw net.ipv4.tcp_max_syn_backlog=65535 2>/dev/null || true

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  pg_dir=$(mktemp -d)
  trap 'bash scripts/pg.sh stop "$pg_dir"; rm -rf "$pg_dir"' EXIT
  TEST_DATABASE_URL=$(bash scripts/pg.sh start "$pg_dir")
  export TEST_DATABASE_URL
fi

harness=${CARGO_TARGET_DIR:-target}/release/sio-harness
# The dashboard's flow (sign in, subscribe on connect, ready on status:current; fan-out by status
# updates) as a load profile: every mode below speaks it.
profile=benches/dashboard.profile.yaml
run() { # target kind repeat args...
  local target=$1 kind=$2 i=$3; shift 3
  "$harness" "$kind" --profile "$profile" --target "$target" --targets-file benches/targets.yaml --json "$@" > "$out/$kind-$target-$i.json" \
    || echo "warning: $kind against $target reported failures (see $out/$kind-$target-$i.json)"
}
spread_run() { # the same storm, reconnects spread over about a second by the client's jitter
  "$harness" storm --profile "$profile" --target "$1" --targets-file benches/targets.yaml --json --clients "$clients" --rounds 1 \
    --spread-ms 1000 > "$out/spread-$1-$2.json" || echo "warning: spread storm against $1 reported failures"
}
restart_run() { # the server restarts under its clients; they come back with the official back-off
  "$harness" storm --profile "$profile" --target "$1" --targets-file benches/targets.yaml --json --clients "$clients" --rounds 1 \
    --cause restart --spread-ms 1000 > "$out/restart-$1-$2.json" || echo "warning: restart storm against $1 reported failures"
}
for i in $(seq 1 "$repeats"); do
  for target in rust node; do
    echo "repeat $i: $target" >&2
    run "$target" storm "$i" --clients "$clients" --rounds 1
    spread_run "$target" "$i"
    restart_run "$target" "$i"
    run "$target" fanout "$i" --clients "$clients" --messages 20
    run "$target-pg" storm "$i" --clients "$clients" --rounds 1
    # Two nodes sharing a redis-server (and PostgreSQL), the clients spread over both.
    run "$target-cluster" storm "$i" --clients "$clients" --rounds 1 --nodes 2
    run "$target-cluster" fanout "$i" --clients "$clients" --messages 20 --nodes 2
  done
  # The same two nodes mixed: a Node original node and a Rust node speaking
  # @socket.io/redis-adapter's protocol (docs/migration.md).
  echo "repeat $i: mixed-cluster" >&2
  run mixed-cluster storm "$i" --clients "$clients" --rounds 1 --nodes 2
  run mixed-cluster fanout "$i" --clients "$clients" --messages 20 --nodes 2
done
python3 benches/summarise.py "$out" "$clients" "$repeats"
# The first repeat's storms, all at once and spread, as a chart of clients back over time and of
# reconnect latency.
"${CARGO_TARGET_DIR:-target}/release/storm-plot" "$out/storm.svg" \
  "$out"/storm-rust-1.json "$out"/storm-node-1.json "$out"/spread-rust-1.json "$out"/spread-node-1.json
echo "chart: $out/storm.svg"

# Churn: short connections at a steady rate, each mode of leaving, memory followed every second
# and while idling after; one run each (a minute apiece), then a chart.
churn_rate=${CHURN_RATE:-500}
churn_seconds=${CHURN_SECONDS:-60}
for target in rust node; do
  for mode in clean drop malformed open-only; do
    echo "churn: $target $mode" >&2
    "$harness" churn --profile "$profile" --target "$target" --targets-file benches/targets.yaml --json --clients 1000 \
      --rate "$churn_rate" --duration-s "$churn_seconds" --idle-s 20 --mode "$mode" > "$out/churn-$target-$mode.json" \
      || echo "warning: churn $mode against $target reported failures (see $out/churn-$target-$mode.json)"
  done
done
python3 benches/summarise.py --churn "$out"
"${CARGO_TARGET_DIR:-target}/release/churn-plot" "$out/churn.svg" "$out"/churn-*-clean.json "$out"/churn-*-open-only.json
echo "chart: $out/churn.svg"

