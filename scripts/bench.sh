#!/usr/bin/env bash
# The comparison benchmark of issue 8 (pop3-multi/benches/compare.rs): our modes beside
# Python's poplib and mpop, against Dovecot and TestServer, behind a 20 ms round trip and
# on bare loopback. Installs python3 and mpop when missing (apt-get, as root), then runs
# `cargo bench -p pop3-multi --bench compare`. Dovecot's rows need root (Dovecot switches
# users) and Dovecot itself (scripts/test.sh installs it); without them those rows are
# skipped with a notice. Environment: CONNECTIONS, MESSAGES, RUNS, BENCH_DIR (see the
# bench's documentation). Takes several minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v mpop >/dev/null 2>&1 || missing+=(mpop)
command -v dovecot >/dev/null 2>&1 || missing+=(dovecot-core dovecot-pop3d)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} for the comparison bench..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "bench.sh: ${missing[*]} missing; install them (Debian: apt-get install ${missing[*]})" >&2
    echo "bench.sh: or run this script as root to have it install them; going on without them" >&2
  fi
fi

exec cargo bench -p pop3-multi --bench compare
