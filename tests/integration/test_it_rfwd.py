#!/usr/bin/env python3
"""Remote forwards (rvpn-client -R; PROTOCOL.md "Remote forwards"): a fixed
-R to the loopback echo server through the server's listener (data both
ways, EOF), the server's policy (a bind the key's permit-listen does not
cover, a key without permit-listen: clear refusals, no listener), a dynamic
-R with a SOCKS5 client against the server's port, the client's own access
rules (--remote-allow), listeners gone when the client exits and back after
it reconnects (client restart, server restart), and -R throughput next to
-L (printed as METRIC lines).  Owner: remote-forward helper."""

import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (MiB, Pattern, Proc, Runner, World, check, free_port, log, make_keypair,  # noqa: E402
                     metric, port_accepts, recv_exact, socks_connect, wait_until)

R = Runner("rfwd")


class Sink:
    """Counts bytes until EOF on each connection, then answers the count
    (u64) and closes: the far end of the throughput runs."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        total = 0
        buf = bytearray(MiB)
        try:
            while True:
                n = c.recv_into(buf)
                if n == 0:
                    break
                total += n
            c.sendall(struct.pack(">Q", total))
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.stopped = True
        self.sock.close()


class RWorld(World):
    """The client key may listen on loopback (any port); a second key is
    authorized without permit-listen.  The client asks for a fixed -R to the
    echo target, a fixed -R to a sink, a dynamic -R, and one -R on every
    interface (not permitted); --remote-allow lets the dynamic -R reach the
    echo target only."""

    def start_server(self, extra=(), wait=True):
        if not hasattr(self, "other_key"):
            self.other_key = os.path.join(self.tmp, "other.key")
            self.other_pub = make_keypair(self.client_bin, self.other_key)
            # Any port but "*": port 0 (the server's choice) is not covered.
            self.ranged_key = os.path.join(self.tmp, "ranged.key")
            self.ranged_pub = make_keypair(self.client_bin, self.ranged_key)
        with open(self.authorized, "w") as f:
            f.write('permit-listen="localhost:*" %s test-client\n%s other-client\n'
                    'permit-listen="localhost:1-65535" %s ranged-client\n'
                    % (self.client_pub, self.other_pub, self.ranged_pub))
        os.chmod(self.authorized, 0o644)
        return super().start_server(extra, wait)

    def start_client(self, forwards=True, wait=True):
        if not hasattr(self, "rport"):
            self.sink = Sink()
            self.rport = {k: free_port() for k in ("echo", "sink", "dyn", "wild")}
            self.lport_sink = free_port()
            echo = self.targets.ports["echo"]
            self.client_extra += [
                "-R", "127.0.0.1:%d:127.0.0.1:%d" % (self.rport["echo"], echo),
                "-R", "%d:127.0.0.1:%d" % (self.rport["sink"], self.sink.port),
                "-R", "127.0.0.1:%d" % self.rport["dyn"],
                "-R", "*:%d:127.0.0.1:%d" % (self.rport["wild"], echo),
                "--remote-allow", "127.0.0.1:%d" % echo,
                "-L", "127.0.0.1:%d:127.0.0.1:%d" % (self.lport_sink, self.sink.port)]
        p = super().start_client(forwards=forwards, wait=wait)
        if wait:
            self.wait_remote()
        return p

    def wait_remote(self, timeout=30):
        for k in ("echo", "sink", "dyn"):
            wait_until(lambda: self._check_alive(self.client) and
                       port_accepts("127.0.0.1", self.rport[k]), timeout,
                       "the server's -R listener 127.0.0.1:%d (%s)" % (self.rport[k], k))

    def teardown(self, check_exit=True):
        if hasattr(self, "sink"):
            self.sink.stop()
        super().teardown(check_exit)


def echo_roundtrip(port, size):
    """Send size pattern bytes, half-close, read everything back to EOF."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        h_up = hashlib.sha256()
        got = bytearray()

        def reader():
            while True:
                d = s.recv(MiB)
                if not d:
                    return
                got.extend(d)
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        for c in Pattern().chunks(size):
            h_up.update(c)
            s.sendall(c)
        s.shutdown(socket.SHUT_WR)
        t.join(30)
        check(not t.is_alive(), "echo through -R: no EOF within 30 s (%d of %d bytes)"
              % (len(got), size))
        check(len(got) == size and hashlib.sha256(got).digest() == h_up.digest(),
              "echo through -R: got %d bytes back of %d, or different bytes" % (len(got), size))
    finally:
        s.close()


@R.test(timeout=60)
def fixed_forward_echo_both_ways_and_eof(w):
    echo_roundtrip(w.rport["echo"], 2 * MiB if not w.sanitize else 256 * 1024)
    # Several at once: separate server streams.
    ts = [threading.Thread(target=echo_roundtrip, args=(w.rport["echo"], 64 * 1024))
          for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(40)
    check("listening on 127.0.0.1:%d on the server" % w.rport["echo"]
          in w.client.log_text(), "client log names the granted listener")


@R.test(timeout=60)
def policy_denies_bind_outside_permit_listen(w):
    wait_until(lambda: "-R *:%d" % w.rport["wild"] in w.client.log_text(), 20,
               "the client's refusal message for -R *:%d" % w.rport["wild"])
    text = w.client.log_text()
    check("refused by the server: not permitted for this client's key" in text,
          "client says why -R * was refused:\n" + w.client.tail(10))
    check(not port_accepts("127.0.0.1", w.rport["wild"]), "no listener for the refused -R")
    check("refused: not permitted for this key" in w.server.log_text(),
          "server log names the refusal")


@R.test(timeout=60)
def key_without_permit_listen_gets_clear_refusal(w):
    port = free_port()
    p = Proc("rvpn-client-other", w.client_argv(
        key=w.other_key, extra=["-R", "127.0.0.1:%d:127.0.0.1:%d" % (port, w.targets.ports["echo"]),
                                "-D", "127.0.0.1:%d" % free_port()]), w.tmp, env=w.env())
    w.extra_clients.append(p)
    wait_until(lambda: "does not offer remote forwards" in p.log_text(), 20,
               "the other client's 'not offered' message")
    check(not port_accepts("127.0.0.1", port), "no listener for a key without permit-listen")
    w.stop_proc(p, "rvpn-client-other")
    w.extra_clients.remove(p)


def socks_through_server(port, host, target_port):
    return socks_connect(port, host, target_port, timeout=20)


@R.test(timeout=60)
def dynamic_forward_socks_and_client_access_rules(w):
    r = socks_through_server(w.rport["dyn"], "127.0.0.1", w.targets.ports["echo"])
    try:
        check(r.rep == 0, "SOCKS5 CONNECT through the server's dynamic port: reply %s" % r.rep)
        r.sock.sendall(b"hello remote socks")
        check(recv_exact(r.sock, 18) == b"hello remote socks", "echo through dynamic -R")
    finally:
        r.close()
    # The HTTP target is not in --remote-allow: the client refuses it.
    r = socks_through_server(w.rport["dyn"], "127.0.0.1", w.targets.http_port)
    try:
        check(r.rep == 2, "target outside --remote-allow: SOCKS reply %s, expected 2 "
              "(not allowed)" % r.rep)
    finally:
        r.close()


def push(port, size):
    """size bytes to a sink behind port; returns MB/s (count verified)."""
    chunk = memoryview(bytes(MiB))
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    try:
        t0 = time.monotonic()
        left = size
        while left:
            n = min(left, len(chunk))
            s.sendall(chunk[:n])
            left -= n
        s.shutdown(socket.SHUT_WR)
        total = struct.unpack(">Q", recv_exact(s, 8))[0]
        dt = time.monotonic() - t0
    finally:
        s.close()
    check(total == size, "sink counted %d bytes of %d" % (total, size))
    return size / dt / 1e6


@R.test(timeout=120)
def throughput_remote_vs_local_forward(w):
    # RVPN_IT_LARGE=1: 1 GiB each way, as in the closing note's figures.
    size = (32 if w.sanitize else 1024 if os.environ.get("RVPN_IT_LARGE") == "1" else 256) * MiB
    push(w.lport_sink, 4 * MiB)  # warm both paths
    push(w.rport["sink"], 4 * MiB)
    lf = push(w.lport_sink, size)
    rf = push(w.rport["sink"], size)
    log("%d MiB one way on loopback: -L %.0f MB/s, -R %.0f MB/s (-R/-L %.2f)"
        % (size // MiB, lf, rf, rf / lf))
    metric("rfwd.throughput_L", lf, "MB/s")
    metric("rfwd.throughput_R", rf, "MB/s")
    metric("rfwd.throughput_ratio_R_over_L", rf / lf, "")


@R.test(timeout=60)
def config_file_remote_and_bad_values(w):
    # "remote =" in a config file is -R (every long option is a config key).
    port = free_port()
    conf = os.path.join(w.tmp, "rfwd-client.conf")
    with open(conf, "w") as f:
        f.write("key = %s\nserver-key = %s\nurl = %s\nremote = 127.0.0.1:%d:127.0.0.1:%d\n"
                "socks = 127.0.0.1:%d\n" % (w.client_key, w.server_pub, w.url, port,
                                            w.targets.ports["echo"], free_port()))
    os.chmod(conf, 0o600)
    p = Proc("rvpn-client-conf", [w.client_bin, "-c", conf], w.tmp, env=w.env())
    w.extra_clients.append(p)
    wait_until(lambda: w._check_alive(p) and port_accepts("127.0.0.1", port), 20,
               "the -R listener from the config file")
    echo_roundtrip(port, 64 * 1024)
    w.stop_proc(p, "rvpn-client-conf")
    w.extra_clients.remove(p)
    # Bad values: usage errors (exit 2) that name -R / --remote-allow.
    base = [w.client_bin, "--no-config", "-k", w.client_key, "-s", w.server_pub]
    for bad, what in ((["-R", "99999"], "-R"), (["-R", "1:2:3:4:5:6"], "-R"),
                      (["-R", "80", "--remote-allow", "10.0.0.1/8"], "--remote-allow")):
        r = subprocess.run(base + bad + [w.url], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
        err = r.stderr.decode(errors="replace")
        check(r.returncode == 2 and what in err,
              "%s: exit %d, expected 2 with a message naming %s: %s"
              % (" ".join(bad), r.returncode, what, err.strip()))


def client_status(p):
    """rvpn-client status --json of the client p (its own control socket)."""
    r = subprocess.run([p.argv[0], "status", "--json", "--control",
                        os.path.join(p.xdg, "rvpn", "client.sock")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=15)
    check(r.returncode == 0, "client status --json: exit %d: %s"
          % (r.returncode, r.stderr.decode(errors="replace")))
    return json.loads(r.stdout.decode())


def server_status(w):
    r = subprocess.run([w.server_bin, "status", "--json", "--control",
                        os.path.join(w.server.xdg, "rvpn", "server.sock")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=15)
    check(r.returncode == 0, "server status --json: exit %d: %s"
          % (r.returncode, r.stderr.decode(errors="replace")))
    return json.loads(r.stdout.decode())


def rfwd_by_spec(j, spec):
    for e in j["remote_forwards"]:
        if e["spec"] == spec:
            return e
    raise AssertionError("no -R %s in status: %r" % (spec, j["remote_forwards"]))


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        return r.read().decode()


@R.test(timeout=90)
def port_zero_server_chooses_and_status_shows_it(w):
    """-R 0:HOST:PORT and a dynamic -R 127.0.0.1:0: the server binds free
    ports (permit-listen "*"), the client logs them and shows them in
    status --json and /metrics; a bind outside permit-listen shows as
    refused; the server's status counts the listeners and server streams.
    A key whose permit-listen has a port range but no "*" gets DENIED for
    port 0."""
    echo = w.targets.ports["echo"]
    fixed, dyn, wild = "0:127.0.0.1:%d" % echo, "127.0.0.1:0", "*:0:127.0.0.1:%d" % echo
    mport = free_port()
    p = Proc("rvpn-client-port0", w.client_argv(extra=[
        "-R", fixed, "-R", dyn, "-R", wild, "--remote-allow", "127.0.0.1:%d" % echo,
        "-D", "127.0.0.1:%d" % free_port(), "--metrics", "127.0.0.1:%d" % mport]),
        w.tmp, env=w.env())
    w.extra_clients.append(p)

    def settled():
        w._check_alive(p)
        try:
            j = client_status(p)
        except (AssertionError, ValueError):
            return None
        states = [e["state"] for e in j["remote_forwards"]]
        return j if len(states) == 3 and "requested" not in states and "waiting" not in states \
            else None
    wait_until(settled, 30, "the three -R of the port-0 client to be answered")
    j = client_status(p)
    ef, ed, ew = rfwd_by_spec(j, fixed), rfwd_by_spec(j, dyn), rfwd_by_spec(j, wild)
    check(ef["state"] == "listening" and ed["state"] == "listening",
          "-R with port 0 not listening: %r" % j["remote_forwards"])
    check(isinstance(ef["port"], int) and ef["port"] > 0 and ef["port"] != ed["port"],
          "the server's chosen ports: %r / %r" % (ef["port"], ed["port"]))
    check(ef["listen"] == "127.0.0.1:%d" % ef["port"] and ef["kind"] == "forward" and
          ef["target"] == "127.0.0.1:%d" % echo, "fixed entry: %r" % ef)
    check(ed["kind"] == "socks5" and ed["target"] is None, "dynamic entry: %r" % ed)
    check(ew["state"] == "refused" and "denied" in ew["reason"] and ew["port"] is None,
          "-R *:0 outside permit-listen: %r" % ew)
    check("listening on 127.0.0.1:%d on the server" % ef["port"] in p.log_text(),
          "the client log names the port the server chose:\n" + p.tail(10))
    # The chosen ports carry data both ways.
    echo_roundtrip(ef["port"], 256 * 1024)
    r = socks_through_server(ed["port"], "127.0.0.1", echo)
    try:
        check(r.rep == 0, "SOCKS5 through the dynamic port-0 -R: reply %s" % r.rep)
        r.sock.sendall(b"port zero")
        check(recv_exact(r.sock, 9) == b"port zero", "echo through the dynamic port-0 -R")
    finally:
        r.close()
    j = client_status(p)
    check(rfwd_by_spec(j, fixed)["connections"] >= 1 and rfwd_by_spec(j, dyn)["connections"] >= 1,
          "status counts the -R connections: %r" % j["remote_forwards"])
    text = subprocess.run([w.client_bin, "status", "--control",
                           os.path.join(p.xdg, "rvpn", "client.sock")], stdout=subprocess.PIPE,
                          timeout=15).stdout.decode()
    check("-R %s (127.0.0.1:%d): listening on 127.0.0.1:%d on the server" % (fixed, echo, ef["port"])
          in text and "-R %s (127.0.0.1:%d): refused: denied" % (wild, echo) in text,
          "status text lists each -R:\n" + text)
    m = metrics(mport)
    check('rvpn_remote_forwards{state="listening"} 2' in m and
          'rvpn_remote_forwards{state="refused"} 1' in m,
          "/metrics rvpn_remote_forwards:\n" + "\n".join(
              l for l in m.splitlines() if "remote" in l))
    # Server: this session holds 2 listeners, the main client's 3 (echo,
    # sink, dyn); server streams were opened on both.
    sj = server_status(w)
    rf = sj["remote_forwards"]
    check(rf["listeners"] == 5 and rf["sessions"] == 2,
          "server remote_forwards totals: %r" % rf)
    per = sorted(s["listeners"] for s in sj["session_list"])
    check(per == [2, 3], "server per-session listeners: %r" % per)
    check(all(s["remote_forwards"] for s in sj["session_list"]) and
          max(s["remote_streams_opened"] for s in sj["session_list"]) >= 2 and
          rf["streams_opened"] >= 2, "server streams opened: %r" % sj["session_list"])
    stext = subprocess.run([w.server_bin, "status", "--control",
                            os.path.join(w.server.xdg, "rvpn", "server.sock")],
                           stdout=subprocess.PIPE, timeout=15).stdout.decode()
    check("remote forwards: 5 listeners on 2 sessions" in stext, "server status text:\n" + stext)
    w.stop_proc(p, "rvpn-client-port0")
    w.extra_clients.remove(p)
    wait_until(lambda: server_status(w)["remote_forwards"]["listeners"] == 3, 20,
               "the port-0 client's listeners to close with its session")
    check(not port_accepts("127.0.0.1", ef["port"]), "the chosen port is closed again")

    # permit-listen with ports 1-65535 but no "*": port 0 is refused.
    p = Proc("rvpn-client-ranged", w.client_argv(key=w.ranged_key, extra=[
        "-R", "0:127.0.0.1:%d" % echo, "-D", "127.0.0.1:%d" % free_port()]), w.tmp, env=w.env())
    w.extra_clients.append(p)
    wait_until(lambda: w._check_alive(p) and "refused by the server: not permitted" in p.log_text(),
               20, "the ranged key's -R 0 to be refused")
    check(rfwd_by_spec(client_status(p), "0:127.0.0.1:%d" % echo)["state"] == "refused",
          "ranged key: state refused")
    w.stop_proc(p, "rvpn-client-ranged")
    w.extra_clients.remove(p)


KEY_STREAMS = 6


@R.test(timeout=90, world=lambda a: RWorld(a, server_extra=["--max-streams-per-key",
                                                             str(KEY_STREAMS)]))
def accept_pauses_at_the_key_stream_limit(w):
    """At the key's stream limit the server stops accepting (the kernel's
    backlog holds the next connection, unserved) and serves it once a
    stream ends."""
    held = []
    try:
        for i in range(KEY_STREAMS):
            s = socket.create_connection(("127.0.0.1", w.rport["echo"]), timeout=20)
            s.sendall(b"%d" % i)
            check(recv_exact(s, 1) == b"%d" % i, "stream %d echoes" % i)
            held.append(s)
        extra = socket.create_connection(("127.0.0.1", w.rport["echo"]), timeout=20)
        held.append(extra)
        extra.sendall(b"z")
        extra.settimeout(1.0)
        try:
            d = extra.recv(1)
        except socket.timeout:
            d = None
        check(d is None, "a connection past the key's %d streams was served (%r)"
              % (KEY_STREAMS, d))
        check("no room for more streams, not accepting" in w.server.log_text() or
              not w.verbose, "server log says it paused accepting")
        held.pop(0).close()
        extra.settimeout(20)
        check(recv_exact(extra, 1) == b"z", "the waiting connection served after one ended")
    finally:
        for s in held:
            s.close()


@R.test(timeout=120)
def listeners_follow_the_session(w):
    # Client exits: the server closes its listeners with the session.
    w.stop_proc(w.client, "rvpn-client")
    wait_until(lambda: not port_accepts("127.0.0.1", w.rport["echo"]), 20,
               "the -R listener to close when the client exits")
    check(not port_accepts("127.0.0.1", w.rport["dyn"]), "dynamic listener gone too")
    # A new client session asks again.
    w.start_client()
    echo_roundtrip(w.rport["echo"], 64 * 1024)
    # Server restart: the client reconnects and the listeners come back.
    w.stop_proc(w.server, "rvpn-server")
    check(not port_accepts("127.0.0.1", w.rport["echo"]), "listener gone with the server")
    w.start_server()
    w.wait_remote(timeout=40)
    echo_roundtrip(w.rport["echo"], 64 * 1024)


if __name__ == "__main__":
    sys.exit(R.main(make_world=lambda a: RWorld(a)))
