#!/usr/bin/env python3
"""Writes testdata/protocol/vectors.json, the shared protocol test vectors.

Regenerate (from the repository root) with:

    python3 tools/gen_vectors.py                # writes testdata/protocol/vectors.json
    python3 tools/gen_vectors.py --out FILE     # writes elsewhere (the Rust test does this)

Python 3 standard library only (hashlib for SHA-256). Every expected response
is computed here from /work/shared/design/protocol.md (mirrored in PROTOCOL.md)
alone: nothing of either server, nor of rtc-common, is imported or called, so
the vectors are an independent third implementation of the protocol.

The output is deterministic (vectors sorted by name, fixed key order, no
timestamps) so regenerating must reproduce the committed file byte for byte.
Big payloads are written as `repeat`/`data` segments, never as hex, which
keeps the file small. Format: see PROTOCOL.md, "Test vectors", and
schemas/vectors.schema.json.
"""

import argparse
import hashlib
import json
import os
import struct
import sys

SCHEMA_VERSION = 1
PROTOCOL_VERSION = 1
DATA_FILE_BYTES = 2 * 1024 * 1024  # 2,097,152: room for a 1 MiB read at offset 1,000,000

MAX_PAYLOAD_BYTES = 1_048_576
MAX_CPU_ROUNDS = 1_000_000
MAX_WAIT_US = 10_000_000
MAX_FILE_BYTES = 1_048_576
DATA_MODULUS = 251

IO_NONE, IO_SLEEP, IO_BLOCK, IO_FILE = 0, 1, 2, 3


# ---------------------------------------------------------------- segments
# Internally a segment is a tuple: ("hex", bytes), ("repeat", byte, count) or
# ("data", offset, len); `data` means bytes (offset + i) mod 251.

def hexseg(b):
    return ("hex", bytes(b))


def repeat(byte, count):
    return ("repeat", byte, count)


def data(offset, length):
    return ("data", offset, length)


def seg_len(s):
    if s[0] == "hex":
        return len(s[1])
    return s[2]


def seg_bytes(s):
    if s[0] == "hex":
        return s[1]
    if s[0] == "repeat":
        return bytes([s[1]]) * s[2]
    off, n = s[1], s[2]
    # One period, rotated to start at `off`, then repeated and cut.
    period = bytes(range(DATA_MODULUS))
    start = off % DATA_MODULUS
    rotated = period[start:] + period[:start]
    reps = n // DATA_MODULUS + 1
    return (rotated * reps)[:n]


def materialize(segs):
    return b"".join(seg_bytes(s) for s in segs)


def compact(segs):
    """Drops empty segments and merges neighbouring hex segments."""
    out = []
    for s in segs:
        if seg_len(s) == 0:
            continue
        if s[0] == "hex" and out and out[-1][0] == "hex":
            out[-1] = ("hex", out[-1][1] + s[1])
        else:
            out.append(s)
    return out


def seg_json(s):
    if s[0] == "hex":
        return {"hex": s[1].hex()}
    if s[0] == "repeat":
        return {"repeat": {"byte": s[1], "count": s[2]}}
    return {"data": {"offset": s[1], "len": s[2]}}


# ---------------------------------------------------------------- protocol
# Written from protocol.md §2 plus the choices the brief fixed (PROTOCOL.md
# "Choices"): check order version/reserved -> limits -> io_kind; io_arg is
# ignored for io_kind none and unknown kinds; io_offset is ignored except for
# file; status 4 is decided before reading, in 64-bit arithmetic.

def request_header(version=1, io_kind=IO_NONE, reserved=0, payload_len=0,
                   cpu_rounds=0, io_arg=0, io_offset=0, req_id=0):
    return struct.pack(">BBHIIIII", version, io_kind, reserved, payload_len,
                       cpu_rounds, io_arg, io_offset, req_id)


def response_header(status, body_len, req_id):
    return struct.pack(">BBHII", 1, status, 0, body_len, req_id)


def sha_chain(message, rounds):
    d = hashlib.sha256(message).digest()
    for _ in range(rounds - 1):
        d = hashlib.sha256(d).digest()
    return d


class Req:
    """One request: header fields plus the payload bytes actually sent."""

    def __init__(self, payload=None, version=1, io_kind=IO_NONE, reserved=0,
                 payload_len=None, cpu_rounds=0, io_arg=0, io_offset=0,
                 req_id=0, send_payload=True):
        self.payload = compact(payload or [])
        n = sum(seg_len(s) for s in self.payload)
        self.payload_len = n if payload_len is None else payload_len
        if send_payload:
            assert n == self.payload_len, "payload segments must match payload_len"
        self.fields = dict(version=version, io_kind=io_kind, reserved=reserved,
                           payload_len=self.payload_len, cpu_rounds=cpu_rounds,
                           io_arg=io_arg, io_offset=io_offset, req_id=req_id)
        self.send_payload = send_payload

    def send_segments(self):
        segs = [hexseg(request_header(**self.fields))]
        if self.send_payload:
            segs += self.payload
        return segs

    def answer(self, data_file):
        """Returns (expected response segments, connection closes after it)."""
        f = self.fields
        rid = f["req_id"]
        if f["version"] != PROTOCOL_VERSION or f["reserved"] != 0:
            return [hexseg(response_header(1, 0, rid))], True
        if f["payload_len"] > MAX_PAYLOAD_BYTES or f["cpu_rounds"] > MAX_CPU_ROUNDS:
            return [hexseg(response_header(2, 0, rid))], True
        kind = f["io_kind"]
        if kind not in (IO_NONE, IO_SLEEP, IO_BLOCK, IO_FILE):
            return [hexseg(response_header(3, 0, rid))], False
        if kind in (IO_SLEEP, IO_BLOCK) and f["io_arg"] > MAX_WAIT_US:
            return [hexseg(response_header(2, 0, rid))], True
        if kind == IO_FILE and f["io_arg"] > MAX_FILE_BYTES:
            return [hexseg(response_header(2, 0, rid))], True
        file_segs = []
        if kind == IO_FILE:
            # Python ints do not wrap: io_offset + io_arg is checked exactly.
            if not data_file or f["io_offset"] + f["io_arg"] > DATA_FILE_BYTES:
                return [hexseg(response_header(4, 0, rid))], False
            file_segs = [data(f["io_offset"], f["io_arg"])]
        if f["cpu_rounds"] == 0:
            body = compact(self.payload + file_segs)
        else:
            body = [hexseg(sha_chain(materialize(self.payload + file_segs),
                                     f["cpu_rounds"]))]
        body_len = sum(seg_len(s) for s in body)
        return [hexseg(response_header(0, body_len, rid))] + body, False


# ---------------------------------------------------------------- vectors

VECTORS = []


def add(name, description, workload, send, expect, half_close=True, data_file=True):
    VECTORS.append({
        "name": name,
        "description": description,
        "workload": workload,
        "data_file": data_file,
        "send": compact(send),
        "half_close": half_close,
        "expect": compact(expect),
    })


def work(name, description, reqs, data_file=True, trailing=None, half_close=None):
    """A work-workload connection: `reqs` pipelined, then optional raw bytes.

    The expected stream is every answer up to and including the first one
    that closes the connection; nothing may be sent after a closing request
    (unread bytes would turn the server's FIN into a RST).
    """
    send, expect, closed = [], [], False
    for r in reqs:
        assert not closed, f"{name}: request after a closing one"
        send += r.send_segments()
        answer, closed = r.answer(data_file)
        # Only a request the server answers without reading its payload
        # (status 1 or 2) may leave the payload out.
        assert r.send_payload or closed, f"{name}: payload missing from a read request"
        expect += answer
    if trailing:
        assert not closed
        send += trailing
    if half_close is None:
        # A vector whose connection the server closes sends no FIN itself, so
        # the check covers "the server closes by itself".
        half_close = not closed
    add(name, description, "work", send, expect, half_close=half_close,
        data_file=data_file)


def echo(name, description, send):
    add(name, description, "echo", send, list(send))


def small(n, offset=0):
    return [data(offset, n)]


def build():
    # ---- echo
    echo("echo_1_byte", "one byte echoed", [hexseg(b"x")])
    echo("echo_64_bytes", "64 bytes echoed", small(64, 3))
    echo("echo_16384_bytes", "exactly one default read buffer (16,384 bytes)",
         small(16384, 11))
    echo("echo_100000_bytes", "100,000 bytes, spanning many read buffers",
         small(100_000, 17))
    echo("echo_1048576_bytes", "1 MiB (1,048,576 bytes) echoed, the largest payload",
         small(MAX_PAYLOAD_BYTES, 23))
    echo("echo_several_sends", "several messages in one stream come back in order",
         [hexseg(b"hello "), repeat(0x61, 5000), hexseg(b" world\n"), data(99, 3000),
          hexseg(b"\x00\xff\x00")])
    add("echo_immediate_eof", "client closes at once: nothing comes back", "echo",
        [], [])

    # ---- work: basic processing
    work("work_empty_payload", "empty payload, no work: empty body",
         [Req(req_id=1)])
    work("work_small_payload", "100-byte payload, cpu 0: body is the payload",
         [Req(small(100, 5), req_id=2)])
    work("work_payload_1mib_echo", "1 MiB payload, cpu 0: body is the payload",
         [Req(small(MAX_PAYLOAD_BYTES, 42), req_id=3)])
    work("work_payload_1mib_sha_1", "1 MiB payload, cpu 1: SHA-256 of the payload",
         [Req([repeat(0xab, MAX_PAYLOAD_BYTES)], cpu_rounds=1, req_id=4)])
    work("work_sha_1_round_abc", "SHA-256(\"abc\"), the FIPS 180-2 example",
         [Req([hexseg(b"abc")], cpu_rounds=1, req_id=5)])
    work("work_sha_3_rounds", "3 chained SHA-256 rounds over a small payload",
         [Req([hexseg(b"abc")], cpu_rounds=3, req_id=6)])
    work("work_sha_1000_rounds", "1000 chained rounds over a 64-byte payload",
         [Req(small(64, 1), cpu_rounds=1000, req_id=7)])
    work("work_sha_empty_payload", "cpu 1 over an empty payload: SHA-256 of nothing",
         [Req(cpu_rounds=1, req_id=8)])
    work("work_sha_max_rounds", "exactly the 1,000,000-round limit is accepted",
         [Req([hexseg(b"limit")], cpu_rounds=MAX_CPU_ROUNDS, req_id=9)])
    work("work_sleep_1000us", "sleep 1000 us then echo the payload",
         [Req(small(10), io_kind=IO_SLEEP, io_arg=1000, req_id=10)])
    work("work_block_1000us", "block 1000 us then echo the payload",
         [Req(small(10), io_kind=IO_BLOCK, io_arg=1000, req_id=11)])
    work("work_sleep_0us", "sleep 0 us is a no-op",
         [Req(small(4), io_kind=IO_SLEEP, io_arg=0, req_id=12)])
    work("work_sleep_with_cpu", "sleep 200 us then 2 SHA rounds",
         [Req(small(50), io_kind=IO_SLEEP, io_arg=200, cpu_rounds=2, req_id=13)])
    work("work_ids_zero_and_max", "ids 0 and 0xffffffff are echoed",
         [Req([hexseg(b"a")], req_id=0), Req([hexseg(b"b")], req_id=0xFFFF_FFFF)])
    work("work_io_arg_ignored_for_none", "io_arg 0xffffffff with io_kind none is ignored",
         [Req(small(8), io_arg=0xFFFF_FFFF, req_id=14)])
    work("work_io_offset_ignored_for_none_and_sleep",
         "io_offset is ignored except for file",
         [Req(small(8), io_offset=0xFFFF_FFFF, req_id=15),
          Req(small(8), io_kind=IO_SLEEP, io_arg=10, io_offset=123, req_id=16),
          Req(small(8), io_kind=IO_BLOCK, io_arg=10, io_offset=7, cpu_rounds=1, req_id=17)])
    work("work_file_max_len_sha",
         "file io_arg exactly at its 1,048,576 limit is accepted; 1 SHA round over it",
         [Req(io_kind=IO_FILE, io_arg=MAX_FILE_BYTES, io_offset=0, cpu_rounds=1,
              req_id=18)])

    # ---- work: file reads
    work("work_file_offset0_len100", "file read of 100 bytes at offset 0 after a payload",
         [Req([hexseg(b"head:")], io_kind=IO_FILE, io_arg=100, io_offset=0, req_id=20)])
    work("work_file_len0", "file read of 0 bytes is a no-op: body is the payload",
         [Req([hexseg(b"p")], io_kind=IO_FILE, io_arg=0, io_offset=500, req_id=21)])
    work("work_file_big", "1,048,576 bytes at offset 1,000,000, cpu 0: payload then file bytes",
         [Req(small(1000, 9), io_kind=IO_FILE, io_arg=MAX_FILE_BYTES,
              io_offset=1_000_000, req_id=22)])
    work("work_file_sha", "SHA over payload || file bytes (4096 at offset 777), 2 rounds",
         [Req(small(300, 200), io_kind=IO_FILE, io_arg=4096, io_offset=777,
              cpu_rounds=2, req_id=23)])
    work("work_file_exact_end", "the last 100 bytes of the file",
         [Req(io_kind=IO_FILE, io_arg=100, io_offset=DATA_FILE_BYTES - 100, req_id=24)])
    work("work_file_at_end_len0", "offset == file length with 0 bytes is not past the end",
         [Req(io_kind=IO_FILE, io_arg=0, io_offset=DATA_FILE_BYTES, req_id=25)])
    work("work_file_past_end_then_ok",
         "range past the end: status 4, then the connection still serves",
         [Req(small(10), io_kind=IO_FILE, io_arg=100, io_offset=DATA_FILE_BYTES - 50,
              req_id=26),
          Req(small(10), io_kind=IO_FILE, io_arg=10, io_offset=3, req_id=27)])
    work("work_file_offset_past_end_len0", "offset beyond the end with 0 bytes: status 4",
         [Req(io_kind=IO_FILE, io_arg=0, io_offset=DATA_FILE_BYTES + 1, req_id=28),
          Req([hexseg(b"ok")], req_id=29)])
    work("work_file_offset_overflow",
         "io_offset 0xffffffff + io_arg 2 must not wrap to a valid range: status 4",
         [Req(io_kind=IO_FILE, io_arg=2, io_offset=0xFFFF_FFFF, req_id=30),
          Req([hexseg(b"ok")], req_id=31)])
    work("work_no_data_file_then_ok", "no data file: status 4, then the connection still serves",
         [Req(small(10), io_kind=IO_FILE, io_arg=100, req_id=32),
          Req(small(10), cpu_rounds=1, req_id=33)], data_file=False)
    work("work_no_data_file_len0", "no data file: status 4 even for 0 bytes",
         [Req(io_kind=IO_FILE, io_arg=0, req_id=34), Req([hexseg(b"ok")], req_id=35)],
         data_file=False)
    work("work_no_data_file_other_kinds", "without a data file the other kinds still work",
         [Req(small(5), req_id=36), Req(small(5), io_kind=IO_SLEEP, io_arg=50, req_id=37),
          Req(small(5), io_kind=IO_BLOCK, io_arg=50, cpu_rounds=1, req_id=38)],
         data_file=False)

    # ---- work: status 3 (unknown io_kind): payload consumed, connection kept
    work("work_unknown_io_kind_4_then_ok",
         "io_kind 4 with a payload: status 3, payload consumed, next request answered",
         [Req(small(1000), io_kind=4, req_id=40), Req([hexseg(b"next")], req_id=41)])
    work("work_unknown_io_kind_255_then_ok",
         "io_kind 255 with a 1 MiB payload and huge io_arg: status 3, next answered",
         [Req([repeat(0x55, MAX_PAYLOAD_BYTES)], io_kind=255, io_arg=0xFFFF_FFFF,
              cpu_rounds=5, req_id=42),
          Req([hexseg(b"next")], cpu_rounds=1, req_id=43)])
    work("work_unknown_io_kind_empty", "io_kind 9 with no payload: status 3",
         [Req(io_kind=9, req_id=44)])

    # ---- work: status 1 (bad header): header only, server closes
    work("work_version_0_closes", "version 0: status 1, close (payload_len huge, unread)",
         [Req(version=0, payload_len=0xFFFF_FFFF, send_payload=False, req_id=50)])
    work("work_version_2_closes", "version 2: status 1, close",
         [Req(version=2, payload_len=100, send_payload=False, req_id=51)])
    work("work_reserved_nonzero_closes", "reserved != 0: status 1, close",
         [Req(reserved=1, payload_len=10, send_payload=False, req_id=52)])
    work("work_reserved_and_over_limit", "status 1 is checked before the limits",
         [Req(reserved=0x8000, payload_len=MAX_PAYLOAD_BYTES + 1,
              cpu_rounds=MAX_CPU_ROUNDS + 1, send_payload=False, req_id=53)])
    # ---- work: status 2 (over a limit): header only, server closes
    work("work_payload_over_limit", "payload_len 1,048,577: status 2, close, payload unread",
         [Req(payload_len=MAX_PAYLOAD_BYTES + 1, send_payload=False, req_id=60)])
    work("work_payload_len_max_u32", "payload_len 0xffffffff: status 2, nothing allocated",
         [Req(payload_len=0xFFFF_FFFF, send_payload=False, req_id=61)])
    work("work_cpu_rounds_over_limit", "cpu_rounds 1,000,001: status 2, close",
         [Req(payload_len=16, cpu_rounds=MAX_CPU_ROUNDS + 1, send_payload=False, req_id=62)])
    work("work_sleep_over_limit", "sleep io_arg 10,000,001 us: status 2, close",
         [Req(io_kind=IO_SLEEP, io_arg=MAX_WAIT_US + 1, payload_len=8,
              send_payload=False, req_id=63)])
    work("work_block_over_limit", "block io_arg 10,000,001 us: status 2, close",
         [Req(io_kind=IO_BLOCK, io_arg=MAX_WAIT_US + 1, send_payload=False, req_id=64)])
    work("work_file_over_limit", "file io_arg 1,048,577: status 2, close",
         [Req(io_kind=IO_FILE, io_arg=MAX_FILE_BYTES + 1, send_payload=False, req_id=65)])
    work("work_unknown_io_kind_over_limit", "limits are checked before io_kind: status 2",
         [Req(io_kind=7, cpu_rounds=MAX_CPU_ROUNDS + 1, send_payload=False, req_id=66)])
    work("work_ok_then_bad_version",
         "an ok request then a version-9 header: ok answer, status 1, close",
         [Req([hexseg(b"fine")], cpu_rounds=1, req_id=70),
          Req(version=9, payload_len=4, send_payload=False, req_id=71)])
    work("work_ok_then_over_limit",
         "two ok requests then payload_len over the limit: two answers, status 2, close",
         [Req([hexseg(b"one")], req_id=72), Req([hexseg(b"two")], req_id=73),
          Req(payload_len=MAX_PAYLOAD_BYTES + 1, send_payload=False, req_id=74)])

    # ---- work: pipelining
    mixed = []
    for i in range(20):
        rid = 100 + i
        k = i % 6
        if k == 0:
            mixed.append(Req(small(i * 7, i), req_id=rid))
        elif k == 1:
            mixed.append(Req(small(64, i), cpu_rounds=i, req_id=rid))
        elif k == 2:
            mixed.append(Req(small(3, i), io_kind=IO_SLEEP, io_arg=100, req_id=rid))
        elif k == 3:
            mixed.append(Req(small(5, i), io_kind=IO_FILE, io_arg=300 + i,
                             io_offset=1000 * i, cpu_rounds=i % 2, req_id=rid))
        elif k == 4:
            mixed.append(Req(small(20, i), io_kind=4 + i, req_id=rid))
        else:
            mixed.append(Req(small(9, i), io_kind=IO_BLOCK, io_arg=100, req_id=rid))
    mixed.append(Req(io_kind=IO_FILE, io_arg=1, io_offset=DATA_FILE_BYTES, req_id=120))
    work("work_pipelined_20_mixed",
         "20 mixed requests (none, sha, sleep, file, unknown kind, block) plus a "
         "status-4 one, pipelined: responses in request order",
         mixed)
    work("work_pipelined_100_small", "100 tiny pipelined requests answered in order",
         [Req([hexseg(bytes([i]))], req_id=1000 + i) for i in range(100)])
    work("work_pipelined_big_payloads",
         "three 300,000-byte payloads pipelined (the client must read while writing)",
         [Req(small(300_000, 1), req_id=200), Req([repeat(7, 300_000)], req_id=201),
          Req(small(300_000, 3), cpu_rounds=1, req_id=202)])

    # ---- work: client EOF
    add("work_immediate_eof", "client closes at once: clean close, nothing sent", "work",
        [], [])
    work("work_eof_mid_header", "EOF after 10 header bytes: close without a response",
         [], trailing=[hexseg(request_header(payload_len=4, req_id=80)[:10])])
    work("work_eof_mid_payload", "EOF after half the payload: close without a response",
         [], trailing=[hexseg(request_header(payload_len=100, req_id=81)), data(0, 50)])
    work("work_eof_mid_payload_unknown_kind",
         "EOF while the payload of an unknown kind is discarded: no response",
         [], trailing=[hexseg(request_header(io_kind=5, payload_len=100_000, req_id=82)),
                       data(0, 40_000)])
    work("work_ok_then_eof_mid_header",
         "EOF mid-frame after a complete request: its response is delivered, "
         "the cut frame gets none",
         [Req([hexseg(b"ok")], req_id=84)],
         trailing=[hexseg(request_header(payload_len=4, req_id=85)[:10])])
    work("work_eof_after_full_header_no_payload",
         "a complete header whose payload never comes: no response",
         [], trailing=[hexseg(request_header(payload_len=1, cpu_rounds=1, req_id=83))])


def dump(vectors):
    """Compact, stable JSON: one line per segment, keys in a fixed order."""
    def segs(ss):
        if not ss:
            return "[]"
        inner = ",\n".join("        " + json.dumps(seg_json(s), separators=(", ", ": "))
                           for s in ss)
        return "[\n" + inner + "\n      ]"

    parts = []
    for v in vectors:
        parts.append(
            "    {\n"
            f'      "name": {json.dumps(v["name"])},\n'
            f'      "description": {json.dumps(v["description"])},\n'
            f'      "workload": {json.dumps(v["workload"])},\n'
            f'      "data_file": {json.dumps(v["data_file"])},\n'
            f'      "send": {segs(v["send"])},\n'
            f'      "half_close": {json.dumps(v["half_close"])},\n'
            f'      "expect": {segs(v["expect"])}\n'
            "    }")
    return ("{\n"
            f'  "schema_version": {SCHEMA_VERSION},\n'
            f'  "protocol_version": {PROTOCOL_VERSION},\n'
            f'  "data_file_bytes": {DATA_FILE_BYTES},\n'
            '  "vectors": [\n' + ",\n".join(parts) + "\n  ]\n}\n")


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description="Write the shared protocol test vectors.")
    ap.add_argument("--out", default=os.path.join(root, "testdata", "protocol", "vectors.json"),
                    help="output path (default: testdata/protocol/vectors.json)")
    args = ap.parse_args()
    build()
    vectors = sorted(VECTORS, key=lambda v: v["name"])
    names = [v["name"] for v in vectors]
    if len(set(names)) != len(names):
        sys.exit("gen_vectors: duplicate vector names")
    text = dump(vectors)
    json.loads(text)  # the hand-written layout must still be valid JSON
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, args.out)
    print(f"gen_vectors: wrote {len(vectors)} vectors to {args.out} ({len(text)} bytes)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
