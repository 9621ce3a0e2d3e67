#!/usr/bin/env python3
"""Watches what an authoritative DNS server answers, every few milliseconds, as a client sees it.

Each round sends two UDP queries (the managed A RRset and its fence TXT record) and writes one
JSON line: {"t": monotonic seconds, "a": [addresses] | null, "rcode": int | null,
"gen": int | null, "writer": str | null, "err": str | null}. null means no usable answer
(timeout, malformed); an empty list means the server answered with no A records (NOERROR/NODATA
or NXDOMAIN) - exactly what the lab asserts never happens. The two queries are not one
snapshot: for one sample around a write, the old answer can show up with the new fence.

usage: watcher.py SERVER NAME FENCE_NAME OUT_FILE [--interval 0.01] [--max-seconds 900]
FENCE_NAME "-": no fence query (a server without a fence); "gen" and "writer" stay null.
Runs until SIGTERM/SIGINT or --max-seconds. Python 3 stdlib only; run it inside the client
namespace (ip netns exec NS python3 watcher.py ...).
"""
import argparse
import json
import os
import signal
import socket
import struct
import time

TYPE_A, TYPE_TXT = 1, 16


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(qid, name, qtype):
    # id, flags 0 (no recursion wanted: we ask the authoritative server), 1 question.
    return struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + encode_name(name) + struct.pack(">HH", qtype, 1)


def skip_name(msg, off):
    while True:
        n = msg[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1 + n


def parse(msg, qid, qtype):
    """Returns (rcode, [rdata values of qtype]). Raises ValueError on anything unexpected."""
    if len(msg) < 12:
        raise ValueError("short")
    rid, flags, qd, an, _, _ = struct.unpack(">HHHHHH", msg[:12])
    if rid != qid or not flags & 0x8000:
        raise ValueError("not our answer")
    if flags & 0x0200:
        raise ValueError("truncated")
    off = 12
    for _ in range(qd):
        off = skip_name(msg, off) + 4
    values = []
    for _ in range(an):
        off = skip_name(msg, off)
        rtype, _, _, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        rdata = msg[off:off + rdlen]
        off += rdlen
        if rtype != qtype:
            continue
        if rtype == TYPE_A:
            values.append(socket.inet_ntoa(rdata))
        elif rtype == TYPE_TXT:
            text, i = b"", 0
            while i < len(rdata):
                text += rdata[i + 1:i + 1 + rdata[i]]
                i += 1 + rdata[i]
            values.append(text.decode(errors="replace"))
    return flags & 0xF, values


class Asker:
    def __init__(self, server, timeout):
        host, _, port = server.rpartition(":")
        self.addr = (host, int(port))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.qid = int.from_bytes(os.urandom(2), "big")

    def ask(self, name, qtype):
        self.qid = (self.qid + 1) & 0xFFFF
        self.sock.sendto(query(self.qid, name, qtype), self.addr)
        deadline = time.monotonic() + self.sock.gettimeout()
        while True:  # skip late answers to earlier (timed-out) queries
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            self.sock.settimeout(left)
            msg, _ = self.sock.recvfrom(4096)
            try:
                return parse(msg, self.qid, qtype)
            except ValueError as e:
                if str(e) != "not our answer":
                    raise


def parse_fence(texts):
    gen = writer = None
    for t in texts:
        for field in t.split():
            if field.startswith("gen="):
                gen = int(field[4:])
            elif field.startswith("writer="):
                writer = field[7:]
    return gen, writer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("name")
    ap.add_argument("fence_name")
    ap.add_argument("out")
    ap.add_argument("--interval", type=float, default=0.01)
    ap.add_argument("--timeout", type=float, default=0.25)
    ap.add_argument("--max-seconds", type=float, default=900)
    args = ap.parse_args()

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    asker = Asker(args.server, args.timeout)
    end = time.monotonic() + args.max_seconds
    with open(args.out, "w", buffering=1) as out:
        while not stop and time.monotonic() < end:
            started = time.monotonic()
            row = {"t": round(started, 4), "a": None, "rcode": None, "gen": None,
                   "writer": None, "err": None}
            try:
                rcode, addrs = asker.ask(args.name, TYPE_A)
                row["rcode"], row["a"] = rcode, sorted(addrs)
                if args.fence_name != "-":
                    _, texts = asker.ask(args.fence_name, TYPE_TXT)
                    row["gen"], row["writer"] = parse_fence(texts)
            except (OSError, ValueError, struct.error, IndexError) as e:
                row["err"] = type(e).__name__ + (": " + str(e) if str(e) else "")
            out.write(json.dumps(row) + "\n")
            time.sleep(max(0.0, args.interval - (time.monotonic() - started)))


if __name__ == "__main__":
    main()
