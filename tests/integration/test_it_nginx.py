#!/usr/bin/env python3
"""Behind nginx, exactly as README.md describes it: a private nginx (Debian
package nginx-light, a normal process on a loopback port, config, logs and
temp files in the test's directory) terminates TLS with a self-signed
certificate (openssl CLI; DNS:localhost and IP:127.0.0.1) and proxies the
secret path to a plain-ws rvpn-server on 127.0.0.1.  The server block holds
the README's ```nginx `location` block verbatim (only SECRET_PATH and the
upstream port substituted), so this fails when the README's config stops
working.  The server uses its default path (`rvpn-server url < server.key`).

Two clients: wss://localhost:Q/PATH and wss://127.0.0.1:Q/PATH (the client
checks the IP SAN itself), both with --ca.  Through each: an HTTP GET, 50
concurrent streams SHA-256-checked both ways, a 32 MiB download (8 MiB under
--sanitize) checked by SHA-256, and an idle stream that survives 3 s with
the same WebSocket through nginx.  nginx answers another path with its own
404; rvpn-server sees nginx (127.0.0.1, nginx's upstream socket) as the peer.
Exits 77 when nginx is not installed.
Owner: integration helper."""

import asyncio
import json
import os
import random
import re
import shutil
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (MiB, Pattern, Proc, Runner, TestFailure, TestSkip, World, check,  # noqa: E402
                     free_port, http_get_raw, log, metric, port_accepts, recv_exact, run_tool,
                     socks_open, tcp_conns_to, wait_closed, wait_until)
import test_it_load as L  # noqa: E402

R = Runner("nginx")

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")
N_STREAMS = 50
IDLE_S = 3.0


def find_nginx():
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def readme_location_block():
    """The `location` block of the ```nginx fence under "### Behind nginx",
    as the README has it (from the `location` line to its closing brace)."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^### Behind nginx\n(.*?)(?=^#{2,3} |\Z)", text, re.S | re.M)
    check(m, "README.md has no '### Behind nginx' section")
    fence = re.search(r"^```nginx\n(.*?)^```", m.group(1), re.S | re.M)
    check(fence, "README.md's 'Behind nginx' section has no ```nginx block")
    block = re.search(r"^location .*?^\}\n", fence.group(1), re.S | re.M)
    check(block, "README.md's nginx block has no top-level location { ... }")
    return block.group(0)


def location_for(block, path, upstream_port):
    """Substitute the README's placeholders; each must occur exactly once."""
    for placeholder in ("/SECRET_PATH", "127.0.0.1:8080"):
        check(block.count(placeholder) == 1, "README's nginx block: %r occurs %d times, "
              "expected once" % (placeholder, block.count(placeholder)))
    return block.replace("/SECRET_PATH", path).replace("127.0.0.1:8080",
                                                        "127.0.0.1:%d" % upstream_port)


NGINX_CONF = """worker_processes 1;
error_log @D@/error.log notice;
events { worker_connections 256; }
http {
    access_log @D@/access.log;
    client_body_temp_path @D@/tmp;
    proxy_temp_path @D@/tmp;
    fastcgi_temp_path @D@/tmp;
    uwsgi_temp_path @D@/tmp;
    scgi_temp_path @D@/tmp;
    server {
        listen 127.0.0.1:@PORT@ ssl;
        server_name localhost;
        ssl_certificate @CERT@;
        ssl_certificate_key @KEY@;
        root @D@/html;
@LOCATION@    }
}
"""


class Nginx:
    """nginx in the foreground, one process (master_process off), stopped by
    PID with SIGTERM."""

    def __init__(self, tmp, cert, key, location):
        self.dir = os.path.join(tmp, "nginx")
        for sub in ("tmp", "html"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.location = location
        last = None
        for _ in range(3):  # the free port may be taken in between
            self.port = free_port()
            self.conf = os.path.join(self.dir, "nginx.conf")
            with open(self.conf, "w") as f:
                f.write(NGINX_CONF.replace("@D@", self.dir).replace("@PORT@", str(self.port))
                        .replace("@CERT@", cert).replace("@KEY@", key)
                        .replace("@LOCATION@", location))
            self.proc = Proc("nginx", [find_nginx(), "-p", self.dir + "/", "-c", self.conf,
                                       "-g", "daemon off; master_process off; pid %s/nginx.pid;"
                                       % self.dir], tmp)
            try:
                wait_until(lambda: self._alive() and port_accepts("127.0.0.1", self.port), 20,
                           "nginx to listen on 127.0.0.1:%d" % self.port)
                return
            except TestFailure as e:
                last = e
                self.proc.kill()
        raise TestFailure("nginx did not start: %s\nerror.log:\n%s" % (last, self.error_log()))

    def _alive(self):
        check(self.proc.alive(), "nginx exited:\n%s\nerror.log:\n%s" % (self.proc.tail(),
                                                                         self.error_log()))
        return True

    def error_log(self):
        try:
            with open(os.path.join(self.dir, "error.log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""


def make_cert(tmp):
    """Self-signed P-256 certificate for DNS:localhost and IP:127.0.0.1 only."""
    exe = shutil.which("openssl")
    if not exe:
        raise TestSkip("openssl CLI not installed (Debian package openssl)")
    cert = os.path.join(tmp, "nginx.crt")
    key = os.path.join(tmp, "nginx.key.pem")
    run_tool([exe, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
              "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
    os.chmod(key, 0o600)
    return cert, key


class NginxWorld(World):
    """World whose rvpn-server runs plain ws on its default (key-derived)
    path behind nginx; the main client uses wss://localhost:Q, a second one
    wss://127.0.0.1:Q."""

    def __init__(self, args):
        self.nginx = None
        self.client_url = None
        self.clients = []  # (label, proc, socks port)
        super().__init__(args, client=False)
        try:
            with open(self.server_key, "rb") as f:
                self.path = run_tool([self.server_bin, "url"], stdin=f).stdout.decode().strip()
            check(re.fullmatch(r"/[A-Za-z0-9_-]+", self.path),
                  "rvpn-server url printed %r, not a path" % self.path)
            self.cert, self.cert_key = make_cert(self.tmp)
            self.nginx = Nginx(self.tmp, self.cert, self.cert_key,
                               location_for(readme_location_block(), self.path,
                                            self.server_port))
            with open(self.server_key, "rb") as f:
                self.client_url = run_tool(
                    [self.server_bin, "url", "wss://localhost:%d" % self.nginx.port],
                    stdin=f).stdout.decode().strip()
            check(self.client_url == "wss://localhost:%d%s" % (self.nginx.port, self.path),
                  "rvpn-server url wss://... printed %r" % self.client_url)
            self.client_extra += ["--ca", self.cert]
            self.start_client(forwards=False)
            self.clients.append(("localhost", self.client, self.socks_port))
            port = free_port()
            ip_url = "wss://127.0.0.1:%d%s" % (self.nginx.port, self.path)
            p = Proc("rvpn-client-ip", [self.client_bin, "-k", self.client_key, "-s",
                                        self.server_pub, "-D", "127.0.0.1:%d" % port, "--ca",
                                        self.cert] + (["-v"] if self.verbose else []) + [ip_url],
                     self.tmp, env=self.env())
            self.extra_clients.append(p)
            self.wait_client(proxy_port=port, proc=p)
            self.clients.append(("ip", p, port))
        except BaseException:
            log("nginx world set-up failed; logs:\n" + self.log_tails())
            self.teardown(check_exit=False)
            raise

    @property
    def url(self):
        return self.client_url

    def server_argv(self, extra=()):
        # As the README runs it: no --path, the key-derived default.
        a = super().server_argv(extra)
        i = a.index("--path")
        return a[:i] + a[i + 2:]

    def teardown(self, check_exit=True):
        for p in [self.client] + self.extra_clients:
            if p is not None:
                self.stop_proc(p, p.name, check_exit)
        self.client = None
        self.extra_clients = []
        if self.nginx is not None:
            self.stop_proc(self.nginx.proc, "nginx", check_exit)
            self.nginx = None
        super().teardown(check_exit)

    def assert_alive(self):
        super().assert_alive()
        if self.nginx is not None:
            self.nginx._alive()

    def log_tails(self):
        t = super().log_tails()
        if self.nginx is not None:
            t += "\n--- nginx error.log tail:\n" + self.nginx.error_log()
        return t


def tunnel_through(port):
    return lambda w, host, tport: socks_open(port, host, tport)


def tunnel_ups(proc):
    return proc.log_text().count("tunnel up")


@R.test(timeout=60)
def readme_block_in_config(w):
    block = readme_location_block()
    with open(w.nginx.conf) as f:
        conf = f.read()
    check(w.nginx.location in conf, "the README's location block is not in nginx.conf")
    check(w.nginx.location == location_for(block, w.path, w.server_port), "substitution")
    log("README location block (%d lines) proxies %s to 127.0.0.1:%d" % (
        block.count("\n"), w.path, w.server_port))
    for label, p, _port in w.clients:
        check(tunnel_ups(p) >= 1, "client %s: no 'tunnel up' logged" % label)


@R.test(timeout=60)
def http_get_through_socks(w):
    for label, _p, port in w.clients:
        s = socks_open(port, "127.0.0.1", w.targets.http_port)
        try:
            st, _h, body = http_get_raw(s, "127.0.0.1", "/1m")
            check(st == 200 and body == w.targets.files["/1m"],
                  "%s: GET /1m through nginx: status %d, %d bytes" % (label, st, len(body)))
        finally:
            s.close()


@R.test(timeout=120)
def concurrent_50_streams_sha256_both_ways(w):
    rnd = random.Random(4321)
    pat = Pattern(5)
    max_each = 16 * 1024 if w.sanitize else 64 * 1024
    for label, _p, port in w.clients:
        plan = [(rnd.randrange(1, max_each), rnd.randrange(1, max_each))
                for _ in range(N_STREAMS)]
        stats = {"bytes": 0, "done": 0}
        errors = []

        async def run_all():
            async def guarded(i, up, down):
                try:
                    await L.one_duplex_stream(port, "127.0.0.1", w.targets.ports["duplex"],
                                              up, down, pat, stats)
                except Exception as e:  # noqa: BLE001 - collect, report all
                    errors.append("stream %d (up %d down %d): %r" % (i, up, down, e))
            await asyncio.wait_for(asyncio.gather(
                *(guarded(i, up, down) for i, (up, down) in enumerate(plan))), 90)

        t0 = time.monotonic()
        asyncio.run(run_all())
        secs = time.monotonic() - t0
        for e in errors[:10]:
            log("  " + e)
        check(not errors and stats["done"] == N_STREAMS, "%s: %d of %d streams through nginx "
              "failed" % (label, N_STREAMS - stats["done"], N_STREAMS))
        metric("nginx_%s_streams_%d_seconds" % (label, N_STREAMS), secs, "s")


@R.test(timeout=120)
def download_32mib_sha256(w):
    size = 8 * MiB if w.sanitize else 32 * MiB
    for label, _p, port in w.clients:
        mbps = L.large_download(w, size, opener=tunnel_through(port))
        metric("nginx_%s_download_%dMiB_MBps" % (label, size // MiB), mbps, "MB/s")


@R.test(timeout=60)
def idle_stream_survives(w):
    """One idle stream per client, IDLE_S seconds with nothing sent: it stays
    open, still echoes, and the WebSockets through nginx are the same ones."""
    upstream = tcp_conns_to(w.nginx.proc.pid, w.server_port)
    check(len(upstream) == len(w.clients), "nginx holds %d connections to rvpn-server, "
          "expected %d" % (len(upstream), len(w.clients)))
    ups = [tunnel_ups(p) for _l, p, _port in w.clients]
    socks = [socks_open(port, "127.0.0.1", w.targets.ports["echo"]) for _l, _p, port in w.clients]
    try:
        for s in socks:
            s.sendall(b"before")
            check(recv_exact(s, 6) == b"before", "echo before idling")
        t0 = time.monotonic()
        # The idle period is what is tested: every stream must stay open.
        closed = [wait_closed(s, max(0.0, IDLE_S - (time.monotonic() - t0))) for s in socks]
        check(not any(closed), "idle streams closed within %.0f s: %r" % (IDLE_S, closed))
        for s in socks:
            s.settimeout(10)
            s.sendall(b"after")
            check(recv_exact(s, 5) == b"after", "echo after idling")
    finally:
        for s in socks:
            s.close()
    check(tcp_conns_to(w.nginx.proc.pid, w.server_port) == upstream,
          "nginx's upstream connections changed while idle")
    check([tunnel_ups(p) for _l, p, _port in w.clients] == ups, "a client reconnected while idle")
    metric("nginx_idle_stream_s", IDLE_S, "s")


@R.test(timeout=60)
def nginx_answers_other_paths_itself(w):
    ctx = ssl.create_default_context(cafile=w.cert)
    for path in ("/index.html", w.path + "x"):
        raw = socket.create_connection(("127.0.0.1", w.nginx.port), timeout=10)
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        try:
            st, headers, body = http_get_raw(s, "localhost", path, 10)
        finally:
            s.close()
        server_hdr = [h for h in headers if h.lower().startswith("server:")]
        check(st == 404, "GET %s through nginx: status %d" % (path, st))
        check(server_hdr and "nginx" in server_hdr[0], "404 without Server: nginx: %r" % headers)
        check(b"<center>nginx" in body, "not nginx's own 404 page: %r" % body[:200])


@R.test(timeout=60)
def server_sees_nginx_as_peer(w):
    """The server's log names nginx's address (127.0.0.1) as each client's
    peer; the sockets behind that are nginx's (the clients hold none to the
    server), and `rvpn-server status --json` agrees."""
    # Every line naming the client (by its authorized_keys name or key).
    lines = [l for l in w.server.log_text().splitlines()
             if "test-client" in l or w.client_pub[:16] in l]
    # Addresses after the "rvpn-server[PID]:" prefix (IPv4, bracketed IPv6, ::1).
    peers = [re.findall(r"\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]|::1",
                        l.split("]:", 1)[-1]) for l in lines]
    peers = [p for p in peers if p]
    check(len(peers) >= len(w.clients), "rvpn-server logged %d lines naming the client and "
          "its address, expected >= %d:\n%s" % (len(peers), len(w.clients), w.server.tail()))
    check(all(a == "127.0.0.1" for p in peers for a in p),
          "rvpn-server's log names peers other than nginx's 127.0.0.1: %r" % lines)
    upstream = tcp_conns_to(w.nginx.proc.pid, w.server_port)
    check(len(upstream) == len(w.clients), "nginx holds %d connections to rvpn-server, "
          "expected %d" % (len(upstream), len(w.clients)))
    for label, p, _port in w.clients:
        check(not tcp_conns_to(p.pid, w.server_port),
              "client %s talks to rvpn-server directly" % label)
        check(tcp_conns_to(p.pid, w.nginx.port), "client %s holds no connection to nginx" % label)
    sock = os.path.join(w.server.xdg, "rvpn", "server.sock")
    r = run_tool([w.server_bin, "status", "--json", "--control", sock])
    st = json.loads(r.stdout.decode())
    found = []

    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k == "peer":
                    found.append(v)
                else:
                    walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(st)
    check(len(found) == len(w.clients) and
          all(v == "127.0.0.1" or v.startswith("127.0.0.1:") for v in found),
          "rvpn-server status --json peers: %r" % found)
    log("peers: log %r, status %r; nginx holds %d upstream sockets" % (
        [p for p in peers], found, len(upstream)))


def main():
    if not find_nginx():
        log("nginx: nginx is not installed (Debian package nginx-light): SKIPPING the "
            "behind-nginx test")
        print("0 passed, 0 failed", flush=True)
        sys.exit(77)
    R.main(make_world=NginxWorld)


if __name__ == "__main__":
    main()
