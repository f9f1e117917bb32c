#!/usr/bin/env python3
"""wss://: the server with --cert/--cert-key (a self-signed certificate made
on the fly with the openssl CLI), the client verifying it with --ca; a wrong
CA refused; --insecure-tls accepted (the Noise handshake pins the key); an
HTTPS request on a wrong path gets an ordinary 404.
Owner: integration helper."""

import os
import ssl
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (MiB, Proc, Runner, World, check, free_port, http_get_raw, log,  # noqa: E402
                     make_self_signed, metric, port_accepts, socks_connect, socks_open,
                     wait_until)

R = Runner("tls")


def tls_world(args):
    return World(args, tls=True)


def extra_client(w, extra):
    port = free_port()
    a = [w.client_bin, "-k", w.client_key, "-s", w.server_pub, "-D", "127.0.0.1:%d" % port] \
        + extra + [w.url]
    p = Proc("rvpn-client-tls", a, w.tmp, env=w.env())
    w.extra_clients.append(p)
    wait_until(lambda: port_accepts("127.0.0.1", port), 20, "extra client's SOCKS port")
    return p, port


@R.test(timeout=120, world=tls_world)
def wss_with_ca_carries_streams(w):
    w.assert_works()
    s = socks_open(w.socks_port, "::1", w.targets.http_port)
    try:
        st, _h, body = http_get_raw(s, "x", "/1m")
        check(st == 200 and body == w.targets.files["/1m"], "1 MiB over wss: status %d" % st)
    finally:
        s.close()


@R.test(timeout=200, world=tls_world)
def wss_wrong_ca_refused(w):
    other_cert, _k = make_self_signed(w.tmp, "other")
    _p, port = extra_client(w, ["--ca", other_cert])
    r = socks_connect(port, "127.0.0.1", w.targets.http_port, timeout=90)
    r.close()
    check(r.rep != 0, "a certificate not signed by --ca was accepted")
    log("wrong CA: %s" % ("closed" if r.rep is None else "reply %d" % r.rep))
    w.assert_works()


@R.test(timeout=200, world=tls_world)
def wss_insecure_tls_works(w):
    _p, port = extra_client(w, ["--insecure-tls"])
    w.wait_client(timeout=60, proxy_port=port, proc=_p)


@R.test(timeout=120, world=tls_world)
def https_wrong_path_plain_404(w):
    ctx = ssl.create_default_context(cafile=w.cert)
    raw = socket.create_connection(("127.0.0.1", w.server_port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    try:
        st, headers, body = http_get_raw(s, "localhost", "/index.html", 10)
    finally:
        s.close()
    blob = ("\n".join(headers)).encode() + body
    check(st == 404, "HTTPS GET on a wrong path: status %d" % st)
    check(b"rvpn" not in blob.lower(), "404 page hints at rvpn")


@R.test(timeout=300, world=tls_world)
def wss_large_stream_checksum(w):
    import test_it_load as L
    size = 64 * MiB if w.sanitize else 256 * MiB
    metric("wss_upload_%dMiB_MBps" % (size // MiB), L.large_upload(w, size), "MB/s")
    metric("wss_download_%dMiB_MBps" % (size // MiB), L.large_download(w, size), "MB/s")


if __name__ == "__main__":
    R.main()
