#!/usr/bin/env python3
"""Logs a user can act on, at the default log level: failed -L streams name
the destination and the reason (rate-limited); the client's tunnel errors
name the address and give a hint; the server logs wrong-path and
wrong-scheme clients (rate-limited); nothing unformatted reaches the logs
(every line carries our "rvpn-client[PID]: level:" prefix)."""

import os
import re
import shutil
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (NAME_UNKNOWN, Proc, Runner, TestSkip, World, check, free_port,  # noqa: E402
                     log, port_accepts, run_tool, wait_until, ws_handshake)

R = Runner("messages")

PREFIX_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d )?rvpn-(client|server)\[\d+\]: "
                       r"(error|warn|info|debug): ")
BURST = 5  # RV_LOG_RL_BURST (common/wire/rv_log.h)


def max_lines(t0):
    """What the limit allows since t0: one burst per window begun."""
    return BURST * (1 + int((time.monotonic() - t0) * 1000) // 10000) + 1


def assert_prefixed(p):
    """Every line but the harness' first "#" line is one of ours."""
    lines = p.log_text().splitlines()
    for i, line in enumerate(lines):
        if i == 0 and line.startswith("#"):
            continue
        check(PREFIX_RE.match(line), "%s: unprefixed log line %r" % (p.name, line))


def lines_with(p, phrase):
    return [l for l in p.log_text().splitlines() if phrase in l]


def wait_phrase(p, phrase, timeout=15):
    wait_until(lambda: lines_with(p, phrase), timeout, "%r in %s's log" % (phrase, p.name))
    line = lines_with(p, phrase)[0]
    log("  %s: %s" % (p.name, line[line.index(": ") + 2:]))
    return line


def client_proc(w, url, extra=()):
    port = free_port()
    a = [w.client_bin, "-k", w.client_key, "-s", w.server_pub, "-D",
         "127.0.0.1:%d" % port] + list(extra) + [url]
    p = Proc("rvpn-client-msg", a, w.tmp, env=w.env())
    w.extra_clients.append(p)  # stopped and checked (exit 0) at teardown
    return p, port


def stop_clients(w, procs):
    """Stop clients that keep retrying (their log lines would spill into the
    next test's rate-limit window); each must exit 0 on SIGTERM."""
    for p in procs:
        rc, _secs, killed = p.stop(20)
        check(not killed and rc == 0, "%s: exit %r after SIGTERM" % (p.name, rc))
        w.extra_clients.remove(p)
        assert_prefixed(p)


def tls_server(w):
    exe = shutil.which("openssl")
    if not exe:
        raise TestSkip("openssl CLI not installed (Debian package openssl)")
    if getattr(w, "msg_tls", None):
        return w.msg_tls
    cert = os.path.join(w.tmp, "msg.crt")
    key = os.path.join(w.tmp, "msg.key.pem")
    run_tool([exe, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=rvpn-test",
              "-addext", "subjectAltName=IP:127.0.0.1,DNS:127.0.0.1"])
    os.chmod(key, 0o600)
    port = free_port()
    argv = w.server_argv() + ["--cert", cert, "--cert-key", key]
    argv[argv.index("-l") + 1] = "127.0.0.1:%d" % port
    p = Proc("rvpn-server-tls", argv, w.tmp, env=w.env())
    w.extra_clients.append(p)
    wait_until(lambda: p.alive() and port_accepts("127.0.0.1", port), 20, "the TLS server")
    w.msg_tls = (p, port, cert)
    return w.msg_tls


def forward_conn(port):
    """Connect to a -L port; the client closes it when the stream fails."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.settimeout(10)
        return s.recv(16)
    finally:
        s.close()


@R.test(timeout=60)
def failed_forwards_say_why(w):
    refused = free_port()  # nothing listens there
    fw = {}
    extra = []
    for name, dst in (("refused", "127.0.0.1:%d" % refused),
                      ("denied", "127.0.0.2:80"),
                      ("unknown", "%s:80" % NAME_UNKNOWN)):
        fw[name] = free_port()
        extra += ["-L", "127.0.0.1:%d:%s" % (fw[name], dst)]
    p, socks = client_proc(w, w.url, extra)
    wait_until(lambda: p.alive() and "tunnel up" in p.log_text(), 20, "the tunnel")
    t0 = time.monotonic()
    for name in ("refused", "denied", "unknown"):
        check(forward_conn(fw[name]) == b"", "%s: the -L port sent data" % name)
    wait_phrase(p, "-> 127.0.0.1:%d: the server could not open it: connection refused"
                % refused)
    wait_phrase(p, "-> 127.0.0.2:80: the server could not open it: not allowed by the "
                "server's access rules")
    wait_phrase(p, "-> %s:80: the server could not open it: host unreachable / name does "
                "not resolve" % NAME_UNKNOWN)
    # Many more: a bounded number of lines (one window of the limit).
    for _ in range(30):
        forward_conn(fw["refused"])
    wait_until(lambda: p.alive(), 5, "the client")
    n = len(lines_with(p, "the server could not open it"))
    log("  33 failed streams -> %d log lines" % n)
    check(3 <= n <= max_lines(t0), "%d lines for 33 failed streams (limit %d per 10 s)"
          % (n, BURST))
    assert_prefixed(p)


@R.test(timeout=60)
def tunnel_errors_name_address_and_hint(w):
    dead = free_port()
    p, _ = client_proc(w, "ws://127.0.0.1:%d%s" % (dead, w.path))
    wait_phrase(p, "cannot connect to 127.0.0.1:%d: connection refused" % dead)
    check("is rvpn-server running and listening there?" in lines_with(p, "cannot connect")[0],
          "no hint in the refused line")
    check(not lines_with(p, "Unable to connect"), "lws' bare text is still there")
    q, _ = client_proc(w, "ws://127.0.0.1:%d/wrong-path" % w.server_port)
    wait_phrase(q, "not an rvpn WebSocket there: check the URL's path")
    wait_phrase(w.server, "WebSocket upgrade to an unknown path")
    stop_clients(w, [p, q])


@R.test(timeout=60)
def wrong_scheme_both_sides(w):
    srv, port, cert = tls_server(w)
    # ws:// to a TLS server.
    p, _ = client_proc(w, "ws://127.0.0.1:%d%s" % (port, w.path))
    wait_phrase(p, "is it a wss:// server? then use wss://")
    wait_phrase(srv, "to this wss:// listener")
    # wss:// to a plain server.
    q, _ = client_proc(w, "wss://127.0.0.1:%d%s" % (w.server_port, w.path), ["--ca", cert])
    wait_phrase(q, "no TLS there: is it a plain ws:// server? then use ws://")
    wait_phrase(w.server, "TLS handshake to a plain ws:// listener: is the client using wss://?")
    # The right scheme still works and prints no stray lines.
    r, _ = client_proc(w, "wss://127.0.0.1:%d%s" % (port, w.path), ["--ca", cert])
    wait_phrase(r, "tunnel up")
    stop_clients(w, [p, q, r])
    assert_prefixed(srv)


@R.test(timeout=60)
def bad_ca_file_no_stray_output(w):
    _srv, port, _cert = tls_server(w)
    bad = os.path.join(w.tmp, "bad-ca.pem")
    with open(bad, "w") as f:
        f.write("not a certificate\n")
    a = [w.client_bin, "-k", w.client_key, "-s", w.server_pub, "-D",
         "127.0.0.1:%d" % free_port(), "--ca", bad, "wss://127.0.0.1:%d%s" % (port, w.path)]
    p = Proc("rvpn-client-badca", a, w.tmp, env=w.env())
    rc = p.wait(20)
    check(rc is not None and rc != 0, "the client ran with a bad --ca (rc %r)" % rc)
    wait_phrase(p, "cannot load the CA certificates from %s" % bad)
    check("mbedtls_x509_crt_parse" not in p.log_text(), "lws' printf reached the output")
    assert_prefixed(p)


@R.test(timeout=60)
def server_wrong_path_rate_limited(w):
    off = w.server.log_size()
    t0 = time.monotonic()
    for i in range(20):
        s, status = ws_handshake(w.server_port, "/nope%d" % i)
        s.close()
        check(status is not None and " 404 " in status, "wrong path answered %r" % status)
    tls_first = bytes.fromhex("160301")  # a TLS record header, then nothing
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", w.server_port), timeout=10)
        s.sendall(tls_first + b"\x00\x05hello")
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        s.close()
    wait_until(lambda: w.server.alive(), 5, "the server")
    new = w.server.log_since(off)
    n = new.count("WebSocket upgrade to an unknown path")
    m = new.count("TLS handshake to a plain ws:// listener")
    log("  20 wrong paths -> %d lines, 20 TLS hellos -> %d lines" % (n, m))
    # Each worker process has its own limiter.
    workers = max(1, len(w.server.tree_pids()) - 1)
    check(n <= workers * max_lines(t0), "%d lines for 20 wrong-path upgrades" % n)
    check(n >= 1 or lines_with(w.server, "unknown path"), "no wrong-path line at all")
    check(m <= workers * max_lines(t0), "%d lines for 20 TLS hellos" % m)
    check(m >= 1 or lines_with(w.server, "plain ws:// listener"), "no TLS-hello line at all")
    assert_prefixed(w.server)
    assert_prefixed(w.client)


if __name__ == "__main__":
    R.main()
