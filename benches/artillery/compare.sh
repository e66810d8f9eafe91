#!/usr/bin/env bash
# The load generator's own cost, sio-harness `churn` against Artillery 2.0.34's socketio engine,
# on one flow and one running server: CLIENTS connections at RATE a second, each signs in with its
# own token, emits `subscribe:status`, waits for the pushed `status:current`, stays 1 s and leaves.
# Each tool runs under /usr/bin/time; the table gives its CPU per connection, its peak memory,
# how many clients finished, and the time to the pushed answer as each tool reports it.
# Loopback only; the release server is started here on a free port and stopped by its pid.
#
#   bash benches/artillery/compare.sh [CLIENTS] [RATE] [REPEATS]   (defaults: 2000 200 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
clients=${1:-2000}
rate=${2:-200}
repeats=${3:-3}
seconds=$((clients / rate))
[ "$seconds" -ge 1 ] || { echo "CLIENTS must be at least RATE" >&2; exit 2; }

cargo build --release -q -p realtime-server -p sio-harness
bin=${CARGO_TARGET_DIR:-target}/release
(cd node-original && { [ -d node_modules ] || npm ci --no-audit --no-fund; })
# Artillery's dependencies include Playwright, whose browser download cannot reach its host here
# and is not needed by the socketio engine.
(cd benches/artillery && { [ -d node_modules ] || PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund; })
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
JWT_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n')
export JWT_SECRET PORT=$port HOST=127.0.0.1 NODE_ENV=production RUST_LOG=warn
export DATABASE_URL="sqlite://$work/realtime.db"
"$bin/realtime-server" db seed scenarios/fixtures.sql >/dev/null
"$bin/sio-harness" load-users "$clients" >"$work/users.sql"
"$bin/realtime-server" db seed "$work/users.sql" >/dev/null
node benches/artillery/tokens.js "$clients" <<<"$JWT_SECRET" >"$work/tokens.csv"
"$bin/realtime-server" serve >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done

# Artillery reads its phase and payload from the flow file; this run's figures go into a copy.
sed -e "s/duration: 10/duration: $seconds/; s/arrivalRate: 200/arrivalRate: $rate/" \
  -e "s|path: tokens.csv|path: $work/tokens.csv|" benches/artillery/flow.yml >"$work/flow.yml"
cat >"$work/targets.yaml" <<'EOF'
targets:
  running:
    url: "http://127.0.0.1:{env:PORT}"
    secret: "{env:JWT_SECRET}"
EOF

timed() { # name repeat command...: the command's CPU seconds and peak RSS into $work/NAME-REPEAT.time
  local name=$1 i=$2; shift 2
  /usr/bin/time -f '%U %S %M' -o "$work/$name-$i.time" "$@" >"$work/$name-$i.out" 2>"$work/$name-$i.err" \
    || echo "warning: $name run $i exited non-zero (see $work/$name-$i.err)" >&2
}
for i in $(seq 1 "$repeats"); do
  echo "repeat $i: sio-harness churn" >&2
  timed harness "$i" "$bin/sio-harness" churn --target running --targets-file "$work/targets.yaml" \
    --profile benches/artillery/flow.profile.yaml \
    --clients "$clients" --rate "$rate" --duration-s "$seconds" --hold-ms 1000 --idle-s 0 --json
  echo "repeat $i: artillery" >&2
  timed artillery "$i" benches/artillery/node_modules/.bin/artillery run --quiet \
    -o "$work/artillery-$i.json" "$work/flow.yml"
done
python3 benches/artillery/summarise.py "$work" "$clients" "$repeats"
