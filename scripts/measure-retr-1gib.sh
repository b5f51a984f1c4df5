#!/usr/bin/env bash
# Peak memory of the blocking client streaming a 1 GiB message from a real Dovecot to
# /dev/null (retr_to). Needs Dovecot (root). Prints /usr/bin/time -v's peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE="${1:-1073741824}"
cargo build --release -q -p pop3-testkit --example dovecot_big_message
cargo build --release -q -p pop3-sync --example retr
fifo=$(mktemp -u); mkfifo "$fifo"
target/release/examples/dovecot_big_message "$SIZE" < "$fifo" > "$fifo.out" &
server=$!
exec 3>"$fifo"   # holds the server's stdin open
for _ in $(seq 1 600); do [ -s "$fifo.out" ] && break; sleep 0.5; done
read -r port ca < "$fifo.out"
POP3_PASSWORD=secret /usr/bin/time -v target/release/examples/retr 127.0.0.1 "$port" alice 1 "$ca" \
  > /dev/null 2> "$fifo.time"
grep -E "retrieved|Maximum resident set size|Elapsed" "$fifo.time"
exec 3>&-
wait "$server"
rm -f "$fifo" "$fifo.out" "$fifo.time"
