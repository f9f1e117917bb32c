#!/usr/bin/env python3
"""The server's side of UDP datagrams (PROTOCOL.md §6.11, §6.12, §8A), driven
by the scripted protocol peer (tests/hostile/tool_peer.c, mode "dgram") in
place of a client: loopback UDP echo (IPv4, IPv6, a name from the harness
dnsmasq, the largest datagram, an empty one), destinations denied by the
access rules and names that do not resolve (dropped, counted, the
association lives on), replies only from addresses sent to, the
association limit, the idle timeout, a client's close, and --no-udp.
"""
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rvpn_it as it  # noqa: E402

R = it.Runner("integration.udp_server")
DGRAM_MAX = 16384


class UdpEcho:
    """Echoes every datagram back to its sender; remembers who sent."""

    def __init__(self, family, host):
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.peers = []
        self.count = 0
        self._stop = threading.Event()
        self.sock.settimeout(0.2)
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65536)
            except OSError:
                continue
            self.count += 1
            self.peers.append(addr)
            try:
                self.sock.sendto(data, addr)
            except OSError:
                pass

    def stop(self):
        self._stop.set()
        self.sock.close()


class Peer:
    """One hostile_peer in dgram mode: lines in, events out (a reader
    thread queues them)."""

    def __init__(self, world, tool):
        argv = [tool, "-s", "127.0.0.1:%d" % world.server_port, "-p", world.path,
                "-k", world.client_key, "-P", world.server_pub, "dgram"]
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.q = queue.Queue()
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def cmd(self, *lines):
        for line in lines:
            self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def until(self, pred, timeout, what):
        """Lines up to and including the first one pred accepts."""
        end = time.monotonic() + timeout
        got = []
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise it.TestFailure("peer: no %s within %.0fs; got %r" % (what, timeout, got))
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise it.TestFailure("peer exited before %s; got %r" % (what, got))
            got.append(line)
            self.lines.append(line)
            if pred(line):
                return got

    def mark(self, name, timeout=30):
        """Everything printed before MARK name (after the commands sent)."""
        self.cmd("mark " + name)
        return self.until(lambda l: l == "MARK " + name, timeout, "MARK " + name)[:-1]

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(5)


def tool(world):
    t = world.args.tools.get("peer")
    if not t:
        # ctest passes no tools to integration scripts: the build's own.
        t = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(world.args.server))),
                         "tests", "hostile", "hostile_peer")
    if not os.access(t, os.X_OK):
        raise it.TestSkip("no hostile_peer tool at %s" % t)
    return t


def start_peer(world, want_dgram=True):
    pe = Peer(world, tool(world))
    got = pe.until(lambda l: l.startswith("RESULT datagram="), 20, "the handshake")
    agreed = got[-1].endswith("=1")
    it.check(agreed == want_dgram, "datagrams agreed: %s, expected %s" % (agreed, want_dgram))
    return pe


def events(lines, kind):
    out = []
    for line in lines:
        if line.startswith(kind + " "):
            out.append(dict(kv.split("=", 1) for kv in line.split()[1:]))
    return out


def udp_status(world):
    env = dict(os.environ)
    env["XDG_RUNTIME_DIR"] = world.server.xdg
    env.pop("RUNTIME_DIRECTORY", None)
    r = subprocess.run([world.server_bin, "status", "--json"], env=env, capture_output=True,
                       text=True, timeout=20)
    it.check(r.returncode == 0, "status --json failed: %s" % r.stderr)
    return json.loads(r.stdout)["udp"]


def wait_status(world, pred, what, timeout=10):
    last = {}

    def ok():
        last.update(udp_status(world))
        return pred(last)
    try:
        it.wait_until(ok, timeout, what)
    except it.TestFailure:
        raise it.TestFailure("%s; udp status: %r" % (what, last))
    return last


def make_world(extra=()):
    def f(args):
        w = it.World(args, client=False, server_extra=list(extra))
        w.echo4 = UdpEcho(socket.AF_INET, "127.0.0.1")
        w.echo6 = UdpEcho(socket.AF_INET6, "::1")
        return w
    return f


@R.test(timeout=90)
def test_echo(w):
    """IPv4, IPv6 and a name through dnsmasq come back from the echo, with
    the echo's address as source; the largest and an empty datagram too."""
    pe = start_peer(w)
    try:
        e4, e6 = w.echo4.port, w.echo6.port
        t0 = time.monotonic()
        pe.cmd("send 1 127.0.0.1 %d 68656c6c6f" % e4, "expect 1 5000")
        got = pe.until(lambda l: l.startswith("DGRAM"), 10, "the IPv4 echo")
        it.metric("udp_first_echo_ms", (time.monotonic() - t0) * 1000, "ms")
        pe.cmd("send 1 ::1 %d 7636" % e6, "expect 1 5000",
               "send 2 %s %d 6e616d65" % (it.NAME_V4, e4), "expect 1 5000",
               "fill 3 127.0.0.1 %d %d" % (e4, DGRAM_MAX), "expect 1 5000",
               "send 4 127.0.0.1 %d -" % e4, "expect 1 5000")
        got += pe.mark("echo")
        d = events(got, "DGRAM")
        it.check(len(d) == 5, "5 echoes expected, got %r" % got)
        it.check(d[0] == {"assoc": "1", "src": "127.0.0.1:%d" % e4, "len": "5",
                          "data": "68656c6c6f"}, "IPv4 echo: %r" % d[0])
        it.check(d[1]["assoc"] == "1" and d[1]["src"] == "[::1]:%d" % e6 and
                 d[1]["data"] == "7636", "IPv6 echo: %r" % d[1])
        it.check(d[2]["assoc"] == "2" and d[2]["src"] == "127.0.0.1:%d" % e4 and
                 d[2]["data"] == "6e616d65", "echo of a datagram to a name: %r" % d[2])
        it.check(d[3]["assoc"] == "3" and d[3]["len"] == str(DGRAM_MAX),
                 "largest datagram: %r" % d[3])
        it.check(d[4]["assoc"] == "4" and d[4]["len"] == "0", "empty datagram: %r" % d[4])
        st = wait_status(w, lambda s: s["datagrams_in"] >= 5 and s["assocs_open"] >= 4,
                         "the server to count 5 replies")
        it.check(st["datagrams_out"] >= 5 and st["dropped_denied"] == 0,
                 "counters: %r" % st)
        # Round trips (for the log): 50 small echoes.
        rtts = []
        for i in range(50):
            t0 = time.monotonic()
            pe.cmd("send 1 127.0.0.1 %d %04x" % (e4, i), "expect 1 5000")
            pe.until(lambda l: l.startswith("DGRAM"), 10, "echo %d" % i)
            rtts.append(time.monotonic() - t0)
        rtts.sort()
        it.metric("udp_echo_rtt_p50_ms", rtts[len(rtts) // 2] * 1000, "ms")
        it.metric("udp_echo_rtt_p99_ms", rtts[-1] * 1000, "ms")
    finally:
        pe.close()


@R.test(timeout=90)
def test_denied_and_unresolved(w):
    """Denied destinations (an address, a name resolving to one) and a name
    that does not resolve are dropped and counted; the association keeps
    working."""
    pe = start_peer(w)
    try:
        before = udp_status(w)
        n0 = w.echo4.count
        pe.cmd("send 7 127.0.0.2 %d 01" % w.echo4.port,
               "send 7 %s %d 02" % (it.NAME_DENIED, w.echo4.port),
               "send 7 %s %d 03" % (it.NAME_UNKNOWN, w.echo4.port),
               "send 7 10.1.2.3 53 04",
               "send 7 127.0.0.1 %d 05" % w.echo4.port, "expect 1 5000")
        got = pe.until(lambda l: l.startswith("DGRAM"), 10, "the allowed echo")
        st = wait_status(w, lambda s: s["dropped_denied"] >= before["dropped_denied"] + 3 and
                         s["dropped_resolve"] >= before["dropped_resolve"] + 1,
                         "3 denied and 1 unresolved datagram counted")
        got += pe.mark("denied")
        d = events(got, "DGRAM")
        it.check(len(d) == 1 and d[0]["data"] == "05", "only the allowed echo: %r" % got)
        it.check(w.echo4.count == n0 + 1, "the echo got %d datagrams" % (w.echo4.count - n0))
        it.check(st["dropped_denied"] == before["dropped_denied"] + 3, "denied: %r" % st)
        it.check(not events(got, "DCLOSE"), "association closed: %r" % got)
        it.check("denied" in w.server.log_text(), "the server did not log the denial")
    finally:
        pe.close()


@R.test(timeout=90)
def test_replies_only_from_sent_to(w):
    """A datagram to the association's socket from an address it never
    sent to is dropped; one from the echo's address (sent to) passes."""
    pe = start_peer(w)
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        before = udp_status(w)
        n0 = len(w.echo4.peers)
        pe.cmd("send 9 127.0.0.1 %d aa" % w.echo4.port, "expect 1 5000")
        pe.until(lambda l: l.startswith("DGRAM"), 10, "the echo")
        assoc_addr = w.echo4.peers[n0]
        stranger.sendto(b"\xbb", assoc_addr)
        w.echo4.sock.sendto(b"\xcc", assoc_addr)  # unsolicited, but from a sent-to address
        pe.cmd("expect 1 5000", "wait 500")
        got = pe.mark("foreign")
        d = events(got, "DGRAM")
        it.check(len(d) == 1 and d[0]["data"] == "cc" and
                 d[0]["src"] == "127.0.0.1:%d" % w.echo4.port, "replies: %r" % got)
        wait_status(w, lambda s: s["dropped_foreign"] >= before["dropped_foreign"] + 1,
                    "the stranger's datagram counted as foreign")
    finally:
        stranger.close()
        pe.close()


@R.test(timeout=90)
def test_client_close(w):
    """After the client's DATAGRAM_CLOSE the id is dead: its datagrams are
    dropped, the socket is gone; a new id works."""
    pe = start_peer(w)
    try:
        before = udp_status(w)
        pe.cmd("send 20 127.0.0.1 %d 01" % w.echo4.port, "expect 1 5000")
        pe.until(lambda l: l.startswith("DGRAM"), 10, "the echo")
        pe.cmd("close 20 1", "send 20 127.0.0.1 %d 02" % w.echo4.port,
               "send 19 127.0.0.1 %d 03" % w.echo4.port,
               "send 21 127.0.0.1 %d 04" % w.echo4.port, "expect 1 5000", "wait 300")
        got = pe.mark("closed")
        d = events(got, "DGRAM")
        it.check(len(d) == 1 and d[0]["assoc"] == "21", "after close: %r" % got)
        wait_status(w, lambda s: s["dropped_closed"] >= before["dropped_closed"] + 2,
                    "2 datagrams for closed ids counted")
    finally:
        pe.close()
    wait_status(w, lambda s: s["assocs_open"] == 0, "associations freed with the session")


class UdpBlaster:
    """Answers the first datagram from each sender with `count` datagrams
    of `size` bytes, as fast as the socket takes them."""

    def __init__(self, count, size):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sent = 0
        self.done = threading.Event()
        self.sock.settimeout(10)
        self.count, self.size = count, size
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        try:
            _, addr = self.sock.recvfrom(65536)
        except OSError:
            self.done.set()
            return
        chunk = b"z" * self.size
        for _ in range(self.count):
            try:
                self.sock.sendto(chunk, addr)
                self.sent += 1
            except OSError:
                time.sleep(0.001)
        self.done.set()

    def close(self):
        self.sock.close()


@R.test(timeout=120)
def test_reply_flood_bounded(w):
    """A destination floods replies while the client does not read: the
    server queues a bounded amount and drops the rest (counted); its memory
    stays flat; the session survives and the echo works afterwards."""
    n, size = (20000, 1400) if not w.sanitize else (5000, 1400)
    blaster = UdpBlaster(n, size)
    pe = start_peer(w)
    try:
        rss0 = w.server.rss_kib()
        before = udp_status(w)
        pe.cmd("send 30 127.0.0.1 %d 00" % blaster.port, "pause 100")
        peak = rss0
        t_end = time.monotonic() + 60
        while not blaster.done.is_set() and time.monotonic() < t_end:
            peak = max(peak, w.server.rss_kib())
            time.sleep(0.02)
        it.check(blaster.done.is_set(), "the blaster did not finish")
        peak = max(peak, w.server.rss_kib())
        growth_mib = (peak - rss0) / 1024.0
        it.metric("udp_flood_server_rss_growth_mib", growth_mib, "MiB")
        st = wait_status(w, lambda s: s["dropped_send"] + s["datagrams_in"] >=
                         before["dropped_send"] + before["datagrams_in"] + 1, "replies counted")
        pe.cmd("wait 1500")
        got = pe.mark("flood", timeout=60)
        recv = len(events(got, "DGRAM"))
        st = udp_status(w)
        dropped = st["dropped_send"] - before["dropped_send"]
        it.metric("udp_flood_sent", blaster.sent)
        it.metric("udp_flood_delivered", recv)
        it.metric("udp_flood_dropped_by_server", dropped)
        it.check(recv < blaster.sent, "every one of %d datagrams delivered to a client that "
                 "did not read: nothing was bounded" % blaster.sent)
        it.check(dropped > 0, "the server dropped nothing: %r" % st)
        it.check(growth_mib < (64 if w.sanitize else 24),
                 "server RSS grew by %.1f MiB during the flood" % growth_mib)
        pe.cmd("send 31 127.0.0.1 %d 0102" % w.echo4.port, "expect 1 5000")
        pe.until(lambda l: l.startswith("DGRAM") and "assoc=31" in l, 10, "the echo after")
    finally:
        blaster.close()
        pe.close()


@R.test(timeout=90, world=make_world(["--udp-max-assoc", "2"]))
def test_assoc_limit(w):
    pe = start_peer(w)
    try:
        e = w.echo4.port
        pe.cmd("send 1 127.0.0.1 %d 01" % e, "send 2 127.0.0.1 %d 02" % e,
               "send 3 127.0.0.1 %d 03" % e, "expect 3 5000",
               "send 3 127.0.0.1 %d 04" % e, "wait 500")
        got = pe.mark("limit")
        d, c = events(got, "DGRAM"), events(got, "DCLOSE")
        it.check(sorted(x["assoc"] for x in d) == ["1", "2"], "echoes: %r" % got)
        it.check(c == [{"assoc": "3", "reason": "3"}], "CLOSE(LIMIT) for 3: %r" % got)
        st = wait_status(w, lambda s: s["assocs_refused"] == 1 and s["dropped_closed"] >= 2,
                         "1 refused association, 2 datagrams dropped")
        it.check(st["assocs_open"] == 2, "open: %r" % st)
    finally:
        pe.close()


@R.test(timeout=90, world=make_world(["--udp-idle", "1"]))
def test_idle_timeout(w):
    pe = start_peer(w)
    try:
        e = w.echo4.port
        pe.cmd("send 1 127.0.0.1 %d 01" % e, "expect 1 5000")
        pe.until(lambda l: l.startswith("DGRAM"), 10, "the echo")
        t0 = time.monotonic()
        pe.cmd("expect 1 5000")
        got = pe.until(lambda l: l.startswith("DCLOSE"), 10, "the idle close")
        dt = time.monotonic() - t0
        it.check(events(got, "DCLOSE") == [{"assoc": "1", "reason": "2"}], "close: %r" % got)
        it.check(0.5 <= dt <= 4.0, "idle close after %.2fs (timeout 1s)" % dt)
        it.metric("udp_idle_close_s", dt, "s")
        pe.cmd("send 1 127.0.0.1 %d 02" % e, "send 2 127.0.0.1 %d 03" % e,
               "expect 1 5000", "wait 300")
        got = pe.mark("idle")
        d = events(got, "DGRAM")
        it.check(len(d) == 1 and d[0]["assoc"] == "2", "after the idle close: %r" % got)
        st = wait_status(w, lambda s: s["assocs_idle_closed"] >= 1, "idle close counted")
        it.check(st["assocs_open"] == 1, "open: %r" % st)
    finally:
        pe.close()


@R.test(timeout=90, world=make_world(["--no-udp"]))
def test_no_udp(w):
    """--no-udp: not agreed; a datagram anyway is a protocol error."""
    pe = start_peer(w, want_dgram=False)
    try:
        pe.cmd("send 1 127.0.0.1 %d 01" % w.echo4.port, "wait 3000")
        got = pe.until(lambda l: l == "CLOSED" or l.startswith("GOAWAY"), 10,
                       "the server to end the session")
        it.check(not events(got, "DGRAM"), "a reply without agreement: %r" % got)
        it.check(w.echo4.count == 0, "the echo got a datagram")
        it.check(not udp_status(w)["enabled"], "status says udp enabled")
    finally:
        pe.close()


if __name__ == "__main__":
    R.main(make_world=make_world())
