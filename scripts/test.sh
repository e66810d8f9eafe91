#!/usr/bin/env bash
# The test command (see README.md): `bash scripts/test.sh [STAGE...]`. With no stage it runs all
# of them in this order, as CI does:
#
#   lint      formatting, and clippy with warnings as errors
#   unit      the cargo tests: server (SQLite, PostgreSQL, clusters with redis-server, a real
#             Prometheus scraping both servers' /metrics), wire client (also against the official
#             Node socket.io), harness
#   suites    the Engine.IO and Socket.IO protocol conformance suites (conformance/) on the
#             official Node servers and on engineioxide/socketioxide as this workspace builds
#             them; `cargo install` of the harness into a temporary root; the scenario suites: both
#             servers on SQLite and on PostgreSQL, the cluster suite (two nodes of each server, and
#             a mixed Node + Rust cluster; redis-server, their own PostgreSQL, HAProxy; Redis and
#             database outages), a rolling migration from Node to Rust and back, the Uptime
#             Kuma feed's suite, the chat and market examples (official socket.io 4.8), URL targets
#             with hooks and {{run.id}}, `init`, and the diff of the Node original against the Rust port
#   browsers  the Node original's node:test (the browser SocketClient against both servers), the
#             dashboard page in Chromium against both servers, the harness's HTML reports opened
#             in Chromium, and a dashboard session recorded by `sio-harness record`, replayed green
#   flake     every scenario run several times on each server, the runs compared (--repeat)
#   load      a smoke run of the load mode (storm, fanout, churn; single servers and clusters)
#   fuzz      protocol fuzzing on each server, differential fuzzing of the two
#
# Not part of the default run (heavy: run it before a release, `bash scripts/test.sh mutants`):
#
#   mutants   mutation testing (docs/mutation.md): the hand-written mutants of mutants/node.yaml
#             and mutants/rust.yaml, each applied alone and the scenario suite run against it;
#             fails when a mutant survives. MUTANTS_SIDES=node or rust runs one side only.
#
# Each stage installs what it needs (scripts/setup.sh: only what is missing), builds the binaries
# it runs and starts the services it needs. Every server is started on a free loopback port by the
# test or the harness and stopped by its pid; so is the throwaway PostgreSQL cluster
# (scripts/pg.sh), also on failure. The last lines tally whatever ran: the counted cargo tests,
# scenario runs and fuzz runs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin=${CARGO_TARGET_DIR:-target}/debug
stages=(lint unit suites browsers flake load fuzz)
extra_stages=(mutants)

step() { printf '\n==> %s\n' "$*"; }

# ---- what stages share, each done at most once a run ----------------------------------------

# The tally: cargo tests passed and failed, JUnit reports whose test cases are scenario runs,
# fuzz runs.
rust_tests="0 0"
counted_reports=()
fuzz_runs=0

setup() { bash scripts/setup.sh "$@"; }

pg_dir=
stop_postgresql() {
  if [[ -n $pg_dir ]]; then
    bash "$root/scripts/pg.sh" stop "$pg_dir"
    rm -rf "$pg_dir"
  fi
}
trap stop_postgresql EXIT
start_postgresql() {
  [[ -z $pg_dir ]] || return 0
  setup postgresql
  step "PostgreSQL: a throwaway cluster in a temporary directory (scripts/pg.sh)"
  pg_dir=$(mktemp -d)
  # A server URL without a database: tests and the -pg targets create their own databases on it.
  TEST_DATABASE_URL=$(bash scripts/pg.sh start "$pg_dir")
  export TEST_DATABASE_URL SIO_REQUIRE_PG=1
  echo "PostgreSQL at $TEST_DATABASE_URL"
}

node_original_ready=
node_original() {
  [[ -z $node_original_ready ]] || return 0
  setup toolchain node
  step "Node original: npm ci and tsc (strict)"
  (cd node-original && npm ci --no-audit --no-fund && npm run build)
  node -e "require('$root/node-original/node_modules/better-sqlite3')(':memory:').prepare('select 1').get()" \
    || { echo "better-sqlite3's native module did not build"; exit 1; }
  # Installed: the tests that need it must not skip.
  export SIO_REQUIRE_NODE=1
  node_original_ready=1
}

binaries_built=
build_binaries() {
  [[ -z $binaries_built ]] || return 0
  setup toolchain
  step "build: realtime-server and sio-harness"
  cargo build --quiet -p realtime-server -p sio-harness
  binaries_built=1
}

# The Uptime Kuma suites' fake Kuma, an example of the server crate (wiremock); a no-op once
# `cargo test` has built it.
build_fake_kuma() { cargo build -q -p realtime-server --example fake_kuma; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 200); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "no answer from $1"; return 1; }

# ---- stages ---------------------------------------------------------------------------------

stage_lint() {
  setup toolchain
  step "format and lint"
  cargo fmt --all -- --check
  cargo clippy --workspace --all-targets --quiet -- -D warnings
}

stage_unit() {
  setup toolchain cluster systemd prometheus
  # Installed: the metrics test must not skip.
  export SIO_REQUIRE_PROMETHEUS=1
  start_postgresql
  node_original
  step "Rust tests (server, wire client, harness; the client also against the official Node socket.io)"
  cargo build --workspace --quiet
  binaries_built=1
  cargo test --workspace --quiet 2>&1 | tee target/cargo-test.log
  rust_tests=$(grep -E '^test result:' target/cargo-test.log | awk '{p+=$4; f+=$6} END {print p" "f}')
}

stage_suites() {
  setup toolchain cluster
  start_postgresql
  node_original
  build_binaries
  step "protocol conformance: Engine.IO v4 and Socket.IO v5 suites (conformance/) on the official engine.io 6.6 / socket.io 4.8, then on conformance-server"
  # Our own node:test suites checking what the upstream engine.io-protocol and socket.io-protocol
  # test suites check (docs/compatibility.md); conformance-server is engineioxide and socketioxide
  # as socketioxide's e2e servers configure them, built on this workspace's dependency graph, so
  # the patched vendor/ crates are what is tested. Each server runs on a free loopback port and
  # is stopped by its pid (run.mjs).
  cargo build --quiet -p protocol-conformance
  (cd conformance/suites && npm ci --no-audit --no-fund)
  node conformance/suites/run.mjs --bin "$bin/conformance-server"
  step "cargo install --locked --path harness: a working sio-harness in a temporary root"
  # --debug with this target directory reuses the build above (seconds, not a release build).
  (
    install_root=$(mktemp -d)
    trap 'rm -rf "$install_root"' EXIT
    CARGO_TARGET_DIR=$(realpath "${CARGO_TARGET_DIR:-target}") \
      cargo install --debug --locked --quiet --path harness --root "$install_root"
    "$install_root/bin/sio-harness" --version
    "$install_root/bin/sio-harness" check scenarios/transports.yaml
  )
  step "scenario suite against the Rust server"
  "$bin/sio-harness" run --target rust --report-junit target/scenarios-rust.xml
  step "scenario suite against the Node original"
  "$bin/sio-harness" run --target node --report-junit target/scenarios-node.xml
  step "scenario suite against the Rust server on PostgreSQL"
  "$bin/sio-harness" run --target rust-pg --report-junit target/scenarios-rust-pg.xml
  step "scenario suite against the Node original on PostgreSQL"
  "$bin/sio-harness" run --target node-pg --report-junit target/scenarios-node-pg.xml
  step "cluster suite: two nodes of each server, one redis-server, one PostgreSQL, HAProxy (scenarios/cluster)"
  # The harness starts its own redis-server, PostgreSQL (initdb in a temporary directory: a
  # database outage stops it) and HAProxy per scenario on free loopback ports and stops them by
  # pid; deploy/haproxy.cfg is the config it runs.
  "$bin/sio-harness" run --target rust-cluster scenarios/cluster --report-junit target/scenarios-rust-cluster.xml
  "$bin/sio-harness" run --target node-cluster scenarios/cluster --report-junit target/scenarios-node-cluster.xml
  step "mixed cluster: node a the Node original, node b the Rust server (REDIS_ADAPTER=socket.io), the same suite and snapshots"
  "$bin/sio-harness" run --target mixed-cluster scenarios/cluster --report-junit target/scenarios-mixed-cluster.xml
  step "rolling migration: two Node nodes replaced by Rust nodes one at a time and back, broadcasts counted (scenarios/migration)"
  "$bin/sio-harness" run --target node-cluster scenarios/migration --report-junit target/scenarios-migration.xml
  step "Uptime Kuma feed suite: the Rust server and a fake Kuma launched beside it (scenarios/kuma)"
  # The Node original has no feed.
  build_fake_kuma
  "$bin/sio-harness" run --target rust-kuma scenarios/kuma --report-junit target/scenarios-rust-kuma.xml
  counted_reports+=(target/scenarios-{rust,node,rust-pg,node-pg,rust-cluster,node-cluster,mixed-cluster,migration,rust-kuma}.xml)
  step "diff: Node original against Rust port"
  "$bin/sio-harness" diff --target node --target rust

  # URL targets, hooks, {{run.id}}, init, and an app that is not ours. Token attacks need nothing
  # here: scenarios/token-attacks.yaml is part of the suite above. Servers started here run on
  # free loopback ports and are stopped by their pids, also on failure.
  local chat=(--targets-file examples/chat/scenarios/targets.yaml --snapshots examples/chat/snapshots examples/chat/scenarios)
  step "chat example (official socket.io 4.8): npm ci, its suite on a server launched per scenario"
  (cd examples/chat && npm ci --no-audit --no-fund)
  "$bin/sio-harness" run --target chat "${chat[@]}" --report-junit target/scenarios-chat.xml
  step "market example (official socket.io 4.8, path /rt/, namespace /market, JWT scopes): npm ci, its suite"
  (cd examples/market && npm ci --no-audit --no-fund)
  "$bin/sio-harness" run --target market --targets-file examples/market/scenarios/targets.yaml \
    --snapshots examples/market/snapshots examples/market/scenarios --report-junit target/scenarios-market.xml
  (
    chat_port=$(free_port)
    CHAT_TEST_RESET=1 PORT=$chat_port node examples/chat/server.js > target/chat-url.log 2>&1 &
    chat_pid=$!
    trap 'kill "$chat_pid" 2>/dev/null || true' EXIT
    wait_http "http://127.0.0.1:$chat_port/health"
    step "URL target with a reset hook: the same suite and snapshots against one chat server started here"
    CHAT_PORT=$chat_port "$bin/sio-harness" run --target chat-url "${chat[@]}" --report-junit target/scenarios-chat-url.xml
    "$bin/sio-harness" run --target "http://127.0.0.1:$chat_port" --reset 'POST /test/reset' "${chat[@]}"
    step "init: the starter folder refuses to overwrite, and runs green against the chat server"
    starter=$(mktemp -d)/starter
    "$bin/sio-harness" init "$starter"
    if "$bin/sio-harness" init "$starter" 2>/dev/null; then echo "init overwrote $starter"; exit 1; fi
    "$bin/sio-harness" run --target "http://127.0.0.1:$chat_port" --snapshots "$starter/snapshots" --update "$starter"
    "$bin/sio-harness" run --target "http://127.0.0.1:$chat_port" --snapshots "$starter/snapshots" "$starter"
  )
  (
    step "URL target with {{run.id}}: the Rust server started here, shared by scenarios/shared, twice"
    rust_port=$(free_port)
    rust_dir=$(mktemp -d)
    secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
    export PORT=$rust_port HOST=127.0.0.1 JWT_SECRET=$secret DATABASE_URL="sqlite://$rust_dir/realtime.db" \
      RATE_LIMIT_EVENTS=5 RATE_LIMIT_WINDOW_MS=2000 PING_INTERVAL_MS=1000 PING_TIMEOUT_MS=1000
    "$bin/realtime-server" db seed scenarios/fixtures.sql
    "$bin/realtime-server" serve > target/rust-url.log 2>&1 &
    rust_pid=$!
    trap 'kill "$rust_pid" 2>/dev/null || true; rm -rf "$rust_dir"' EXIT
    wait_http "http://127.0.0.1:$rust_port/health"
    # The second run finds the first one's notifications in the database: they must not matter.
    for pass in 1 2; do
      "$bin/sio-harness" run --target "http://127.0.0.1:$rust_port" scenarios/shared --report-junit "target/scenarios-shared-$pass.xml"
      sleep 2 # a full rate-limit window: the budgets are per fixture user, shared by both passes
    done
  )
}

stage_browsers() {
  setup toolchain cluster chromium
  node_original
  build_binaries
  step "Node original: node:test (the browser SocketClient against both servers)"
  (cd node-original && npm test 2>&1 | tee "$root/target/node-test.log")

  step "dashboard page: type check, committed build up to date, browser tests in Chromium against both servers"
  # Playwright drives Debian's Chromium; its own browser download cannot be reached from here.
  (cd page && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund && npm run check \
    && npx playwright test 2>&1 | tee "$root/target/page-test.log")

  step "record: the dashboard in Chromium through sio-harness record, replayed green"
  # The unit stage's cargo tests skip this one unless page/ and Chromium were installed already.
  SIO_REQUIRE_BROWSER=1 cargo test -p sio-harness --test record --quiet a_browser_session

  step "harness HTML report: a run and a diff report from real runs, opened in Chromium"
  # page/report-tests: the harness launches the servers itself; Chromium and page/'s npm packages
  # come from the dashboard step above.
  (SIO_HARNESS=$(realpath "$bin/sio-harness") && export SIO_HARNESS && cd page \
    && npx playwright test -c report.config.ts 2>&1 | tee "$root/target/report-test.log")
}

stage_flake() {
  setup toolchain cluster
  start_postgresql
  node_original
  build_binaries
  build_fake_kuma
  step "flake hunt: every scenario 5 times on each server, two at a time; no transcript may differ"
  "$bin/sio-harness" run --target rust --repeat 5 --jobs 2 --report-junit target/repeat-rust.xml
  "$bin/sio-harness" run --target node --repeat 5 --jobs 2 --report-junit target/repeat-node.xml
  # Cluster scenarios 3 times (each launch is two nodes, redis, PostgreSQL and HAProxy; one
  # freezes redis 10 s).
  "$bin/sio-harness" run --target rust-cluster scenarios/cluster --repeat 3 --jobs 2 --report-junit target/repeat-rust-cluster.xml
  "$bin/sio-harness" run --target node-cluster scenarios/cluster --repeat 3 --jobs 2 --report-junit target/repeat-node-cluster.xml
  "$bin/sio-harness" run --target mixed-cluster scenarios/cluster --repeat 3 --jobs 2 --report-junit target/repeat-mixed-cluster.xml
  # The rolling migration (about 25 s a run: four node swaps under a broadcaster), 3 times.
  "$bin/sio-harness" run --target node-cluster scenarios/migration --repeat 3 --jobs 2 --report-junit target/repeat-migration.xml
  "$bin/sio-harness" run --target rust-kuma scenarios/kuma --repeat 5 --jobs 2 --report-junit target/repeat-rust-kuma.xml
  # Quotes stamped with Date.now(), matched with $integer or redacted: 20 runs, 8 at a time, alike.
  (cd examples/market && npm ci --no-audit --no-fund)
  "$bin/sio-harness" run --target market --targets-file examples/market/scenarios/targets.yaml \
    --snapshots examples/market/snapshots examples/market/scenarios/{quotes,reconnect}.yaml \
    --repeat 20 --jobs 8 --report-junit target/repeat-market.xml
  counted_reports+=(target/repeat-{rust,node,rust-cluster,node-cluster,mixed-cluster,migration,rust-kuma,market}.xml)
}

stage_load() {
  setup toolchain cluster
  # The benches' cluster targets keep their data in PostgreSQL.
  start_postgresql
  node_original
  build_binaries
  local dashboard=(--profile benches/dashboard.profile.yaml)
  step "load mode smoke test (a few clients, loopback)"
  "$bin/sio-harness" storm "${dashboard[@]}" --target rust --clients 50 --rounds 1
  "$bin/sio-harness" fanout "${dashboard[@]}" --target rust --clients 50 --messages 5
  for mode in clean open-only; do
    "$bin/sio-harness" churn "${dashboard[@]}" --target rust --clients 50 --rate 50 --duration-s 2 --idle-s 1 --mode "$mode"
  done
  # Clients spread over two nodes of each server sharing Redis (the benches' cluster targets).
  for target in rust-cluster node-cluster; do
    "$bin/sio-harness" storm "${dashboard[@]}" --target "$target" --targets-file benches/targets.yaml --nodes 2 --clients 50 --rounds 1
    "$bin/sio-harness" fanout "${dashboard[@]}" --target "$target" --targets-file benches/targets.yaml --nodes 2 --clients 50 --messages 5
  done
  step "load profiles: storm, fan-out and churn against the chat example (official socket.io 4.8), from its profile"
  (cd examples/chat && npm ci --no-audit --no-fund)
  local chat=(--profile examples/chat/load.profile.yaml --target chat --targets-file examples/chat/scenarios/targets.yaml --json)
  load_check "chat storm: all 200 back" 'r["clients"] == 200 and r["rounds"][0]["not_back"] == 0' \
    storm "${chat[@]}" --clients 200 --rounds 1
  load_check "chat fan-out: 10 messages to 200 subscribers, none lost" \
    'r["clients"] == 200 and r["messages"] == 10 and r["lost"] == 0 and r["latency_ms"]["max"] > 0' \
    fanout "${chat[@]}" --clients 200 --messages 10
  # The profile's phases: a ramp, then a steady rate, about 10 s and 400 connections.
  load_check "chat churn: every connection of the profile's phases finished" \
    'r["started"] >= 350 and r["completed"] == r["started"] and r["skipped"] == 0 and not r["failures"]' \
    churn "${chat[@]}" --clients 200 --idle-s 1
}

# Runs `sio-harness ARGS` (a load mode with --json) and checks its summary: CONDITION is Python
# over the parsed report `r`; a failing mode fails through its exit code first.
load_check() { # description condition args...
  local what=$1 condition=$2 report
  shift 2
  report=$("$bin/sio-harness" "$@")
  if ! python3 -c "import json, sys
r = json.load(sys.stdin)
assert $condition, {k: v for k, v in r.items() if k != 'samples'}" <<<"$report"; then
    echo "load check failed: $what" >&2
    return 1
  fi
  echo "ok: $what"
}

stage_fuzz() {
  setup toolchain
  node_original
  build_binaries
  # A short seeded run on each server: valid and mutated frames over websocket and long-polling,
  # a control client timed throughout; fails (with a reproducer in target/fuzz-failures) if the
  # server exits, panics or stops answering. The full 100 000-frame runs: docs/reliability.md.
  step "protocol fuzzing: a short seeded run on each server"
  for fuzz_target in rust node; do
    "$bin/sio-harness" fuzz --profile benches/dashboard.profile.yaml --target "$fuzz_target" --seed 16 --frames 20000 --settle-s 3 \
      --save target/fuzz-failures
    fuzz_runs=$((fuzz_runs + 1))
  done

  # 300 seeded event sequences (users and tokens, rooms, reads, admin refresh, HTTP pushes, cuts)
  # run on both servers, 50 per launch; fails on a transcript difference not declared in
  # scenarios/differential/known.yaml, with each one shrunk to a scenario in
  # target/differential-failures (`sio-harness diff --target node --target rust FILE` replays it).
  step "differential fuzzing: 300 sequences on node and rust"
  "$bin/sio-harness" fuzz --target node --target rust --seed 16 --sequences 300 \
    --known scenarios/differential/known.yaml --save target/differential-failures
  fuzz_runs=$((fuzz_runs + 1))
}

stage_mutants() {
  setup toolchain mutants
  node_original
  build_binaries
  local side status=0
  for side in ${MUTANTS_SIDES:-node rust}; do
    step "mutation testing, $side: each mutant of mutants/$side.yaml against the scenario suite"
    nice -n 10 python3 scripts/mutants.py --side "$side" --report "target/mutants-$side.json" || status=1
  done
  return "$status"
}

# ---- the run --------------------------------------------------------------------------------

selected=("$@")
[[ ${#selected[@]} -gt 0 ]] || selected=("${stages[@]}")
for stage in "${selected[@]}"; do
  if [[ " ${stages[*]} ${extra_stages[*]} " != *" $stage "* ]]; then
    echo "unknown stage '$stage'; the stages: ${stages[*]} ${extra_stages[*]}" >&2
    exit 2
  fi
done
mkdir -p target
for stage in "${selected[@]}"; do
  "stage_$stage"
done

read -r passed failed <<<"$rust_tests"
scenarios=0
if [[ ${#counted_reports[@]} -gt 0 ]]; then
  scenarios=$(grep -cH '<testcase' "${counted_reports[@]}" | awk -F: '{s+=$2} END {print s}')
fi
echo
echo "rust tests: ${passed} passed, ${failed} failed; scenario runs: ${scenarios} on two servers, two databases"
echo "test: $((passed + scenarios + fuzz_runs)) passed, ${failed} failed"
