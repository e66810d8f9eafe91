#!/usr/bin/env bash
# Installs the Debian packages the test command's stages need, only what is missing (running it
# again changes nothing). `bash scripts/setup.sh [GROUP...]`, no group: all of them.
#
#   toolchain   a C compiler, make, python3 (better-sqlite3 builds from source when no prebuilt
#               binary fits), OpenSSL's headers (rust_socketio, the server tests' independent
#               Rust client, builds native-tls against them) and groff (man pages, rendered in
#               the harness's tests)
#   node        node and npm (the Node original, the dashboard page, the chat example)
#   cluster     redis-server and HAProxy (tests and the cluster suites start their own on free
#               loopback ports)
#   postgresql  PostgreSQL's binaries (scripts/pg.sh runs a throwaway cluster of its own)
#   chromium    Debian's Chromium and a font (Playwright's own browser download cannot be
#               reached from here)
#   systemd     systemd-analyze, which checks deploy/realtime-server.service (the server's
#               deploy tests; Debian ships it in the package systemd)
#   prometheus  Debian's Prometheus server, which the metrics test starts on a free loopback
#               port to scrape both servers (server/tests/integration/prometheus.rs); only the
#               binary is used, its packaged service is never started here
#   mutants     PyYAML for scripts/mutants.py (the mutants stage; not in the default groups)
set -euo pipefail

updated=
install() {
  if [[ -z $updated ]]; then
    apt-get update -qq
    updated=1
  fi
  apt-get install -y -qq "$@"
}

need_toolchain() {
  if ! command -v cc >/dev/null || ! command -v make >/dev/null || ! command -v python3 >/dev/null; then
    install build-essential python3
  fi
  if ! pkg-config --exists openssl 2>/dev/null; then
    install libssl-dev pkg-config
  fi
  # groff renders the harness's man pages in its tests (harness/tests/cli.rs).
  if ! command -v groff >/dev/null; then
    install groff-base
  fi
  cargo --version
}

need_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    install nodejs npm
  fi
  node --version
}

need_cluster() {
  if ! command -v redis-server >/dev/null || [[ ! -x /usr/sbin/haproxy ]]; then
    install redis-server haproxy
  fi
}

need_postgresql() {
  if ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || ! command -v psql >/dev/null; then
    install postgresql
  fi
}

need_chromium() {
  if ! command -v chromium >/dev/null || ! dpkg -s fonts-dejavu-core >/dev/null 2>&1; then
    install chromium fonts-dejavu-core
  fi
}

need_prometheus() {
  if [[ ! -x /usr/bin/prometheus ]]; then
    install --no-install-recommends prometheus
    # On a host run by systemd the package starts its own Prometheus on :9090; the tests start
    # theirs on free loopback ports, so the packaged one is stopped and left disabled.
    if [[ -d /run/systemd/system ]]; then
      systemctl disable --now prometheus
    fi
  fi
}

need_mutants() {
  if ! python3 -c 'import yaml' 2>/dev/null; then
    install python3-yaml
  fi
}

need_systemd() {
  if ! command -v systemd-analyze >/dev/null; then
    install systemd
  fi
}

groups=("$@")
[[ ${#groups[@]} -gt 0 ]] || groups=(toolchain node cluster postgresql chromium systemd prometheus)
for group in "${groups[@]}"; do
  case $group in
    toolchain | node | cluster | postgresql | chromium | systemd | prometheus | mutants) "need_$group" ;;
    *)
      echo "setup.sh: unknown group '$group' (toolchain, node, cluster, postgresql, chromium, systemd, prometheus, mutants)" >&2
      exit 2
      ;;
  esac
done
