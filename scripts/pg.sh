#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests, the one mechanism the test command and the Rust tests
# share.
#
#   scripts/pg.sh start DIR        initdb in DIR (first time), start on a free loopback port,
#                                  print the server's URL (postgres://postgres@127.0.0.1:PORT,
#                                  no database: callers append /NAME). A restart keeps the port.
#   scripts/pg.sh stop DIR         stop the cluster by the pid in its postmaster.pid (fast
#                                  shutdown: open connections are cut), wait until it is gone
#   scripts/pg.sh createdb URL NAME  (re)create database NAME on the server at URL, empty
#
# initdb and postgres refuse to run as root; as root they run as the system user `pgtest`
# (created if missing), and DIR is handed to that user. Trust authentication, loopback only.
set -euo pipefail

usage() { echo "usage: $0 start DIR | stop DIR | createdb URL NAME" >&2; exit 2; }

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$dir" && -x "$dir/postgres" ]] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
  echo "$dir"
}

# Runs a command as the cluster's owner.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u pgtest -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  local dir=$1 bin data port
  bin=$(pg_bin)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  data="$dir/data"
  if [[ $(id -u) -eq 0 ]]; then
    id pgtest >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin pgtest
    chown pgtest "$dir"
  fi
  if [[ ! -f "$data/PG_VERSION" ]]; then
    as_owner "$bin/initdb" --pgdata="$data" --username=postgres --auth=trust \
      --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  # A restart keeps its port, so URLs handed out before stay valid.
  [[ -f "$dir/port" ]] || free_port >"$dir/port"
  port=$(cat "$dir/port")
  as_owner "$bin/pg_ctl" --pgdata="$data" --log="$dir/server.log" --wait --timeout=60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$dir' -c fsync=off -c max_connections=300" \
    start >/dev/null || { tail -n 20 "$dir/server.log" >&2; exit 1; }
  echo "postgres://postgres@127.0.0.1:$port"
}

stop() {
  local dir=$1 pid
  [[ -f "$dir/data/postmaster.pid" ]] || return 0
  pid=$(head -n 1 "$dir/data/postmaster.pid")
  kill -INT "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "PostgreSQL (pid $pid) did not stop in 30 s" >&2
  exit 1
}

createdb() {
  local url=$1 name=$2
  [[ -n "$url" ]] || { echo "no PostgreSQL server URL (is TEST_DATABASE_URL set? scripts/pg.sh start DIR prints one)" >&2; exit 2; }
  [[ "$name" =~ ^[a-z0-9_]+$ ]] || { echo "database name must be [a-z0-9_]+: $name" >&2; exit 2; }
  PGOPTIONS="-c client_min_messages=warning" psql --quiet --no-psqlrc --set=ON_ERROR_STOP=1 "$url/postgres" \
    -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name" >/dev/null
}

case "${1:-}" in
  start) [[ $# -eq 2 ]] || usage; start "$2" ;;
  stop) [[ $# -eq 2 ]] || usage; stop "$2" ;;
  createdb) [[ $# -eq 3 ]] || usage; createdb "$2" "$3" ;;
  *) usage ;;
esac
