#!/usr/bin/env python3
"""Several servers and failover (issue 10, "Several servers").

1. failover_on_kill: two rvpn-servers (same authorized_keys, same key) on
   loopback, the client given both URLs (--pick first).  Under load (echo
   streams moving data, new streams in a loop) the live server is killed
   with SIGKILL (by PID).  Measured: kill -> first successful new stream
   through the client (bounded, printed; several rounds, p50/max).  Streams
   open at the kill end with EOF/RST within a bound (not hung), and the
   client's status names the other server as live and the killed one as
   failed.  After each round the killed server is restarted on its port.
2. first_returns_without_cut: after a failover to the second server, the
   first one comes back (same port); the client returns to it (status: live
   again) while a stream on the second server keeps working through the
   return and ends normally; the second server's link drains and closes.
3. haproxy_two_servers: HAProxy (mode tcp, health checks every 200 ms) in
   front of two rvpn-servers, config from README.md's fleet section; the
   client has only HAProxy's URL.  Kill the server carrying the tunnel
   under load: the client is back through the other one within seconds
   (measured), open streams fail cleanly.  Skipped without haproxy.
4. rtt_pick_and_own_key: --pick rtt measures both servers and uses the
   faster; B is given as rvpn://KEY@... with its own server key.
5. nginx_two_servers: as 3 with nginx (http proxying with Upgrade, passive
   checks max_fails/fail_timeout), config from README.md's fleet section.
6. config_and_command_line: several "url =" lines in a config file (order
   kept), command-line URLs replace them; a duplicate URL, a bad --pick, an
   rvpn:// URL carrying a private key and a ws:// URL without -s: exit 2.
Every loop is bounded in count and time; only our own processes are
stopped, by PID.  Under --sanitize: fewer rounds and streams.
"""

import base64
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (Proc, Runner, TestFailure, TestSkip, World, check, free_port,  # noqa: E402
                     http_get_raw, log, make_keypair, metric, port_accepts, run_tool,
                     socks_connect,
                     socks_open, tcp_conns_to, wait_until)

R = Runner("failover")

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")
FAILOVER_BOUND_S = 5.0   # kill -> first successful new stream
STREAM_END_BOUND_S = 10.0  # kill -> every open stream ended (EOF/RST); keepalive is 25 s
RETURN_BOUND_S = 15.0    # first: back on the first server (hold-off 3 s + connect)


# ------------------------------------------------------------------ load

class EchoStream(threading.Thread):
    """One stream to the echo target moving 16 KiB round trips until told to
    stop or the stream ends.  outcome: 'stopped', 'eof', 'reset', 'timeout',
    'mismatch' or 'error'; ended: monotonic time it ended."""

    CHUNK = 16 * 1024
    MAX_ROUNDS = 200000

    def __init__(self, w, stop, timeout=15.0):
        super().__init__(daemon=True)
        self.sock = socks_open(w.socks_port, "127.0.0.1", w.targets.ports["echo"], timeout=20)
        self.sock.settimeout(timeout)
        self.stop_ev = stop
        self.rounds = 0
        self.outcome = None
        self.ended = None
        self.first_round = threading.Event()
        self.payload = os.urandom(self.CHUNK)

    def round_trip(self):
        self.sock.sendall(self.payload)
        got = bytearray()
        while len(got) < self.CHUNK:
            d = self.sock.recv(self.CHUNK - len(got))
            if not d:
                return "eof"
            got += d
        return None if bytes(got) == self.payload else "mismatch"

    def run(self):
        try:
            for _ in range(self.MAX_ROUNDS):
                if self.stop_ev.is_set():
                    self.outcome = "stopped"
                    break
                r = self.round_trip()
                if r is not None:
                    self.outcome = r
                    break
                self.rounds += 1
                self.first_round.set()
            else:
                self.outcome = "stopped"
        except socket.timeout:
            self.outcome = "timeout"
        except (ConnectionResetError, BrokenPipeError):
            self.outcome = "reset"
        except OSError as e:
            self.outcome = "error %s" % e
        self.ended = time.monotonic()
        self.first_round.set()
        try:
            self.sock.close()
        except OSError:
            pass


class NewStreams(threading.Thread):
    """New streams in a loop (SOCKS CONNECT + HTTP GET), bounded."""

    MAX = 5000

    def __init__(self, w, stop):
        super().__init__(daemon=True)
        self.w = w
        self.stop_ev = stop
        self.results = []  # (monotonic, ok)

    def run(self):
        for _ in range(self.MAX):
            if self.stop_ev.wait(0.02):
                break
            self.results.append((time.monotonic(), try_stream(self.w, timeout=5.0)))


def try_stream(w, timeout=5.0, port=None):
    """One new stream: CONNECT to the HTTP target and GET /; True if the
    index came back."""
    try:
        r = socks_connect(port or w.socks_port, "127.0.0.1", w.targets.http_port,
                          timeout=timeout)
    except OSError:
        return False
    try:
        if r.rep != 0:
            return False
        st, _h, body = http_get_raw(r.sock, "127.0.0.1", "/", read_timeout=timeout)
        return st == 200 and body == w.targets.files["/"]
    except (OSError, EOFError, TestFailure, ValueError):
        return False
    finally:
        r.close()


def first_success_after(w, t0, bound):
    """Seconds from t0 to the first new stream that works, polling with new
    streams (bounded by `bound` seconds and a count)."""
    deadline = t0 + bound + 5.0
    for _ in range(2000):
        if try_stream(w, timeout=min(5.0, max(0.5, deadline - time.monotonic()))):
            return time.monotonic() - t0
        if time.monotonic() >= deadline:
            break
    raise TestFailure("no new stream worked within %.1f s of the kill" % (bound + 5.0))


def start_load(w, n_echo):
    stop = threading.Event()
    echos = [EchoStream(w, stop) for _ in range(n_echo)]
    for e in echos:
        e.start()
    for e in echos:
        check(e.first_round.wait(20) and e.outcome is None,
              "echo stream did not start moving data (%r)" % e.outcome)
    news = NewStreams(w, stop)
    news.start()
    wait_until(lambda: any(ok for _t, ok in news.results), 20, "a new stream under load")
    return stop, echos, news


def tunnel_port(pid, ports):
    """The one port among `ports` to which pid (the load balancer) holds the
    same connection 0.3 s apart: the tunnel, not a health check (HAProxy
    checks every 200 ms, each a short connection of its own).  None unless
    exactly one port has one."""
    first = {p: tcp_conns_to(pid, p) for p in ports}
    time.sleep(0.3)
    kept = [p for p, inodes in first.items() if inodes & tcp_conns_to(pid, p)]
    return kept[0] if len(kept) == 1 else None


def check_streams_ended(echos, t_kill, what):
    for e in echos:
        e.join(STREAM_END_BOUND_S + 5)
    for e in echos:
        check(e.ended is not None, "%s: an open stream hung after the kill" % what)
        check(e.outcome in ("eof", "reset"), "%s: an open stream ended with %r, expected EOF "
              "or RST" % (what, e.outcome))
        check(e.ended - t_kill <= STREAM_END_BOUND_S, "%s: an open stream ended %.1f s after "
              "the kill (bound %.0f s)" % (what, e.ended - t_kill, STREAM_END_BOUND_S))
    return max(e.ended - t_kill for e in echos)


# ------------------------------------------------------------------ worlds

class FleetWorld(World):
    """Servers A and B (same key, same authorized_keys) on two loopback
    ports; the client gets both URLs, --pick first, and a control socket."""

    def __init__(self, args, pick="first", own_key_b=False):
        self.pick = pick
        self.ports = []
        self.procs = {}
        self.key_b = None  # B's own server key (an rvpn:// URL carries its public half)
        super().__init__(args, client=False)
        try:
            if own_key_b:
                self.key_b = os.path.join(self.tmp, "server-b.key")
                self.pub_b = make_keypair(self.server_bin, self.key_b)
            self.ctl = os.path.join(self.tmp, "client.sock")
            self.ports = [self.server_port, free_port()]
            self.procs = {self.server_port: self.server}
            self.server = None  # ours: self.procs
            self.ports[1] = self.start_fleet_server(self.ports[1], fresh_ok=True)
            self.client_extra += ["--control", self.ctl, "--pick", pick]
            self.start_client(forwards=False)
        except BaseException:
            log("fleet set-up failed; logs:\n" + self.log_tails())
            self.teardown(check_exit=False)
            raise

    def url_of(self, port):
        return "ws://127.0.0.1:%d%s" % (port, self.path)

    def client_urls(self):
        urls = [self.url_of(p) for p in self.ports]
        if self.key_b:
            b64u = base64.urlsafe_b64encode(base64.b64decode(self.pub_b)).decode().rstrip("=")
            urls[1] = "rvpn://%s@127.0.0.1:%d%s?tls=0" % (b64u, self.ports[1], self.path)
        return urls

    def client_argv(self, key=None, socks_port=None, forwards=(), extra=()):
        a = super().client_argv(key=key, socks_port=socks_port, forwards=forwards, extra=extra)
        return a[:-1] + self.client_urls()

    def server_argv_at(self, port, is_b):
        a = self.server_argv()
        i = a.index("-l")
        a[i + 1] = "127.0.0.1:%d" % port
        if self.key_b and is_b:
            a[a.index("-k") + 1] = self.key_b
        return a

    def start_fleet_server(self, port, fresh_ok=False):
        """Start a server on port (its own "listening" line, not just an open
        port: the machine is shared).  fresh_ok: another port if that one
        was taken in between.  Returns the port."""
        is_b = port == self.ports[1]
        for _ in range(3):
            p = Proc("rvpn-server-%d" % port, self.server_argv_at(port, is_b), self.tmp,
                     env=self.env())
            marker = "listening on 127.0.0.1:%d " % port
            r = wait_until(lambda: "dead" if not p.alive() else
                           ("up" if marker in p.log_text() else None), 20,
                           "rvpn-server to listen on 127.0.0.1:%d" % port)
            if r == "up":
                self.procs[port] = p
                return port
            log("rvpn-server on port %d did not start:\n%s" % (port, p.tail(5)))
            p.kill()
            if fresh_ok:
                port = free_port()
        raise TestFailure("rvpn-server did not start on 127.0.0.1:%d" % port)

    def kill_server(self, port):
        p = self.procs.pop(port)
        p.kill()  # SIGKILL by PID
        return p

    def wait_client(self, timeout=30, proxy_port=None, proc=None):
        # The base class also checks self.server, which is None here.
        proc = proc or self.client
        port = proxy_port or self.socks_port
        t0 = time.monotonic()
        wait_until(lambda: self._check_alive(proc) and port_accepts("127.0.0.1", port) and
                   try_stream(self, port=port), timeout, "the client to carry a stream",
                   interval=0.1)
        return time.monotonic() - t0

    def status(self):
        r = run_tool([self.client_bin, "status", "--json", "--control", self.ctl], timeout=10)
        check(r.returncode == 0, "client status: exit %d" % r.returncode)
        return json.loads(r.stdout.decode())

    def live_port(self):
        j = self.status()
        u = j.get("live_server")
        for p in self.ports:
            if u == self.url_of(p):
                return p
        return None

    def assert_alive(self):
        for p in list(self.procs.values()) + [self.client] + self.extra_clients:
            if p is not None and not p.stopped:
                self._check_alive(p)

    def teardown(self, check_exit=True):
        for p in [self.client] + self.extra_clients:
            if p is not None:
                self.stop_proc(p, p.name, check_exit)
        self.client = None
        self.extra_clients = []
        for port, p in list(self.procs.items()):
            self.stop_proc(p, p.name, check_exit)
        self.procs = {}
        super().teardown(check_exit)

    def log_tails(self):
        out = [super().log_tails()]
        for p in getattr(self, "procs", {}).values():
            out.append("--- %s (pid %d) log tail:\n%s" % (p.name, p.pid, p.tail()))
        return "\n".join(out)


# ------------------------------------------------------------------ tests

def sizes(w):
    return (2, 2) if w.sanitize else (4, 3)  # (echo streams, rounds)


@R.test(timeout=120, world=FleetWorld)
def failover_on_kill(w):
    n_echo, rounds = sizes(w)
    a, b = w.ports
    check(wait_until(lambda: w.live_port(), 10, "a live server in status") == a,
          "--pick first: the first URL should be live")
    times = []
    for rnd in range(rounds):
        live = w.live_port()
        other = b if live == a else a
        stop, echos, news = start_load(w, n_echo)
        try:
            t_kill = time.monotonic()
            w.kill_server(live)
            took = first_success_after(w, t_kill, FAILOVER_BOUND_S)
            ended = check_streams_ended(echos, t_kill, "round %d" % (rnd + 1))
            wait_until(lambda: len([1 for t, _ok in news.results
                                    if t > t_kill + took + 0.5]) >= 3, 15,
                       "new streams in the loop after the failover")
        finally:
            stop.set()
            news.join(15)
        log("round %d: killed %s; first new stream after %.3f s; open streams ended "
            "within %.3f s" % (rnd + 1, w.url_of(live), took, ended))
        check(took < FAILOVER_BOUND_S, "failover took %.2f s (bound %.0f s)" %
              (took, FAILOVER_BOUND_S))
        times.append(took)
        later = [ok for t, ok in news.results if t > t_kill + took + 0.5]
        check(later and all(later), "new streams after the failover: %d of %d failed" %
              (later.count(False), len(later)))
        j = w.status()
        check(j["live_server"] == w.url_of(other), "status names %r live, expected %r" %
              (j["live_server"], w.url_of(other)))
        dead = [s for s in j["servers"] if s["url"] == w.url_of(live)]
        check(dead and dead[0]["health"] == "failed" and dead[0]["failures"] >= 1,
              "status of the killed server: %r" % dead)
        # Back to two servers (the first policy then returns to A).
        w.start_fleet_server(live)
        wait_until(lambda: w.live_port() == a, RETURN_BOUND_S, "the client back on %s" %
                   w.url_of(a), interval=0.1)
    times.sort()
    metric("failover_kill_to_stream_p50_ms", statistics.median(times) * 1000, "ms")
    metric("failover_kill_to_stream_max_ms", times[-1] * 1000, "ms")
    log("failover kill -> first successful stream: %s s" % ", ".join("%.3f" % t for t in times))


@R.test(timeout=90, world=FleetWorld)
def first_returns_without_cut(w):
    a, b = w.ports
    wait_until(lambda: w.live_port() == a, 10, "A live")
    w.kill_server(a)
    wait_until(lambda: w.live_port() == b, FAILOVER_BOUND_S + 5, "failover to B", interval=0.1)
    stop = threading.Event()
    e = EchoStream(w, stop)  # lives on B
    for _ in range(3):
        check(e.round_trip() is None, "echo on B before the return")
    w.start_fleet_server(a)
    t0 = time.monotonic()
    wait_until(lambda: w.live_port() == a, RETURN_BOUND_S, "the client back on A", interval=0.1)
    log("back on the first server %.2f s after it was restarted" % (time.monotonic() - t0))
    j = w.status()
    sb = [s for s in j["servers"] if s["url"] == w.url_of(b)][0]
    check(sb["role"] == "draining", "B while its stream is open: %r (expected draining)" % sb)
    # The stream on B was not cut by the return.
    for _ in range(20):
        check(e.round_trip() is None, "echo on B after the return to A: stream cut")
    check(try_stream(w), "a new stream after the return")
    e.sock.shutdown(socket.SHUT_WR)
    check(e.sock.recv(10) == b"", "the echo stream's normal end (EOF after our FIN)")
    e.sock.close()
    wait_until(lambda: [s for s in w.status()["servers"]
                        if s["url"] == w.url_of(b)][0]["role"] == "", 10,
               "B's drained link to close")


@R.test(timeout=60, world=lambda a: FleetWorld(a, pick="rtt", own_key_b=True))
def rtt_pick_and_own_key(w):
    """--pick rtt: both servers are measured at connect and one is live;
    B is given as rvpn://KEY@... with its own server key (A uses -s)."""
    j = wait_until(lambda: (lambda j: j if j["live_server"] else None)(w.status()), 10,
                   "a live server")
    check(all(s["rtt_ms"] is not None for s in j["servers"]),
          "--pick rtt: every server's handshake round trip measured: %r" % j["servers"])
    log("rtt: %s" % ", ".join("%s %.3f ms%s" % (s["url"], s["rtt_ms"], " (live)" if s["live"]
                                                 else "") for s in j["servers"]))
    best = min(j["servers"], key=lambda s: s["rtt_ms"])
    check(best["live"], "the live server is not the lowest round trip: %r" % j["servers"])
    live = w.live_port()
    other = [p for p in w.ports if p != live][0]
    w.kill_server(live)
    t0 = time.monotonic()
    took = first_success_after(w, t0, FAILOVER_BOUND_S)
    check(took < FAILOVER_BOUND_S, "rtt failover took %.2f s" % took)
    check(w.live_port() == other, "after the kill the other server (its own key for B) is live")


@R.test(timeout=60, world=FleetWorld)
def config_and_command_line(w):
    """Several "url =" lines in the config file; command-line URLs replace
    them; bad URL lists are refused with exit 2 and a clear message."""
    conf = os.path.join(w.tmp, "fleet.conf")
    ctl = os.path.join(w.tmp, "fleet.sock")
    port = free_port()
    with open(conf, "w") as f:
        f.write("key = %s\nserver-key = %s\nsocks = 127.0.0.1:%d\npick = first\n"
                "url = %s\nurl = %s\n" % (w.client_key, w.server_pub, port,
                                           w.url_of(w.ports[1]), w.url_of(w.ports[0])))
    os.chmod(conf, 0o644)
    p = Proc("rvpn-client-conf", [w.client_bin, "-c", conf, "--control", ctl], w.tmp,
             env=w.env())
    w.extra_clients.append(p)
    w.wait_client(proxy_port=port, proc=p)

    def status():
        r = run_tool([w.client_bin, "status", "--json", "--control", ctl], timeout=10)
        return json.loads(r.stdout.decode())
    j = wait_until(lambda: (lambda j: j if j["live_server"] else None)(status()), 10,
                   "the config client's live server")
    check([s["url"] for s in j["servers"]] == [w.url_of(w.ports[1]), w.url_of(w.ports[0])],
          "servers from the config, in order: %r" % j["servers"])
    check(j["live_server"] == w.url_of(w.ports[1]), "first policy: the config's first URL")

    def run(extra, config=True):
        r = subprocess.run([w.client_bin] + (["-c", conf] if config else []) +
                           ["--control", "none"] + extra,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=10,
                           env=w.env())
        return r.returncode, r.stderr.decode()
    # A command-line URL replaces the config's list: here one that is given twice.
    u = w.url_of(w.ports[0])
    rc, err = run([u, u])
    check(rc == 2 and "given twice" in err, "duplicate URL: %d %r" % (rc, err))
    rc, err = run(["--pick", "fastest", u])
    check(rc == 2 and "--pick" in err, "bad --pick: %d %r" % (rc, err))
    b64u = base64.urlsafe_b64encode(base64.b64decode(w.server_pub)).decode().rstrip("=")
    rc, err = run(["rvpn://%s@127.0.0.1:%d%s?tls=0&key=%s" % (b64u, w.ports[0], w.path, b64u)])
    check(rc == 2 and "private key" in err, "rvpn:// URL with key=: %d %r" % (rc, err))
    rc, err = run(["--no-config", "-k", w.client_key, u], config=False)
    check(rc == 2 and "missing the server" not in err and "-s" in err,
          "ws:// URL without -s: %d %r" % (rc, err))


# ------------------------------------------------------------------ HAProxy

def find_haproxy():
    return shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy",) if os.access(p, os.X_OK)), None)


def readme_haproxy_conf():
    """The ```haproxy block of README.md's fleet section, verbatim."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^## Running several servers \(a fleet\)\n(.*?)(?=^## |\Z)", text,
                  re.S | re.M)
    check(m, "README.md has no '## Running several servers (a fleet)' section")
    fence = re.search(r"^```haproxy\n(.*?)^```", m.group(1), re.S | re.M)
    check(fence, "README.md's fleet section has no ```haproxy block")
    return fence.group(1)


def haproxy_conf_for(conf, front, a, b):
    for placeholder in ("127.0.0.1:8443", "127.0.0.1:8080", "127.0.0.1:8081"):
        check(conf.count(placeholder) == 1, "README's haproxy block: %r occurs %d times, "
              "expected once" % (placeholder, conf.count(placeholder)))
    return (conf.replace("127.0.0.1:8443", "127.0.0.1:%d" % front)
            .replace("127.0.0.1:8080", "127.0.0.1:%d" % a)
            .replace("127.0.0.1:8081", "127.0.0.1:%d" % b))


class HaproxyWorld(FleetWorld):
    """Servers A and B behind a private HAProxy; the client has only its URL."""

    def __init__(self, args):
        self.haproxy = None
        self.front = None
        exe = find_haproxy()
        if not exe:
            raise TestSkip("haproxy not installed (Debian package haproxy)")
        self.haproxy_exe = exe
        super().__init__(args)

    def client_urls(self):
        if self.front is None:
            self.front = free_port()
            d = os.path.join(self.tmp, "haproxy")
            os.makedirs(d, exist_ok=True)
            conf = os.path.join(d, "haproxy.cfg")
            with open(conf, "w") as f:
                f.write(haproxy_conf_for(readme_haproxy_conf(), self.front, *self.ports))
            self.haproxy = Proc("haproxy", [self.haproxy_exe, "-db", "-f", conf], self.tmp)
            wait_until(lambda: self._check_alive(self.haproxy) and
                       port_accepts("127.0.0.1", self.front), 20,
                       "haproxy to listen on 127.0.0.1:%d" % self.front)
        return ["ws://127.0.0.1:%d%s" % (self.front, self.path)]

    def carrying_port(self):
        """The server HAProxy's connection for the tunnel goes to."""
        return tunnel_port(self.haproxy.pid, [p for p in self.ports if p in self.procs])

    def teardown(self, check_exit=True):
        super().teardown(check_exit)
        if self.haproxy is not None:
            self.haproxy.stop(10)
            self.haproxy = None

    def log_tails(self):
        out = [super().log_tails()]
        if getattr(self, "haproxy", None) is not None:
            out.append("--- haproxy log tail:\n%s" % self.haproxy.tail())
        return "\n".join(out)


@R.test(timeout=90, world=HaproxyWorld)
def haproxy_two_servers(w):
    n_echo, _ = sizes(w)
    # Both servers pass HAProxy's health checks before the kill.
    stop, echos, news = start_load(w, n_echo)
    try:
        live = wait_until(w.carrying_port, 10, "HAProxy's tunnel connection to a server")
        t_kill = time.monotonic()
        w.kill_server(live)
        took = first_success_after(w, t_kill, FAILOVER_BOUND_S)
        ended = check_streams_ended(echos, t_kill, "haproxy")
    finally:
        stop.set()
        news.join(15)
    other = [p for p in w.ports if p != live][0]
    log("haproxy: killed the server on port %d; first new stream after %.3f s; open streams "
        "ended within %.3f s" % (live, took, ended))
    metric("failover_haproxy_kill_to_stream_ms", took * 1000, "ms")
    check(took < FAILOVER_BOUND_S, "failover through HAProxy took %.2f s" % took)
    check(wait_until(w.carrying_port, 5, "the tunnel through HAProxy") == other,
          "the tunnel should now go to port %d" % other)
    for _ in range(3):
        check(try_stream(w), "new streams through HAProxy after the failover")


# ------------------------------------------------------------------ nginx

NGINX_CONF = """worker_processes 1;
error_log @D@/error.log notice;
pid @D@/nginx.pid;
events { worker_connections 256; }
http {
    access_log @D@/access.log;
    client_body_temp_path @D@/tmp;
    proxy_temp_path @D@/tmp;
    fastcgi_temp_path @D@/tmp;
    uwsgi_temp_path @D@/tmp;
    scgi_temp_path @D@/tmp;
@UPSTREAM@
    server {
        listen 127.0.0.1:@PORT@;
        root @D@/html;
@LOCATION@    }
}
"""


def find_nginx():
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def readme_nginx_blocks():
    """The upstream and location blocks of the fleet section's ```nginx."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^## Running several servers \(a fleet\)\n(.*?)(?=^## |\Z)", text,
                  re.S | re.M)
    check(m, "README.md has no fleet section")
    fence = re.search(r"^```nginx\n(.*?)^```", m.group(1), re.S | re.M)
    check(fence, "README.md's fleet section has no ```nginx block")
    up = re.search(r"^upstream .*?^\}\n", fence.group(1), re.S | re.M)
    loc = re.search(r"^location .*?^\}\n", fence.group(1), re.S | re.M)
    check(up and loc, "README's fleet nginx block needs upstream { } and location { }")
    return up.group(0), loc.group(0)


class NginxFleetWorld(FleetWorld):
    """Servers A and B behind a private nginx (http proxying with Upgrade,
    passive checks); the client has only nginx's URL."""

    def __init__(self, args):
        self.nginx = None
        self.front = None
        exe = find_nginx()
        if not exe:
            raise TestSkip("nginx not installed (Debian package nginx-light)")
        self.nginx_exe = exe
        super().__init__(args)

    def client_urls(self):
        if self.front is None:
            up, loc = readme_nginx_blocks()
            for ph, block in (("127.0.0.1:8080", up), ("127.0.0.1:8081", up),
                              ("/SECRET_PATH", loc)):
                check(block.count(ph) == 1, "README's fleet nginx block: %r occurs %d times" %
                      (ph, block.count(ph)))
            up = up.replace("127.0.0.1:8080", "127.0.0.1:%d" % self.ports[0]).replace(
                "127.0.0.1:8081", "127.0.0.1:%d" % self.ports[1])
            loc = loc.replace("/SECRET_PATH", self.path)
            d = os.path.join(self.tmp, "nginx")
            for sub in ("tmp", "html"):
                os.makedirs(os.path.join(d, sub), exist_ok=True)
            self.front = free_port()
            conf = os.path.join(d, "nginx.conf")
            with open(conf, "w") as f:
                f.write(NGINX_CONF.replace("@D@", d).replace("@PORT@", str(self.front))
                        .replace("@UPSTREAM@", up).replace("@LOCATION@", loc))
            self.nginx = Proc("nginx", [self.nginx_exe, "-p", d + "/", "-c", conf, "-g",
                                        "daemon off; master_process off;"], self.tmp)
            wait_until(lambda: self._check_alive(self.nginx) and
                       port_accepts("127.0.0.1", self.front), 20,
                       "nginx to listen on 127.0.0.1:%d" % self.front)
        return ["ws://127.0.0.1:%d%s" % (self.front, self.path)]

    def carrying_port(self):
        return tunnel_port(self.nginx.pid, [p for p in self.ports if p in self.procs])

    def teardown(self, check_exit=True):
        super().teardown(check_exit)
        if self.nginx is not None:
            self.nginx.stop(10)
            self.nginx = None

    def log_tails(self):
        out = [super().log_tails()]
        if getattr(self, "nginx", None) is not None:
            out.append("--- nginx log tail:\n%s" % self.nginx.tail())
        return "\n".join(out)


@R.test(timeout=90, world=NginxFleetWorld)
def nginx_two_servers(w):
    n_echo, _ = sizes(w)
    stop, echos, news = start_load(w, n_echo)
    try:
        live = wait_until(w.carrying_port, 10, "nginx's tunnel connection to a server")
        t_kill = time.monotonic()
        w.kill_server(live)
        took = first_success_after(w, t_kill, FAILOVER_BOUND_S)
        ended = check_streams_ended(echos, t_kill, "nginx")
    finally:
        stop.set()
        news.join(15)
    other = [p for p in w.ports if p != live][0]
    log("nginx: killed the server on port %d; first new stream after %.3f s; open streams "
        "ended within %.3f s" % (live, took, ended))
    metric("failover_nginx_kill_to_stream_ms", took * 1000, "ms")
    check(took < FAILOVER_BOUND_S, "failover through nginx took %.2f s" % took)
    check(wait_until(w.carrying_port, 5, "the tunnel through nginx") == other,
          "the tunnel should now go to port %d" % other)
    for _ in range(3):
        check(try_stream(w), "new streams through nginx after the failover")


if __name__ == "__main__":
    R.main(make_world=FleetWorld)
