#!/usr/bin/env python3
"""Python's poplib as the baseline of the comparison bench (pop3-multi/benches/compare.rs).

Stdlib only. Logs in with USER/PASS over implicit TLS (trusting CA_FILE), then, in
lockstep as poplib always works:
  list   LIST, then TOP n 0 for every message (what a header listing needs; the headers
         are not even parsed, which only flatters poplib);
  fetch  LIST, then RETR n for every message, each written to MAILDIR/tmp, fsynced and
         renamed into MAILDIR/new (the durability our Maildir store gives), and new/
         fsynced once at the end.
With CONNECTIONS > 1 the messages are split between that many threads, each with its own
connection (the "multi-connection mode" of commercial libraries, done by hand).

Prints "SECONDS MESSAGES": the wall time from before the first connection to after the
last QUIT, and how many messages were listed or stored.

usage: poplib_bench.py HOST PORT CA_FILE USER PASSWORD list|fetch CONNECTIONS [MAILDIR]
"""

import os
import poplib
import ssl
import sys
import threading
import time


def connect(host, port, context, user, password):
    conn = poplib.POP3_SSL(host, port, context=context, timeout=300)
    conn.user(user)
    conn.pass_(password)
    return conn


def numbers(conn):
    """Message numbers from LIST."""
    _, lines, _ = conn.list()
    return [int(line.split()[0]) for line in lines]


def work(host, port, context, user, password, mode, maildir, index, shares, done, errors):
    try:
        conn = connect(host, port, context, user, password)
        mine = numbers(conn)[index::shares]
        count = 0
        if mode == "list":
            for n in mine:
                conn.top(n, 0)
                count += 1
        else:
            tmp = os.path.join(maildir, "tmp")
            new = os.path.join(maildir, "new")
            pid = os.getpid()
            for n in mine:
                _, lines, _ = conn.retr(n)
                name = "%d.P%dT%dN%d.poplib" % (int(time.time()), pid, index, n)
                path = os.path.join(tmp, name)
                with open(path, "wb") as f:
                    f.write(b"\n".join(lines) + b"\n")
                    f.flush()
                    os.fsync(f.fileno())
                os.rename(path, os.path.join(new, name))
                count += 1
            fd = os.open(new, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        conn.quit()
        done[index] = count
    except Exception as e:  # reported by the main thread
        errors.append("connection %d: %r" % (index, e))


def main(argv):
    if len(argv) not in (8, 9):
        sys.exit(__doc__)
    host, port, ca_file, user, password, mode, connections = argv[1:8]
    maildir = argv[8] if len(argv) == 9 else None
    port, connections = int(port), int(connections)
    if mode not in ("list", "fetch") or connections < 1 or (mode == "fetch" and not maildir):
        sys.exit(__doc__)
    if maildir:
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(maildir, sub), exist_ok=True)
    done = [0] * connections
    errors = []
    started = time.monotonic()
    context = ssl.create_default_context(cafile=ca_file)
    args = (host, port, context, user, password, mode, maildir)
    if connections == 1:
        work(*args, 0, 1, done, errors)
    else:
        threads = [
            threading.Thread(target=work, args=args + (i, connections, done, errors))
            for i in range(connections)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    elapsed = time.monotonic() - started
    if errors:
        sys.exit("poplib_bench: " + "; ".join(errors))
    print("%.6f %d" % (elapsed, sum(done)))


if __name__ == "__main__":
    main(sys.argv)
