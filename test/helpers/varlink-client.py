#!/usr/bin/env python3
"""A Varlink client that is not ours: Python's standard library only, written
from the Varlink wire description (JSON objects ending in a NUL byte over a
Unix stream socket), for the end-to-end tests of our server.

Usage: varlink-client.py SOCKET < SPEC.json, where SPEC is one of
  {"op": "calls", "calls": [CALL, ...]}
      one connection; each call is sent once the previous one is answered
      (all its replies up to one without "continues"; none for oneway).
      Prints {"pid": P, "results": [[REPLY, ...], ...]}; a connection that
      closes early ends the list with {"closed": true}.
  {"op": "pipeline", "calls": [CALL, ...]}
      all calls in one write, then every reply in arrival order:
      {"pid": P, "replies": [REPLY, ...]}
  {"op": "raw", "send": [PIECE, ...], "shutdown": BOOL}
      PIECE is a string (sent as UTF-8) or {"repeat": S, "count": N}; then
      half-closes if asked and reads until the server closes:
      {"frames": [...], "eof": BOOL, "trailing": "...", "send_error": ...}
  {"op": "concurrent", "connections": N, "call": CALL}
      N connections open at once, the call sent on each, one reply read on
      each: {"connected": N, "replies": {JSON: COUNT}, "failures": [...]}
CALL is {"method": ..., "parameters": {...}, "more"?: true, "oneway"?: true}.
"""

import json
import os
import socket
import sys

TIMEOUT = 15


class Conn:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(path)
        self.buf = b""
        self.eof = False

    def send(self, message):
        self.sock.sendall(json.dumps(message).encode() + b"\0")

    def frame(self):
        """The next NUL-terminated message, parsed; None at end of stream."""
        while b"\0" not in self.buf:
            if self.eof:
                return None
            try:
                chunk = self.sock.recv(1 << 16)
            except (ConnectionResetError, socket.timeout):
                chunk = b""
            if not chunk:
                self.eof = True
                continue
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def replies(self, call):
        """All replies to one call: up to the first without continues."""
        out = []
        if call.get("oneway"):
            return out
        while True:
            reply = self.frame()
            if reply is None:
                out.append({"closed": True})
                return out
            out.append(reply)
            if not reply.get("continues"):
                return out


def op_calls(path, spec):
    conn = Conn(path)
    results = []
    for call in spec["calls"]:
        conn.send(call)
        replies = conn.replies(call)
        results.append(replies)
        if replies and replies[-1].get("closed"):
            break
    return {"pid": os.getpid(), "results": results}


def op_pipeline(path, spec):
    conn = Conn(path)
    conn.sock.sendall(b"".join(json.dumps(c).encode() + b"\0" for c in spec["calls"]))
    replies = []
    for call in spec["calls"]:
        replies.extend(conn.replies(call))
    return {"pid": os.getpid(), "replies": replies}


def op_raw(path, spec):
    conn = Conn(path)
    send_error = None
    try:
        for piece in spec["send"]:
            data = piece if isinstance(piece, str) else piece["repeat"] * piece["count"]
            conn.sock.sendall(data.encode())
        if spec.get("shutdown"):
            conn.sock.shutdown(socket.SHUT_WR)
    except OSError as e:
        # The server may close while we still write (an oversized message): read what it said.
        send_error = type(e).__name__
    frames = []
    while True:
        f = conn.frame()
        if f is None:
            break
        frames.append(f)
    return {"frames": frames, "eof": conn.eof, "trailing": conn.buf.decode(errors="replace"), "send_error": send_error}


def op_concurrent(path, spec):
    conns, failures = [], []
    for _ in range(spec["connections"]):
        try:
            conns.append(Conn(path))
        except OSError as e:
            failures.append("connect: " + type(e).__name__)
    for c in conns:
        c.send(spec["call"])
    replies = {}
    for c in conns:
        reply = c.frame()
        key = json.dumps(reply, sort_keys=True)
        replies[key] = replies.get(key, 0) + 1
    return {"connected": len(conns), "replies": replies, "failures": failures}


def main():
    spec = json.load(sys.stdin)
    op = {"calls": op_calls, "pipeline": op_pipeline, "raw": op_raw, "concurrent": op_concurrent}[spec["op"]]
    json.dump(op(sys.argv[1], spec), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
