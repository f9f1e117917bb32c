#!/usr/bin/env python3
"""Live status: `rvpn-server status` / `rvpn-client status` (text and JSON)
after a real transfer, the Prometheus endpoint (--metrics) scraped and
parsed, the control socket's mode, one instance per socket, a stale socket
replaced, other users refused, 20 concurrent requests, a silent client
closed within the read timeout.  Owner: status helper (h10)."""

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (MiB, Proc, Runner, TestSkip, World, check, free_port,  # noqa: E402
                     http_get_raw, log, metric, port_accepts, socks_open, wait_until)

R = Runner("status")

READ_TIMEOUT_S = 2.0  # RV_CTL_READ_TIMEOUT_MS
PROM_LINE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})?'
                       r' [-+]?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$')
PROM_META = re.compile(r'^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* '
                       r'(counter|gauge|histogram|summary|untyped))$')


def make_world(args):
    w = World.__new__(World)
    w.metrics_port = free_port()
    w.client_metrics_port = free_port()
    World.__init__(w, args, server_extra=["--metrics", "127.0.0.1:%d" % w.metrics_port],
                   client_extra=["--metrics", "127.0.0.1:%d" % w.client_metrics_port])
    return w


def argv_no_metrics(w, extra):
    """The world's server command line with extra, without its --metrics."""
    a = w.server_argv(extra)
    i = a.index("--metrics")
    return a[:i] + a[i + 2:]


def server_sock(w):
    return os.path.join(w.server.xdg, "rvpn", "server.sock")


def client_sock(w):
    return os.path.join(w.client.xdg, "rvpn", "client.sock")


def run_status(binary, args, env=None, timeout=15, user=None):
    argv = [binary, "status"] + list(args)
    if user:
        argv = user + argv
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       env=env)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def status_json(binary, path):
    rc, out, err = run_status(binary, ["--json", "--control", path])
    check(rc == 0, "%s status --json: exit %d: %s" % (binary, rc, err.strip()))
    try:
        return json.loads(out)
    except ValueError as e:
        raise AssertionError("status --json is not JSON (%s): %r" % (e, out[:300]))


def transfer(w, path="/1m"):
    s = socks_open(w.socks_port, "127.0.0.1", w.targets.http_port)
    try:
        st, _h, body = http_get_raw(s, "127.0.0.1", path)
    finally:
        s.close()
    check(st == 200 and body == w.targets.files[path], "transfer through the tunnel failed")
    return len(body)


def scrape(port, path="/metrics"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        return r.status, r.headers, r.read().decode()


def parse_prom(text):
    """Every line is a comment (HELP/TYPE) or `name{labels} value`."""
    values = {}
    for line in text.splitlines():
        if line.startswith("#"):
            check(PROM_META.match(line), "bad Prometheus comment line: %r" % line)
            continue
        check(PROM_LINE.match(line), "bad Prometheus sample line: %r" % line)
        name, value = line.rsplit(" ", 1)
        values[name] = float(value)
    return values


@R.test(timeout=60)
def server_status_after_transfer(w):
    n = transfer(w)
    rc, out, err = run_status(w.server_bin, ["--control", server_sock(w)])
    check(rc == 0, "rvpn-server status: exit %d: %s" % (rc, err))
    check("sessions: 1 open" in out and "test-client" in out,
          "status text lacks the session:\n" + out)
    # The default path: the same answer with only the environment to go on.
    env = dict(os.environ, XDG_RUNTIME_DIR=w.server.xdg)
    env.pop("RUNTIME_DIRECTORY", None)
    rc, out2, err = run_status(w.server_bin, [], env=env)
    check(rc == 0 and "sessions: 1 open" in out2, "status via the default path: %d %s" %
          (rc, err))
    j = status_json(w.server_bin, server_sock(w))
    check(j["program"] == "rvpn-server" and j["sessions"] == 1,
          "sessions %r, want 1" % j.get("sessions"))
    check(j["bytes_in"] + j["bytes_out"] > n, "bytes %d+%d, want > %d" %
          (j["bytes_in"], j["bytes_out"], n))
    check(len(j["session_list"]) == 1, "session_list: %r" % j["session_list"])
    s = j["session_list"][0]
    check(s["key"] == "test-client" and s["bytes_out"] >= n and s["peer"].startswith("127.0.0.1"),
          "session entry: %r" % s)
    check(s["dh_send_steps"] + s["dh_recv_steps"] >= 1, "no ratchet steps: %r" % s)
    check(j["dns"]["queries"] >= 0 and j["pool"] is not None, "pool/dns missing: %r" % j)


@R.test(timeout=60)
def client_status(w):
    n = transfer(w)
    j = status_json(w.client_bin, client_sock(w))
    check(j["program"] == "rvpn-client" and j["tunnel"] == "up", "tunnel: %r" % j.get("tunnel"))
    check(j["streams_opened"] >= 1 and j["bytes_in"] >= n, "client counters: %r" % j)
    check(j["attempts"] >= 1 and j["server"] == w.url, "client: %r" % j)
    check(any(l["kind"] == "socks5" for l in j["listeners"]), "listeners: %r" % j["listeners"])
    rc, out, err = run_status(w.client_bin, ["--control", client_sock(w)])
    check(rc == 0 and "tunnel: up" in out and "SOCKS5 127.0.0.1:%d" % w.socks_port in out,
          "client status text: %d %s\n%s" % (rc, err, out))


@R.test(timeout=60)
def metrics_endpoints(w):
    n = transfer(w)
    st, headers, text = scrape(w.metrics_port)
    check(st == 200 and headers.get("Content-Type", "").startswith("text/plain"),
          "metrics answer: %d %r" % (st, headers.get("Content-Type")))
    v = parse_prom(text)
    check(v.get("rvpn_sessions") == 1, "rvpn_sessions = %r" % v.get("rvpn_sessions"))
    total = v.get('rvpn_bytes_total{direction="in"}', 0) + \
        v.get('rvpn_bytes_total{direction="out"}', 0)
    check(total > n, "rvpn_bytes_total = %r, want > %d" % (total, n))
    for name in ("rvpn_streams_open", "rvpn_pool_hits_total", "rvpn_dns_queries_total",
                 "rvpn_uptime_seconds"):
        check(name in v, "%s missing from the metrics" % name)
    check("# TYPE rvpn_bytes_total counter" in text, "no TYPE line for rvpn_bytes_total")
    st, _h, text = scrape(w.client_metrics_port)
    v = parse_prom(text)
    check(v.get("rvpn_tunnel_up") == 1, "client rvpn_tunnel_up = %r" % v.get("rvpn_tunnel_up"))
    try:
        scrape(w.metrics_port, "/other")
        raise AssertionError("/other answered 200")
    except urllib.error.HTTPError as e:
        check(e.code == 404, "/other: HTTP %d, want 404" % e.code)


@R.test(timeout=30)
def socket_mode_0600(w):
    for path in (server_sock(w), client_sock(w)):
        st = os.lstat(path)
        check(stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600,
              "%s: mode %o, want a socket with 0600" % (path, stat.S_IMODE(st.st_mode)))


@R.test(timeout=60)
def one_instance_per_socket(w):
    a = argv_no_metrics(w, ["-l", "127.0.0.1:%d" % free_port(), "--control", server_sock(w)])
    p = Proc("rvpn-server-second", a, w.tmp, env=w.env())
    rc = p.wait(20)
    check(rc == 1, "a second server on the same control socket exited %r, want 1" % (rc,))
    check("another instance is running" in p.log_text(), "no clear message:\n" + p.tail())
    # The first one still answers.
    check(status_json(w.server_bin, server_sock(w))["sessions"] == 1, "first server lost")


@R.test(timeout=60)
def second_instance_on_default_path_runs(w):
    """Without --control the socket is a convenience: a second server of the
    same user (same runtime dir) starts anyway, without 'status', and says so."""
    port = free_port()
    a = argv_no_metrics(w, ["-l", "127.0.0.1:%d" % port])
    p = Proc("rvpn-server-second-default", a, w.tmp, env=w.env(), xdg=w.server.xdg)
    try:
        wait_until(lambda: w._check_alive(p) and port_accepts("127.0.0.1", port), 20,
                   "the second server to listen")
        check("no control socket" in p.log_text(), "no warning:\n" + p.tail())
        check(status_json(w.server_bin, server_sock(w))["sessions"] == 1, "first server lost")
    finally:
        w.stop_proc(p, "second server")


@R.test(timeout=60)
def stale_socket_replaced(w):
    path = os.path.join(w.tmp, "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # the file stays, nobody listens: a crashed instance's
    port = free_port()
    a = argv_no_metrics(w, ["-l", "127.0.0.1:%d" % port, "--control", path])
    p = Proc("rvpn-server-stale", a, w.tmp, env=w.env())
    try:
        wait_until(lambda: p.alive() and run_status(w.server_bin, ["--control", path])[0] == 0,
                   20, "the server on the replaced stale socket to answer")
        check("replacing the stale control socket" in p.log_text(), "no log line:\n" + p.tail())
    finally:
        rc, _t, _k = p.stop(20)
    check(rc == 0, "server on the stale path exited %r" % (rc,))
    check(not os.path.exists(path), "the control socket was left behind after exit")


@R.test(timeout=30)
def other_user_refused(w):
    if os.geteuid() != 0:
        raise TestSkip("needs root to run a command as another user")
    tool = shutil.which("setpriv")
    if not tool:
        raise TestSkip("setpriv not installed")
    import pwd
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        raise TestSkip("no user nobody")
    # The socket's directory is private too: let nobody reach the socket
    # itself for this check (the socket's own mode and SO_PEERCRED must hold).
    d = os.path.dirname(server_sock(w))
    modes = [(x, os.stat(x).st_mode) for x in (w.tmp, w.server.xdg, d)]
    try:
        for x, _m in modes:
            os.chmod(x, 0o711)
        rc, out, err = run_status(w.server_bin, ["--control", server_sock(w)],
                                  user=[tool, "--reuid=%d" % nobody.pw_uid,
                                        "--regid=%d" % nobody.pw_gid, "--clear-groups"])
    finally:
        for x, m in modes:
            os.chmod(x, stat.S_IMODE(m))
    check(rc == 1 and "permission denied" in err and out == "",
          "nobody asking: exit %d, stdout %r, stderr %r" % (rc, out[:100], err))


@R.test(timeout=60)
def concurrent_requests(w):
    path = server_sock(w)
    results = [None] * 20

    def ask(i):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(10)
                s.connect(path)
                s.sendall(b"status json\n")
                data = b""
                for _ in range(1000):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                results[i] = json.loads(data)["sessions"]
        except (OSError, ValueError) as e:
            results[i] = e
    t0 = time.monotonic()
    threads = [threading.Thread(target=ask, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    check(all(r == 1 for r in results), "answers: %r" % results)
    metric("status_20_concurrent_ms", (time.monotonic() - t0) * 1000, "ms")


@R.test(timeout=30)
def silent_client_closed(w):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(READ_TIMEOUT_S + 5)
        s.connect(server_sock(w))
        t0 = time.monotonic()
        data = s.recv(100)
        dt = time.monotonic() - t0
    check(data == b"", "a silent client got %r" % data)
    check(READ_TIMEOUT_S - 0.5 <= dt <= READ_TIMEOUT_S + 2,
          "silent client closed after %.2fs, want about %.1fs" % (dt, READ_TIMEOUT_S))
    metric("status_silent_close_s", dt, "s")
    # Still serving afterwards.
    check(status_json(w.server_bin, server_sock(w))["sessions"] == 1, "status after timeout")


@R.test(timeout=30)
def not_running_and_bad_options(w):
    gone = os.path.join(w.tmp, "nothing.sock")
    rc, out, err = run_status(w.server_bin, ["--control", gone])
    check(rc == 1 and "rvpn-server is not running (no control socket at %s)" % gone in err,
          "status without a server: %d %r" % (rc, err))
    rc, out, err = run_status(w.client_bin, ["--json", "--control", gone])
    check(rc == 1 and "rvpn-client is not running" in err, "client: %d %r" % (rc, err))
    a = argv_no_metrics(w, ["-l", "127.0.0.1:%d" % free_port(), "--control", "none"]) + [
        "--metrics", "0.0.0.0:%d" % free_port()]
    r = subprocess.run(a, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
    check(r.returncode == 2 and b"not a loopback address" in r.stdout,
          "--metrics 0.0.0.0 without --metrics-any: %d %r" % (r.returncode, r.stdout[-200:]))
    log("non-loopback metrics refused: ok")


if __name__ == "__main__":
    R.main(make_world)
