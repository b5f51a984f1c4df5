#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration (including the real-Dovecot suites)
# and doc tests. On a fresh machine, run as root, it first installs what the suites need.
set -euo pipefail
cd "$(dirname "$0")/.."

if { ! command -v dovecot >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; } \
  && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Dovecot (dovecot-core, dovecot-pop3d) and openssl for the real-server and certificate suites..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-core dovecot-pop3d openssl >/dev/null
fi

cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
