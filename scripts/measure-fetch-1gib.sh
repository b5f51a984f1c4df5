#!/usr/bin/env bash
# Peak memory of `pop3 fetch` streaming one 1 GiB message from a real Dovecot (another
# process, implicit TLS on loopback) into each format: --eml-dir, --maildir, --mbox. Needs
# Dovecot (root). Prints /usr/bin/time -v's peak RSS, the elapsed time and the stored size
# per format. The destinations go to a temporary directory on the disk (DEST_DIR to
# choose), removed after each run; an mbox needs twice the message size while it runs
# (its spool, then the append).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE="${1:-1073741824}"
cargo build --release -q -p pop3-testkit --example dovecot_big_message
cargo build --release -q -p pop3-cli --bin pop3
work=$(mktemp -d "${DEST_DIR:-${TMPDIR:-/tmp}}/pop3-fetch-1gib.XXXXXX")
fifo="$work/server.in"; mkfifo "$fifo"
target/release/examples/dovecot_big_message "$SIZE" < "$fifo" > "$work/server.out" &
server=$!
exec 3>"$fifo"   # holds the server's stdin open
cleanup() { exec 3>&- || true; wait "$server" || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 1 600); do [ -s "$work/server.out" ] && break; sleep 0.5; done
read -r port ca < "$work/server.out"
printf '%-10s %14s %10s %16s\n' format "peak RSS (KiB)" elapsed "stored (bytes)"
for format in eml-dir maildir mbox; do
  dest="$work/dest-$format"
  POP3_PASSWORD=secret /usr/bin/time -v -o "$work/time" target/release/pop3 \
    --host 127.0.0.1 --port "$port" --ca-file "$ca" --user alice \
    fetch "--$format" "$dest" 2> "$work/stderr" || { cat "$work/stderr" "$work/time"; exit 1; }
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time")
  elapsed=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time")
  case "$format" in
    eml-dir) stored=$(find "$dest" -name '*.eml' -printf '%s\n') ;;
    maildir) stored=$(find "$dest/new" -type f -printf '%s\n') ;;
    mbox) stored=$(stat -c %s "$dest") ;;
  esac
  printf '%-10s %14s %10s %16s\n' "$format" "$rss" "$elapsed" "$stored"
  grep -v '^fetched 1 messages' "$work/stderr" || true
  rm -rf "$dest" "$dest.pop3-uidl"
done
