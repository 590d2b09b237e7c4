#!/usr/bin/env python3
"""A service manager's notify socket, for tests: binds an AF_UNIX datagram
socket at argv[1] (a path, or @name for an abstract one), prints "bound",
then one JSON line per datagram received: {"fields": {...}, "pid": sender}.
With a command after "--", it runs that command the moment a READY=1
arrives and prints {"ready_check": exit status, "output": ...} before
reading on. Ends on SIGTERM or after argv[2] seconds (default 120)."""
import json
import os
import socket
import struct
import subprocess
import sys

address = sys.argv[1]
rest = sys.argv[2:]
check = []
if "--" in rest:
    check = rest[rest.index("--") + 1:]
    rest = rest[:rest.index("--")]
timeout = float(rest[0]) if rest else 120.0

sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind("\0" + address[1:] if address.startswith("@") else address)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
sock.settimeout(timeout)
print("bound", flush=True)
while True:
    try:
        data, ancdata, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
    except socket.timeout:
        break
    pid = None
    for level, kind, value in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", value[:12])[0]
    fields = {}
    for line in data.decode("utf-8", "replace").split("\n"):
        if "=" in line:
            key, _, val = line.partition("=")
            fields.setdefault(key, val)
    print(json.dumps({"fields": fields, "pid": pid}), flush=True)
    if check and fields.get("READY") == "1":
        r = subprocess.run(check, capture_output=True, text=True)
        print(json.dumps({"ready_check": r.returncode, "output": r.stdout + r.stderr}), flush=True)
