#!/usr/bin/env python3
"""Writes the hand-made seed inputs in seeds/<target>/seed-*.

The server responses are real Dovecot 2.3.19 bytes (copied from a recorded session, see
the project's shared/dovecot/transcript.txt); SCRAM, CRAM-MD5 and APOP answers are
computed here so that the seeds reach the end of each exchange. Run from fuzz/:

    python3 seeds/make_seeds.py

Every seed starts with the header bytes its target documents (flags, method, chunk sizes).
The seeds of the `arbitrary`-driven client_server target are not written here: they are
corpus entries kept because they reach login, STLS, SASL and RETR.
"""

import base64
import hashlib
import hmac
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    folder = os.path.join(HERE, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "seed-" + name), "wb") as f:
        f.write(data)


def b64(data):
    return base64.b64encode(data)


def challenge(data):
    return b"+ " + b64(data) + b"\r\n"


# ---- Dovecot responses (recorded) ----
GREETING = b"+OK Dovecot (Debian) ready. <32d8.2.6b04df8c.lsWEICwsRv5aSnlIWjw+gQ==@vm>\r\n"
CAPA = (b"+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n"
        b"STLS\r\nUSER\r\nSASL PLAIN LOGIN CRAM-MD5\r\n.\r\n")
CAPA_SCRAM = (b"+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n"
              b"USER\r\nSASL SCRAM-SHA-256 SCRAM-SHA-1 PLAIN\r\n.\r\n")
CAPA_AFTER_LOGIN = (b"+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
                    b"AUTH-RESP-CODE\r\n.\r\n")
OK = b"+OK\r\n"
LOGGED_IN = b"+OK Logged in.\r\n"
AUTH_FAILED = b"-ERR [AUTH] Authentication failed.\r\n"
STAT = b"+OK 3 319\r\n"
LIST = b"+OK 3 messages:\r\n1 110\r\n2 128\r\n3 81\r\n.\r\n"
LIST_1 = b"+OK 1 110\r\n"
UIDL = b"+OK\r\n1 000000016b04df8d\r\n2 000000026b04df8d\r\n3 000000036b04df8d\r\n.\r\n"
UIDL_1 = b"+OK 1 000000016b04df8d\r\n"
RETR_1 = (b"+OK 110 octets\r\nFrom: Bob <bob@example.org>\r\nTo: alice@example.com\r\n"
          b"Subject: hello\r\nMessage-ID: <1@example.org>\r\n\r\nHi Alice.\r\n.\r\n")
RETR_2 = (b"+OK 128 octets\r\nFrom: Carol <carol@example.org>\r\nTo: alice@example.com\r\n"
          b"Subject: =?UTF-8?B?w6ljb2xl?= dots\r\n\r\n..leading dot\r\n...two dots\r\n"
          b"..\r\nend\r\n.\r\n")
DELETED = b"-ERR Message is deleted.\r\n"
TOP_1 = (b"+OK\r\nFrom: Bob <bob@example.org>\r\nTo: alice@example.com\r\n"
         b"Subject: hello\r\nMessage-ID: <1@example.org>\r\n\r\n.\r\n")
TOP_2 = (b"+OK\r\nFrom: Carol <carol@example.org>\r\nTo: alice@example.com\r\n"
         b"Subject: =?UTF-8?B?w6ljb2xl?= dots\r\n\r\n..leading dot\r\n.\r\n")
NO_MESSAGE = b"-ERR There's no message 9.\r\n"
MARKED = b"+OK Marked to be deleted.\r\n"
STLS_OK = b"+OK Begin TLS negotiation now.\r\n"
LOGOUT = b"+OK Logging out.\r\n"

# Everything after login, in the order client_stream runs its tasks: STAT, LIST, LIST 1,
# UIDL, UIDL 1, RETR 1-3, TOP 1-3, DELE 1-3, NOOP, RSET, QUIT.
TRANSACTION = (STAT + LIST + LIST_1 + UIDL + UIDL_1
               + RETR_1 + RETR_2 + DELETED
               + TOP_1 + TOP_2 + DELETED
               + MARKED + MARKED + MARKED
               + OK + OK + LOGOUT)


def scram(hashname, user, password, client_nonce, server_nonce, salt, iterations):
    """Server-first, client-final and server-final of a successful exchange."""
    digest = getattr(hashlib, hashname)
    first_bare = b"n=" + user + b",r=" + client_nonce
    nonce = client_nonce + server_nonce
    server_first = b"r=" + nonce + b",s=" + b64(salt) + b",i=" + str(iterations).encode()
    without_proof = b"c=biws,r=" + nonce
    auth_message = first_bare + b"," + server_first + b"," + without_proof
    salted = hashlib.pbkdf2_hmac(hashname, password, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", digest).digest()
    stored_key = digest(client_key).digest()
    signature = hmac.new(stored_key, auth_message, digest).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    server_key = hmac.new(salted, b"Server Key", digest).digest()
    server_signature = hmac.new(server_key, auth_message, digest).digest()
    client_final = without_proof + b",p=" + b64(proof)
    return server_first, client_final, b"v=" + b64(server_signature)


# ---- client_stream: [flags, method, 4 chunk sizes] + server bytes ----
BIG = bytes([0xff] * 4)
SMALL = bytes([0x00, 0x01, 0x02, 0x06])
MIXED = bytes([0x10, 0x90, 0x03, 0xc0])

user_pass = GREETING + CAPA + OK + LOGGED_IN + CAPA_AFTER_LOGIN + TRANSACTION
write("client_stream", "user-pass-dovecot", bytes([0x00, 1]) + BIG + user_pass)
write("client_stream", "user-pass-small-chunks", bytes([0x00, 1]) + SMALL + user_pass)
write("client_stream", "user-pass-lockstep-top1", bytes([0x44, 1]) + MIXED + user_pass)
write("client_stream", "auto-plain-ir",
      bytes([0x00, 3]) + MIXED + GREETING + CAPA + LOGGED_IN + CAPA_AFTER_LOGIN + TRANSACTION)
write("client_stream", "auth-login",
      bytes([0x10, 4]) + MIXED + GREETING + CAPA + challenge(b"Username:")
      + challenge(b"Password:") + LOGGED_IN + CAPA_AFTER_LOGIN + TRANSACTION)
write("client_stream", "cram-md5",
      bytes([0x00, 5]) + BIG + GREETING + CAPA
      + b"+ PDE4NzYzMjYwMzIzMjgzMjkuMTc5NTQ4MTQ5N0B2bT4=\r\n" + LOGGED_IN
      + CAPA_AFTER_LOGIN + TRANSACTION)
write("client_stream", "apop",
      bytes([0x20, 2]) + SMALL + GREETING + CAPA + LOGGED_IN + CAPA_AFTER_LOGIN + TRANSACTION)
write("client_stream", "bad-password",
      bytes([0x00, 1]) + BIG + GREETING + CAPA + OK + AUTH_FAILED)
write("client_stream", "stls-then-user",
      bytes([0x01, 1]) + bytes([0x00, 0x00, 0x00, 0x00])
      + GREETING + CAPA + STLS_OK + CAPA.replace(b"STLS\r\n", b"") + OK + LOGGED_IN
      + CAPA_AFTER_LOGIN + TRANSACTION)
write("client_stream", "no-capa-rfc1939",
      bytes([0x00, 0]) + BIG + b"+OK POP3 ready\r\n-ERR unknown command\r\n" + OK + LOGGED_IN
      + b"-ERR unknown command\r\n" + TRANSACTION)
write("client_stream", "greeting-refused",
      bytes([0x00, 0]) + BIG + b"-ERR [SYS/TEMP] busy, try later\r\n")
for method, hashname, nonce in [(9, "sha1", b"fyko+d2lbbFgONRv9qkxdawL"),
                                (10, "sha256", b"rOprNGfwEbeRWgbNEkqO")]:
    server_first, _, server_final = scram(hashname, b"alice", b"secret", nonce, b"%srv",
                                          b"pop3-salt", 64)
    write("client_stream", "scram-" + hashname,
          bytes([0x00, method]) + MIXED + GREETING + CAPA_SCRAM + challenge(server_first)
          + challenge(server_final) + LOGGED_IN + CAPA_AFTER_LOGIN + TRANSACTION)
write("client_stream", "xoauth2-error",
      bytes([0x00, 6]) + BIG + GREETING + CAPA
      + challenge(b'{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}')
      + AUTH_FAILED)

# ---- responses: one line without line end ----
for i, line in enumerate([
        GREETING[:-2],
        b"-ERR [AUTH] Authentication failed.",
        b"-ERR [SYS/TEMP/QUOTA] mailbox full",
        b"+OK 3 messages:",
        b"1 000000016b04df8d",
        b"3 319",
        b"SASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256",
        b"IMPLEMENTATION Shlemazle  Plotz-v302",
        b"LOGIN-DELAY 900 USER",
        b"EXPIRE NEVER",
        b"UTF8 USER",
        b"+ PDE4NzYzMjYwMzIzMjgzMjkuMTc5NTQ4MTQ5N0B2bT4=",
        "fr Fran\u00e7ais".encode(),
]):
    write("responses", "%02d" % i, line)

# ---- responses_roundtrip / command_roundtrip: raw bytes for `arbitrary` (any bytes are
# valid input; these only give the fuzzer some protocol text to start from) ----
for i, data in enumerate([b"\x00\x00\x00\x00" + GREETING, b"\x40\x00\x00\x00" + LIST,
                          b"\x80\x00\x00\x00" + UIDL, b"\xc0\x00\x00\x00" + CAPA]):
    write("responses_roundtrip", "%02d" % i, data)
for i, data in enumerate([b"\x00\x00\x00\x00alice", b"\x10\x00\x00\x00secret with spaces",
                          b"\x20\x00\x00\x00alice c4c9334bac560ecc979e58001b3e22fb",
                          b"\x30\x00\x00\x00PLAIN\x01\x00alice\x00secret"]):
    write("command_roundtrip", "%02d" % i, data)

# ---- command: [limit, 2 chunk sizes] + client bytes ----
CLIENT = (b"CAPA\r\nUSER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nLIST 2\r\nUIDL\r\nUIDL 1\r\n"
          b"TOP 1 0\r\nRETR 2\r\nDELE 3\r\nRSET\r\nNOOP\r\nQUIT\r\n")
write("command", "session", b"\xfe\x90\x90" + CLIENT)
write("command", "small-chunks", b"\xfe\x00\x03" + CLIENT)
write("command", "sasl", b"\xff\x05\x80AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nAUTH LOGIN\r\n"
      b"YWxpY2U=\r\nc2VjcmV0\r\n*\r\nAPOP alice c4c9334bac560ecc979e58001b3e22fb\n"
      b"STLS\r\nUTF8\r\nLANG fr\r\nLANG\r\n")

# ---- sasl_challenge: [selector/flags] + messages separated by \n ----
SHA1_FIRST = b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
SHA1_FINAL = b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="
SHA256_FIRST = (b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
SHA256_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
write("sasl_challenge", "scram-sha1-rfc5802", b"\x35" + SHA1_FIRST + b"\n" + SHA1_FINAL)
write("sasl_challenge", "scram-sha256-rfc7677", b"\x36" + SHA256_FIRST + b"\n" + SHA256_FINAL)
write("sasl_challenge", "scram-server-error", b"\x15" + b"e=invalid-proof")
write("sasl_challenge", "login", b"\x01Username:\nPassword:")
write("sasl_challenge", "cram-md5", b"\x02<1896.697170952@postoffice.reston.mci.net>")
write("sasl_challenge", "xoauth2-error",
      b'\x33{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}\n')
write("sasl_challenge", "oauthbearer-error",
      b'\x34{"status":"invalid_token","scope":"example_scope"}\n\x01')
write("sasl_challenge", "plain-empty-challenge", b"\x20\n")
write("sasl_challenge", "server-decoders",
      b"\x07n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL\n"
      b"c=biws,r=fyko+d2lbbFgONRv9qkxdawLsrv,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=\n"
      b"\x00tim\x00tanstaaf\nuser=u@example.com\x01auth=Bearer tok\x01\x01\n"
      b"n,a=u@example.com,\x01host=h\x01port=995\x01auth=Bearer tok\x01\x01\n"
      b"tim b913a602c7eda7a495b4e6e7334d3890")
for selector in range(8, 14):
    write("sasl_challenge", "round-trip-%d" % selector,
          bytes([selector]) + b"alice\nsecret\npop.example.com")

# ---- dot_differential: [mode, 4 chunk sizes, eager bits] + stream ----
BODY = RETR_2[len(b"+OK 128 octets\r\n"):]
for mode in range(4):
    write("dot_differential", "dovecot-mode%d" % mode,
          bytes([mode, 0x00, 0x02, 0x05, 0x80, 0x5a]) + BODY)
write("dot_differential", "lf-only", bytes([0, 1, 1, 1, 1, 0xff]) + b"a\n..b\n.\rx\n.\n")
write("dot_differential", "dot-cr-split", bytes([0, 0, 0, 0, 0, 0]) + b".\rx\r\n.\r")

# ---- server_session: [options, 3 chunk sizes] + client bytes ----
APOP = hashlib.md5(b"<1896.697170952@pop3.test>" + b"secret").hexdigest().encode()
CRAM_CHALLENGE = b"<1.1700000000@pop3.test>"
CRAM = b64(b"alice " + hmac.new(b"secret", CRAM_CHALLENGE, hashlib.md5).hexdigest().encode())
TRANSACTION_CMDS = (b"STAT\r\nLIST\r\nLIST 2\r\nUIDL\r\nUIDL 3\r\nRETR 2\r\nTOP 2 1\r\n"
                    b"RETR 3\r\nDELE 1\r\nRETR 1\r\nRSET\r\nNOOP\r\nCAPA\r\nQUIT\r\n")
OPTS = 0x06  # PIPELINING, CAPA
write("server_session", "user-pass",
      bytes([OPTS, 0xff, 0xff, 0xff]) + b"CAPA\r\nUSER alice\r\nPASS secret\r\n"
      + TRANSACTION_CMDS)
write("server_session", "user-pass-lf-small",
      bytes([OPTS | 0x08, 0x00, 0x04, 0x10]) + b"CAPA\nUSER alice\nPASS secret\n"
      + TRANSACTION_CMDS.replace(b"\r\n", b"\n"))
write("server_session", "apop",
      bytes([OPTS, 0x80, 0x80, 0x80]) + b"APOP alice " + APOP + b"\r\n" + TRANSACTION_CMDS)
write("server_session", "auth-plain",
      bytes([OPTS, 0xff, 0xff, 0xff]) + b"AUTH PLAIN " + b64(b"\x00alice\x00secret") + b"\r\n"
      + TRANSACTION_CMDS)
write("server_session", "auth-login",
      bytes([OPTS, 0x07, 0x07, 0x07]) + b"AUTH LOGIN\r\n" + b64(b"alice") + b"\r\n"
      + b64(b"secret") + b"\r\n" + TRANSACTION_CMDS)
write("server_session", "auth-cram-md5",
      bytes([OPTS, 0xff, 0xff, 0xff]) + b"AUTH CRAM-MD5\r\n" + CRAM + b"\r\n" + TRANSACTION_CMDS)
write("server_session", "auth-bearer",
      bytes([OPTS, 0xff, 0xff, 0xff])
      + b"AUTH XOAUTH2 " + b64(b"user=alice\x01auth=Bearer secret\x01\x01") + b"\r\n"
      + b"AUTH OAUTHBEARER " + b64(b"n,a=alice,\x01host=h\x01port=995\x01auth=Bearer secret\x01\x01")
      + b"\r\n" + TRANSACTION_CMDS)
for mech, hashname in [(b"SCRAM-SHA-1", "sha1"), (b"SCRAM-SHA-256", "sha256")]:
    client_first = b"n,,n=alice,r=abc"
    server_nonce = b"srv1nonce" + str(len(client_first)).encode()
    _, client_final, _ = scram(hashname, b"alice", b"secret", b"abc", server_nonce,
                               b"pop3-proto-salt", 2)
    write("server_session", "auth-" + hashname,
          bytes([OPTS, 0xff, 0xff, 0xff]) + b"AUTH " + mech + b" " + b64(client_first) + b"\r\n"
          + b64(client_final) + b"\r\n\r\n" + TRANSACTION_CMDS)
write("server_session", "stls-and-cancel",
      bytes([OPTS | 0x01, 0x10, 0x10, 0x10]) + b"CAPA\r\nSTLS\r\nCAPA\r\nAUTH PLAIN\r\n*\r\n"
      + b"USER alice\r\nPASS wrong\r\nRETR 1\r\nUSER\r\nQUIT\r\n")
