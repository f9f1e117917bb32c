#!/usr/bin/env python3
"""UDP through the tunnel: SOCKS5 UDP ASSOCIATE on the -D port and
-L udp:[BIND:]PORT:HOST:HOSTPORT.  DNS queries to the harness's dnsmasq
(answers checked: www.test.rvpn is 127.0.0.1, an unknown name NXDOMAIN; a
destination given as a name is resolved by the server), FRAG != 0 and
foreign sources dropped, the idle timeout, a UDP echo under a concurrent
bulk TCP upload or download (loss, reordering, RTT p50/p99 printed as
METRIC lines), a server started with --no-udp (reply 0x07, one warning for
-L udp), and the association limit (--udp-max-assoc: the extra ones refused with 0x01).
Owner: UDP client helper."""

import hashlib
import os
import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (MiB, NAME_UNKNOWN, NAME_V4, Runner, World, check,  # noqa: E402
                     client_status_json, dns_packet, dns_parse, free_port, log, metric,
                     recv_exact, wait_closed, wait_until)

R = Runner("udp")
MAX_ASSOC = 6
IDLE_S = 3


# ------------------------------------------------------------ helpers

class UdpEcho:
    """A UDP echo server on 127.0.0.1 (a thread; bounded by stop())."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while self.running:
            try:
                d, a = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self.sock.sendto(d, a)
            except OSError:
                pass

    def stop(self):
        self.running = False
        self.t.join(2)
        self.sock.close()


def socks_udp_header(host, port, frag=0):
    try:
        return struct.pack(">HBB", 0, frag, 1) + socket.inet_aton(host) + struct.pack(">H", port)
    except OSError:
        b = host.encode()
        return struct.pack(">HBBB", 0, frag, 3, len(b)) + b + struct.pack(">H", port)


def socks_udp_unwrap(d):
    """(source ip, source port, payload) of a datagram from the relay."""
    check(d[:3] == b"\0\0\0", "relay datagram: RSV/FRAG not zero: %r" % d[:4])
    check(d[3] == 1, "relay datagram: ATYP %d, expected IPv4" % d[3])
    ip = socket.inet_ntoa(d[4:8])
    port = struct.unpack(">H", d[8:10])[0]
    return ip, port, d[10:]


class Assoc:
    """One SOCKS5 UDP ASSOCIATE: the TCP control connection, the relay's
    address, and our UDP socket."""

    def __init__(self, socks_port, timeout=10.0, host="127.0.0.1"):
        self.ctl = socket.create_connection((host, socks_port), timeout=timeout)
        self.ctl.sendall(b"\x05\x01\x00" + b"\x05\x03\x00\x01" + b"\0\0\0\0" + b"\0\0")
        check(recv_exact(self.ctl, 2) == b"\x05\x00", "SOCKS5 method reply")
        head = recv_exact(self.ctl, 4)
        check(head[0] == 5 and head[3] in (1, 4), "SOCKS5 reply header %r" % head)
        self.rep = head[1]
        fam = socket.AF_INET if head[3] == 1 else socket.AF_INET6
        rest = recv_exact(self.ctl, (4 if fam == socket.AF_INET else 16) + 2)
        self.relay = (socket.inet_ntop(fam, rest[:-2]), struct.unpack(">H", rest[-2:])[0])
        self.udp = socket.socket(fam, socket.SOCK_DGRAM)
        self.udp.bind((host, 0))
        self.udp.settimeout(timeout)

    def send(self, host, port, payload, frag=0):
        self.udp.sendto(socks_udp_header(host, port, frag) + payload, self.relay)

    def recv(self, timeout=None):
        if timeout is not None:
            self.udp.settimeout(timeout)
        d, a = self.udp.recvfrom(70000)
        check(a[:2] == self.relay, "datagram from %r, not the relay %r" % (a, self.relay))
        return socks_udp_unwrap(d)

    def close(self):
        self.udp.close()
        self.ctl.close()


def make_world(args):
    w = World(args, client=False)
    w.echo = UdpEcho()
    w.fwd_dns = free_port()
    w.fwd_echo = free_port()
    w.socks6 = free_port("::1")
    w.client_extra += ["-D", "[::1]:%d" % w.socks6,"-L", "udp:127.0.0.1:%d:127.0.0.1:%d" % (w.fwd_dns, w.dns.port),
                       "-L", "udp:%d:127.0.0.1:%d" % (w.fwd_echo, w.echo.port),
                       "--udp-max-assoc", str(MAX_ASSOC), "--udp-timeout", str(IDLE_S)]
    w.start_client(forwards=False)
    orig = w.teardown

    def teardown(check_exit=True):
        w.echo.stop()
        orig(check_exit)
    w.teardown = teardown
    return w


def query_via(a, server, name, qtype=1):
    tid, q = dns_packet(name, qtype)
    a.send(server, a.dns_port, q)
    ip, port, payload = a.recv(5)
    rid, rcode, addrs = dns_parse(payload)
    check(rid == tid, "DNS id %d, expected %d" % (rid, tid))
    return ip, port, rcode, addrs


# ------------------------------------------------------------ tests

@R.test(timeout=60)
def test_socks_dns(w):
    a = Assoc(w.socks_port)
    try:
        check(a.rep == 0, "UDP ASSOCIATE refused with %d" % a.rep)
        check(a.relay[0] == "127.0.0.1", "relay on %s, expected the control connection's IP"
              % a.relay[0])
        a.dns_port = w.dns.port
        ip, port, rcode, addrs = query_via(a, "127.0.0.1", NAME_V4)
        check((ip, port) == ("127.0.0.1", w.dns.port), "reply source %s:%d" % (ip, port))
        check(rcode == 0 and addrs == ["127.0.0.1"], "A %s: rcode %d %r" % (NAME_V4, rcode, addrs))
        _ip, _p, rcode, addrs = query_via(a, "127.0.0.1", NAME_UNKNOWN)
        check(rcode == 3 and addrs == [], "%s: rcode %d, expected NXDOMAIN" % (NAME_UNKNOWN, rcode))
        # The destination as a name: resolved by the server (dnsmasq has it).
        ip, port, rcode, addrs = query_via(a, NAME_V4, NAME_V4)
        check(ip == "127.0.0.1" and rcode == 0 and addrs == ["127.0.0.1"],
              "query sent to %s: from %s rcode %d %r" % (NAME_V4, ip, rcode, addrs))
        # FRAG != 0 is dropped (no reassembly); the next one still works.
        ftid, fq = dns_packet(NAME_V4)
        a.send("127.0.0.1", w.dns.port, fq, frag=1)
        _ip, _p, rcode, _ = query_via(a, "127.0.0.1", NAME_V4)
        check(rcode == 0, "query after a fragment")
        # Another source port of the same IP is not this association's app.
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            other.bind(("127.0.0.1", 0))
            otid, oq = dns_packet(NAME_V4)
            other.sendto(socks_udp_header("127.0.0.1", w.dns.port) + oq, a.relay)
            _ip, _p, rcode, _ = query_via(a, "127.0.0.1", NAME_UNKNOWN)
            check(rcode == 3, "query after a foreign datagram")
            other.settimeout(0.3)
            try:
                d = other.recv(4096)
                raise AssertionError("a foreign source got an answer: %r" % d[:20])
            except socket.timeout:
                pass
        finally:
            other.close()
        a.udp.settimeout(0.3)
        try:
            d = a.udp.recv(4096)
            tid = dns_parse(d[10:])[0]
            check(tid not in (ftid, otid), "a fragment or a foreign datagram was relayed")
        except socket.timeout:
            pass
    finally:
        a.close()


@R.test(timeout=60)
def test_socks_dns_ipv6_app(w):
    """An app on ::1: the relay is on ::1 (the control connection's local
    address), the reply header still names the IPv4 source."""
    a = Assoc(w.socks6, host="::1")
    try:
        check(a.rep == 0, "UDP ASSOCIATE over IPv6 refused with %d" % a.rep)
        check(a.relay[0] == "::1", "relay on %s, expected ::1" % a.relay[0])
        a.dns_port = w.dns.port
        ip, port, rcode, addrs = query_via(a, "127.0.0.1", NAME_V4)
        check((ip, port, rcode, addrs) == ("127.0.0.1", w.dns.port, 0, ["127.0.0.1"]),
              "IPv6 app: %r" % ((ip, port, rcode, addrs),))
    finally:
        a.close()


@R.test(timeout=60)
def test_socks_control_close_ends_it(w):
    a = Assoc(w.socks_port)
    check(a.rep == 0, "UDP ASSOCIATE refused with %d" % a.rep)
    a.dns_port = w.dns.port
    check(query_via(a, "127.0.0.1", NAME_V4)[2] == 0, "first query")
    relay = a.relay
    a.ctl.close()
    # Once the association is gone its relay port is closed: ICMP refusal.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect(relay)
    probe.settimeout(0.2)

    def closed():
        try:
            probe.send(socks_udp_header("127.0.0.1", w.dns.port) + dns_packet(NAME_V4)[1])
            probe.recv(4096)
        except ConnectionRefusedError:
            return True
        except socket.timeout:
            return False
        return False
    try:
        wait_until(closed, 10, "the relay port to close after the control connection closed",
                   interval=0.1)
    finally:
        probe.close()
        a.udp.close()


@R.test(timeout=60)
def test_socks_idle_timeout(w):
    a = Assoc(w.socks_port)
    try:
        check(a.rep == 0, "UDP ASSOCIATE refused with %d" % a.rep)
        a.dns_port = w.dns.port
        check(query_via(a, "127.0.0.1", NAME_V4)[2] == 0, "query")
        t0 = time.monotonic()
        # The client closes the control connection after IDLE_S quiet seconds.
        check(wait_closed(a.ctl, IDLE_S + 8), "the association outlived its idle timeout")
        took = time.monotonic() - t0
        check(took >= IDLE_S - 0.5, "closed after %.1f s, before the %d s idle timeout"
              % (took, IDLE_S))
    finally:
        a.close()


@R.test(timeout=60)
def test_forward_dns(w):
    for name, want_rcode, want in ((NAME_V4, 0, ["127.0.0.1"]), (NAME_UNKNOWN, 3, [])):
        tid, q = dns_packet(name)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(q, ("127.0.0.1", w.fwd_dns))
            d = s.recv(4096)
        rid, rcode, addrs = dns_parse(d)
        check(rid == tid and rcode == want_rcode and addrs == want,
              "-L udp %s: id %d/%d rcode %d %r" % (name, rid, tid, rcode, addrs))
    # Two sources at once: each gets its own answers.
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    try:
        tids = []
        for s in socks:
            s.settimeout(5)
            tid, q = dns_packet(NAME_V4)
            tids.append(tid)
            s.sendto(q, ("127.0.0.1", w.fwd_dns))
        for s, tid in zip(socks, tids):
            check(dns_parse(s.recv(4096))[0] == tid, "-L udp: an answer went to the wrong source")
    finally:
        for s in socks:
            s.close()


def echo_under_bulk(w, down):
    """UDP echo while one TCP stream moves bulk data through the same
    client: upload (client -> server on the WebSocket) or download."""
    tag = "_down" if down else ""
    # A download has a fixed size (the duplex target is told it up front);
    # an upload runs until enough datagrams overlapped it, at most bulk.
    bulk = (100 if w.sanitize else 200) * MiB if down else 2048 * MiB
    n_max = 1500 if w.sanitize else 3000
    overlap_want = 150
    interval = 0.002
    a = Assoc(w.socks_port)
    check(a.rep == 0, "UDP ASSOCIATE refused with %d" % a.rep)
    sent = {}
    got = {}
    order = []
    corrupt = [0]
    done = threading.Event()
    enough = threading.Event()  # the upload may stop: the overlap is measured
    bulk_result = {}

    def payload(seq):
        body = hashlib.sha256(struct.pack(">I", seq)).digest() * 4
        return struct.pack(">Id", seq, time.monotonic()) + body

    def receiver():
        a.udp.settimeout(0.2)
        while not done.is_set() or len(got) < len(sent):
            try:
                _ip, _p, d = a.recv()
            except socket.timeout:
                if done.is_set() and time.monotonic() > done.deadline:
                    return
                continue
            now = time.monotonic()
            seq, ts = struct.unpack(">Id", d[:12])
            if d[12:] != hashlib.sha256(struct.pack(">I", seq)).digest() * 4:
                corrupt[0] += 1
                continue
            if seq not in got:
                got[seq] = now - ts
                order.append(seq)

    def bulk_receiver(s):
        # The duplex target: nothing up, bulk bytes down + their sha256.
        s.sendall(struct.pack(">QQ", 0, bulk) + hashlib.sha256().digest())
        h = hashlib.sha256()
        left = bulk
        while left > 0:
            d = s.recv(min(left, 1 << 20))
            check(d, "bulk: download ended %d bytes early" % left)
            h.update(d)
            left -= len(d)
        ans = recv_exact(s, 33)
        bulk_result["ok"] = ans[:32] == h.digest() and ans[32] == 1

    def bulk_sender():
        t0 = time.monotonic()
        s = socket.create_connection(("127.0.0.1", w.socks_port), timeout=30)
        try:
            s.sendall(b"\x05\x01\x00\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") +
                      struct.pack(">H", w.targets.ports["duplex" if down else "sink"]))
            check(recv_exact(s, 2) == b"\x05\x00", "bulk: method")
            rep = recv_exact(s, 10)
            check(rep[1] == 0, "bulk: CONNECT refused %d" % rep[1])
            if down:
                bulk_receiver(s)
                return
            chunk = os.urandom(256 * 1024)
            h = hashlib.sha256()
            total = 0
            while total < bulk and not enough.is_set():
                s.sendall(chunk)
                h.update(chunk)
                total += len(chunk)
            s.shutdown(socket.SHUT_WR)
            ans = recv_exact(s, 40)
            bulk_result["bytes"] = total
            bulk_result["ok"] = (struct.unpack(">Q", ans[:8])[0] == total and
                                 ans[8:] == h.digest())
        except Exception as e:  # reported by the main thread
            bulk_result["error"] = repr(e)
        finally:
            s.close()
            bulk_result["secs"] = time.monotonic() - t0

    # Baseline without the bulk transfer: one at a time, round trips.
    idle = []
    a.dns_port = None
    for i in range(100):
        t0 = time.monotonic()
        a.send("127.0.0.1", w.echo.port, b"idle %d" % i)
        _ip, _p, d = a.recv(5)
        check(d == b"idle %d" % i, "idle echo %d: %r" % (i, d[:20]))
        idle.append(time.monotonic() - t0)
    idle.sort()
    metric("udp_echo_idle_rtt_p50_ms" + tag, idle[50] * 1000, "ms")
    metric("udp_echo_idle_rtt_p99_ms" + tag, idle[98] * 1000, "ms")
    rt = threading.Thread(target=receiver, daemon=True)
    bt = threading.Thread(target=bulk_sender, daemon=True)
    done.deadline = None
    rt.start()
    bt.start()
    try:
        seq = 0
        during = 0
        t_next = time.monotonic()
        while seq < n_max and (bt.is_alive() or seq < 300):
            sent[seq] = True
            a.send("127.0.0.1", w.echo.port, payload(seq))
            if bt.is_alive():
                during += 1
                if during >= overlap_want:
                    enough.set()
            seq += 1
            t_next += interval
            delay = t_next - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the sender, not synchronisation
        enough.set()
        done.deadline = time.monotonic() + 3
        done.set()
        rt.join(10)
        bt.join(60)
    finally:
        a.close()
    check(not bt.is_alive(), "bulk transfer did not finish")
    check("error" not in bulk_result, "bulk transfer failed: %s" % bulk_result.get("error"))
    check(bulk_result.get("ok"), "bulk transfer: the sink's count/sha256 differ")
    n = len(sent)
    lost = n - len(got)
    reorder = 0
    hi = -1
    for s in order:
        if s < hi:
            reorder += 1
        hi = max(hi, s)
    rtts = sorted(got.values())
    p50 = rtts[len(rtts) // 2] * 1000 if rtts else float("nan")
    p99 = rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))] * 1000 if rtts else float("nan")
    moved = bulk_result.get("bytes", bulk)
    log("udp echo: %d sent (%d while the %d MiB bulk %s ran, %.1f s), %d back, %d corrupted"
        % (n, during, moved // MiB, "download" if down else "upload", bulk_result["secs"], len(got), corrupt[0]))
    metric("udp_echo_loss_pct" + tag, 100.0 * lost / n, "%")
    metric("udp_echo_reordered" + tag, reorder, "datagrams")
    metric("udp_echo_rtt_p50_ms" + tag, p50, "ms")
    metric("udp_echo_rtt_p99_ms" + tag, p99, "ms")
    metric("udp_bulk%s_mib_s" % tag, moved / MiB / bulk_result["secs"], "MiB/s")
    check(corrupt[0] == 0, "%d datagrams corrupted" % corrupt[0])
    check(during >= 50, "only %d datagrams overlapped the bulk transfer" % during)
    check(lost * 100 < 5 * n, "loss %.1f %% (%d of %d)" % (100.0 * lost / n, lost, n))


@R.test(timeout=120)
def test_echo_under_bulk(w):
    echo_under_bulk(w, down=False)


@R.test(timeout=120)
def test_echo_under_bulk_download(w):
    echo_under_bulk(w, down=True)


@R.test(timeout=60)
def test_assoc_limit(w):
    held = []
    try:
        for i in range(MAX_ASSOC):
            a = Assoc(w.socks_port)
            held.append(a)
            check(a.rep == 0, "association %d of %d refused (%d)" % (i + 1, MAX_ASSOC, a.rep))
        extra = Assoc(w.socks_port)
        try:
            check(extra.rep == 1, "association %d (over --udp-max-assoc %d): reply %d, "
                  "expected 1" % (MAX_ASSOC + 1, MAX_ASSOC, extra.rep))
            check(wait_closed(extra.ctl, 5), "a refused association's control connection "
                  "stays open")
        finally:
            extra.close()
        # The ones held still work.
        held[0].dns_port = w.dns.port
        check(query_via(held[0], "127.0.0.1", NAME_V4)[2] == 0, "a held association")
        # A freed slot is usable again (bounded retry: the close is async).
        held.pop().close()

        def again():
            b = Assoc(w.socks_port)
            ok = b.rep == 0
            if ok:
                held.append(b)
            else:
                b.close()
            return ok
        wait_until(again, 10, "an association after one was closed", interval=0.1)
    finally:
        for a in held:
            a.close()


@R.test(timeout=60)
def test_forward_eviction_and_status(w):
    before = client_status_json(w)["udp"]
    n = MAX_ASSOC + 3
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    try:
        # Each new source beyond the limit evicts the least recently used one;
        # every source still gets its echo.
        for i, s in enumerate(socks):
            s.bind(("127.0.0.1", 0))
            s.settimeout(5)
            s.sendto(b"src %d" % i, ("127.0.0.1", w.fwd_echo))
            check(s.recv(100) == b"src %d" % i, "-L udp echo for source %d" % i)
        # The first (evicted) source comes back as a new association.
        socks[0].sendto(b"again", ("127.0.0.1", w.fwd_echo))
        check(socks[0].recv(100) == b"again", "an evicted source is served again")
    finally:
        for s in socks:
            s.close()
    u = client_status_json(w)["udp"]
    check(u["associations"] <= MAX_ASSOC, "%d associations, limit %d" % (u["associations"], MAX_ASSOC))
    check(u["evicted"] - before["evicted"] >= n + 1 - MAX_ASSOC,
          "evicted %d, expected at least %d" % (u["evicted"] - before["evicted"], n + 1 - MAX_ASSOC))
    check(u["datagrams_up"] - before["datagrams_up"] == n + 1 and
          u["datagrams_down"] - before["datagrams_down"] == n + 1,
          "datagram counters: %r -> %r" % (before, u))


def plain_world(args):
    w = World(args, client=False)
    w.fwd_dns = free_port()
    w.client_extra += ["-L", "udp:127.0.0.1:%d:127.0.0.1:%d" % (w.fwd_dns, w.dns.port)]
    w.start_client(forwards=False)
    return w


def forward_query(w, name=NAME_V4, timeout=5):
    tid, q = dns_packet(name)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, ("127.0.0.1", w.fwd_dns))
        rid, rcode, addrs = dns_parse(s.recv(4096))
    return rid == tid and rcode == 0 and addrs == ["127.0.0.1"]


@R.test(timeout=90, world=plain_world)
def test_reconnect_ends_associations(w):
    """The session ends (server restarted): the SOCKS association's control
    connection closes (the app asks again); afterwards new associations, and
    -L udp, work on the new session (ids start at 1 again)."""
    a = Assoc(w.socks_port)
    try:
        check(a.rep == 0, "UDP ASSOCIATE refused with %d" % a.rep)
        a.dns_port = w.dns.port
        check(query_via(a, "127.0.0.1", NAME_V4)[2] == 0, "query before the restart")
        check(forward_query(w), "-L udp before the restart")
        w.stop_proc(w.server, "rvpn-server")
        check(wait_closed(a.ctl, 10), "the association outlived its tunnel session")
    finally:
        a.close()
    w.start_server()
    w.wait_client()
    b = Assoc(w.socks_port)
    try:
        check(b.rep == 0, "UDP ASSOCIATE after the reconnect refused with %d" % b.rep)
        b.dns_port = w.dns.port
        check(query_via(b, "127.0.0.1", NAME_V4)[2] == 0, "query after the reconnect")
    finally:
        b.close()
    # -L udp: a new association on the new session (retried: the first
    # datagrams may still find the tunnel coming up).
    wait_until(lambda: forward_query(w, timeout=1), 10, "-L udp after the reconnect",
               interval=0.1)


def no_udp_world(args):
    w = World(args, client=False, server_extra=["--no-udp"])
    w.fwd_dns = free_port()
    w.client_extra += ["-L", "udp:127.0.0.1:%d:127.0.0.1:%d" % (w.fwd_dns, w.dns.port)]
    w.start_client(forwards=False)
    return w


@R.test(timeout=60, world=no_udp_world)
def test_server_without_udp(w):
    a = Assoc(w.socks_port)
    try:
        check(a.rep == 7, "UDP ASSOCIATE to a --no-udp server: reply %d, expected 7" % a.rep)
        check(wait_closed(a.ctl, 5), "refused association not closed")
    finally:
        a.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(3):
            s.sendto(dns_packet(NAME_V4)[1], ("127.0.0.1", w.fwd_dns))
    warn = "-L udp: the server does not offer UDP"
    wait_until(lambda: warn in w.client.log_text(), 10, "the client's warning '%s'" % warn)
    check(w.client.log_text().count(warn) == 1, "the warning is not logged once per session")
    w.assert_works()  # TCP is unaffected


if __name__ == "__main__":
    R.main(make_world)
