#!/usr/bin/env python3
"""bench_tunnel - throughput of one large stream through rvpn (ws:// and
wss://, each direction) and the memory bound of the backpressure case.
"direct" is the same transfer without the tunnel: the harness's own ceiling
(Python sender/receiver with SHA-256 on both ends).
Not part of ctest (speed goals never gate the suite).  Owner: integration
helper.  Uses the integration harness (tests/integration/rvpn_it.py):
loopback only, its own dnsmasq, self-signed certificate made with openssl.

  python3 tests/bench/bench_tunnel.py --build BUILD_DIR [--mib 1024] [--runs 3]
  python3 tests/bench/bench_tunnel.py --client PATH --server PATH ...

Prints one line per measurement ("bench_tunnel: <what> = <value> <unit>")
and the best/median of the runs.
"""

import argparse
import os
import statistics
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "integration"))

import rvpn_it  # noqa: E402
from rvpn_it import MiB, World, kill_all_started  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", help="build directory (finds client/rvpn-client, server/rvpn-server)")
    ap.add_argument("--client")
    ap.add_argument("--server")
    ap.add_argument("--mib", type=int, default=1024, help="stream size in MiB (default 1024)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-tls", action="store_true")
    ap.add_argument("--no-backpressure", action="store_true")
    ap.add_argument("--sanitize", action="store_true")
    a = ap.parse_args()
    if a.build:
        a.client = a.client or os.path.join(a.build, "client", "rvpn-client")
        a.server = a.server or os.path.join(a.build, "server", "rvpn-server")
    if not (a.client and a.server):
        ap.error("give --build or --client and --server")
    for b in (a.client, a.server):
        if not os.access(b, os.X_OK):
            sys.exit("bench_tunnel: %s is not an executable" % b)
    args = rvpn_it.parse_args(["--client", a.client, "--server", a.server] +
                              (["--sanitize"] if a.sanitize else []))
    sys.path.insert(0, os.path.join(here, "..", "integration"))
    import test_it_load as L
    import test_it_backpressure as B

    size = a.mib * MiB
    results = {}

    def out(what, value, unit):
        print("bench_tunnel: %-44s = %8.1f %s" % (what, value, unit), flush=True)

    schemes = ["direct"] + ["ws"] + ([] if a.no_tls else ["wss"])

    def direct(w, host, port):
        import socket
        return socket.create_connection((host, port), timeout=30)
    try:
        for scheme in schemes:
            try:
                w = World(args, tls=(scheme == "wss"), forwards=False)
            except rvpn_it.TestSkip as e:
                print("bench_tunnel: %s skipped: %s" % (scheme, e))
                continue
            try:
                for direction, fn in (("upload", L.large_upload), ("download", L.large_download)):
                    vals = []
                    for i in range(a.runs):
                        t0 = time.monotonic()
                        if scheme == "direct":
                            v = fn(w, size, opener=direct)
                        else:
                            v = fn(w, size)
                        vals.append(v)
                        out("%s %s %d MiB run %d (%.1fs)" % (scheme, direction, a.mib, i + 1,
                                                            time.monotonic() - t0), v, "MB/s")
                    results[(scheme, direction)] = vals
                    out("%s %s best" % (scheme, direction), max(vals), "MB/s")
                    out("%s %s median" % (scheme, direction), statistics.median(vals), "MB/s")
            finally:
                w.teardown()
                for e in w.shutdown_errors:
                    print("bench_tunnel: shutdown problem: %s" % e)
        if not a.no_backpressure:
            os.environ.setdefault("RVPN_IT_BP_MIB", str(a.mib))
            w = World(args, forwards=False)
            try:
                B.target_stops_reading_while_client_sends(w)
                B.client_stops_reading_while_target_sends(w)
            finally:
                w.teardown()
    finally:
        kill_all_started()


if __name__ == "__main__":
    main()
