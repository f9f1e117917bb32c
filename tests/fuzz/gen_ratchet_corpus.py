#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_ratchet_decrypt (op scripts; see the
target's header comment for the format).  Owner: ratchet helper.
Usage: gen_ratchet_corpus.py DIR
The files named by a SHA-1 in that directory were found by libFuzzer
(-merge=1 of a 2-minute run) and are kept as they are."""
import os
import random
import sys

ENC_A, ENC_B, DEL_AB, DEL_BA, TAMPER, REPLAY, CLOCK, RAW = range(8)


def cfg(aes=0, interval=0):
    return bytes([aes | interval << 1])


def ops(*seq):
    return bytes(b for op in seq for b in op)


def ping_pong(rounds, per_side=2, clock=0):
    out = []
    for r in range(rounds):
        out += [(ENC_A, 40 + r)] * per_side + [(DEL_AB, 0)] * per_side
        out += [(ENC_B, 60 + r)] * per_side + [(DEL_BA, 0)] * per_side
        if clock:
            out.append((CLOCK, clock))
    return ops(*out)


def seeds():
    yield "basic", cfg() + ping_pong(4)
    yield "aes", cfg(aes=1) + ping_pong(4)
    yield "deferred_1000", cfg(interval=3) + ping_pong(12, clock=40)
    yield "deferred_10", cfg(interval=1) + ping_pong(6, clock=1)
    # Bob before Alice's first message, empty plaintext
    yield "bob_first", cfg() + ops((ENC_B, 1), (ENC_A, 0), (DEL_AB, 0), (ENC_B, 0), (DEL_BA, 0))
    # reorder attempts within a chain (refused, stay queued), then in
    # order, then replays
    s = [(ENC_A, 10)] * 8 + [(DEL_AB, i) for i in (7, 6, 5, 4, 3, 2, 1)]
    s += [(DEL_AB, 0)] * 8 + [(REPLAY, i) for i in range(8)]
    yield "reverse", cfg() + ops(*s)
    # a new chain before the old one is complete (pn gap), then in order
    s = [(ENC_A, 5)] * 4 + [(DEL_AB, 0), (ENC_B, 5), (DEL_BA, 0)] + [(ENC_A, 6)] * 2
    s += [(DEL_AB, 3), (DEL_AB, 0), (DEL_AB, 0), (DEL_AB, 0), (DEL_AB, 0), (DEL_AB, 0)]
    yield "old_chain", cfg() + ops(*s)
    # drop one in the middle: everything after it on that link is refused,
    # the other direction goes on
    s = [(ENC_A, 3)] * 6 + [(DEL_AB, 0), (DEL_AB, 0x80), (DEL_AB, 0), (DEL_AB, 0)]
    s += [(ENC_B, 4), (DEL_BA, 0), (ENC_A, 7), (DEL_AB, 0), (DEL_AB, 0)]
    yield "drop", cfg() + ops(*s)
    # drop the last message of a chain: the next chain is refused (pn gap)
    s = [(ENC_A, 3)] * 2 + [(DEL_AB, 0), (DEL_AB, 0x80), (ENC_B, 1), (DEL_BA, 0)]
    s += [(ENC_A, 2), (DEL_AB, 0)]
    yield "drop_chain_end", cfg(interval=0) + ops(*s)
    # swap two: the second first is refused, then both in order
    s = [(ENC_A, 9)] * 3 + [(DEL_AB, 1), (DEL_AB, 0), (DEL_AB, 0), (DEL_AB, 0)]
    yield "swap", cfg(aes=1) + ops(*s)
    # tampering of every header region
    s = [(ENC_A, 30), (ENC_A, 30)]
    for pos in (0, 1, 2, 3, 4, 20, 35, 36, 39, 40, 43, 44, 60, 89):
        s.append((TAMPER, 0, 0, pos, 1))
        s.append((TAMPER, 0, 1, pos, 0x80))
    s += [(DEL_AB, 0), (DEL_AB, 0)]
    yield "tamper", cfg() + ops(*s)
    # raw garbage of several lengths, valid-looking outer header
    raw = bytes([3, 1, 0, 0]) + bytes(range(32)) + bytes(8) + bytes(20)
    yield "raw", cfg() + ops((RAW, 0, len(raw))) + raw + ops((RAW, 1, 3)) + b"\x03\x01\x00"
    # random scripts
    for seed in range(6):
        rnd = random.Random(seed)
        s = bytearray([rnd.randrange(256)])
        for _ in range(150):
            op = rnd.choices(range(8), weights=[20, 20, 18, 18, 5, 5, 10, 1])[0]
            s.append(op)
            n = {TAMPER: 4, RAW: 2}.get(op, 1)
            s += bytes(rnd.randrange(256) for _ in range(n))
            if op == RAW:
                s += bytes(rnd.randrange(256) for _ in range(s[-1] % 64))
        yield "random%d" % seed, bytes(s)


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
