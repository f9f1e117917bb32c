#!/usr/bin/env python3
"""Remote forwards against a hostile client (tests/hostile/tool_peer.c,
modes "rfwd" and "dgram"; PROTOCOL.md §6.13-6.16, "Remote forwards").

- A key WITH permit-listen floods LISTEN: binds outside its policy (DENIED),
  a domain bind (BAD_ADDRESS), more than the per-session listener limit
  (LIMIT beyond RV_LISTENERS_MAX_DEFAULT), then a repeated and a decreasing
  request id (protocol error: GOAWAY(PROTOCOL_ERROR), the session ends).
  The server holds at most the limit of listeners (its status and its
  descriptors say so), gives every descriptor back when the session ends,
  and its RSS stays bounded over repeated rounds.
- A key whose permit-listen has a port range but no "*": port 0 is DENIED.
- Frames in the wrong direction (LISTEN_RESPONSE, REMOTE_CONNECT from the
  client) and LISTEN on a session that did not agree remote forwards (the
  client did not offer it; the key has no permit-listen) are protocol
  errors; the server never crashes and honest clients go on.
"""
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import rvpn_it as it  # noqa: E402

R = it.Runner("hostile.rfwd")

LISTENERS_MAX = 8           # RV_LISTENERS_MAX_DEFAULT (common/wire/rv_wire.h)
ST_OK, ST_DENIED, ST_LIMIT, ST_BAD_ADDRESS = 0, 1, 3, 4
GOAWAY_PROTOCOL_ERROR = 2


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def add_key(world, name, options=""):
    """A new authorized key (SIGHUP); returns its private key file."""
    keys = getattr(world, "rfwd_keys", None)
    if keys is None:
        keys = world.rfwd_keys = {}
    if name in keys:
        return keys[name]
    key = os.path.join(world.tmp, "%s.key" % name)
    pub = it.make_keypair(world.client_bin, key)
    off = world.server.log_size()
    with open(world.authorized, "a") as f:
        f.write("%s%s %s\n" % (options + " " if options else "", pub, name))
    world.server.send_signal(signal.SIGHUP)
    it.wait_until(lambda: "reload" in world.server.log_since(off), 20,
                  "the server to reload authorized_keys")
    keys[name] = key
    return key


def tool(world):
    t = world.args.tools.get("peer")
    if not t:
        raise it.TestSkip("no --tool-peer given")
    return t


class Peer:
    """One hostile_peer: command lines in, event lines out (a reader thread
    queues them)."""

    def __init__(self, world, key, mode):
        argv = [tool(world), "-s", "127.0.0.1:%d" % world.server_port, "-p", world.path,
                "-k", key, "-P", world.server_pub, mode]
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
        try:
            self.p.stdin.write("".join(line + "\n" for line in lines))
            self.p.stdin.flush()
        except OSError:
            pass  # the peer exited (the server closed): until() reports it

    def until(self, pred, timeout, what):
        """Lines up to and including the first one pred accepts."""
        end = time.monotonic() + timeout
        got = []
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise it.TestFailure("peer: no %s within %.0fs; got %r" % (what, timeout,
                                                                         got[-20:]))
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise it.TestFailure("peer exited before %s; got %r" % (what, got[-20:]))
            got.append(line)
            self.lines.append(line)
            if pred(line):
                return got

    def mark(self, name, timeout=30):
        self.cmd("mark " + name)
        return self.until(lambda l: l == "MARK " + name, timeout, "MARK " + name)[:-1]

    def answers(self, n, name, timeout=30):
        """The lines up to n events (read by the peer), then MARK name."""
        self.cmd("expect %d %d" % (n, timeout * 1000))
        return self.mark(name, timeout + 5)

    def closed(self, timeout=20):
        """Lines until the server ended the session (CLOSED)."""
        self.cmd("wait %d" % (timeout * 1000))
        return self.until(lambda l: l == "CLOSED", timeout + 5, "the server closing")

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


def start(world, key, mode, want):
    pe = Peer(world, key, mode)
    field = "remote_fwd" if mode == "rfwd" else "datagram"
    got = pe.until(lambda l: l.startswith("RESULT %s=" % field), 20, "the handshake")
    it.check(got[-1] == "RESULT %s=%d" % (field, want),
             "%s agreed: %r, expected %d" % (field, got[-1], want))
    return pe


def ended_by_protocol_error(world, pe, off, what):
    """The server ends pe's session as a protocol error: GOAWAY(PROTOCOL_
    ERROR) then close (the GOAWAY may be lost to the close's RST, so the
    server's log line decides)."""
    tail = pe.closed()
    it.check(not any(l.startswith("LRESP") for l in tail),
             "%s: the server answered it: %r" % (what, tail))
    it.check(all(l == "GOAWAY reason=%d" % GOAWAY_PROTOCOL_ERROR
                 for l in tail if l.startswith("GOAWAY")), "%s: %r" % (what, tail))
    it.wait_until(lambda: "end: protocol error" in world.server.log_since(off), 10,
                  "%s: the server to log the session's end as a protocol error" % what)


def events(lines, kind):
    out = []
    for line in lines:
        if line.startswith(kind + " "):
            out.append({k: int(v) for k, v in (kv.split("=", 1) for kv in line.split()[1:])})
    return out


def server_status(world):
    r = subprocess.run([world.server_bin, "status", "--json", "--control",
                        os.path.join(world.server.xdg, "rvpn", "server.sock")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=15)
    it.check(r.returncode == 0, "server status: exit %d" % r.returncode)
    return json.loads(r.stdout.decode())


def listeners(world):
    return server_status(world)["remote_forwards"]["listeners"]


def flood_round(world, key, n_over, check_ports):
    """One session of the LISTEN flood; returns the ports that were granted."""
    srv = world.server
    pe = start(world, key, "rfwd", 1)
    try:
        fd0 = srv.fd_count()
        pe.cmd("listen 1 1 10.0.0.1 0",          # not loopback: outside the policy
               "listen 2 1 0.0.0.0 4444",        # every interface: outside the policy
               "listen 3 2 2001:db8::1 0",       # IPv6, not loopback
               "listen 4 1 bind.invalid 8080")   # a domain: the server binds literals only
        for i in range(LISTENERS_MAX):
            pe.cmd("listen %d %d 127.0.0.1 0" % (10 + i, 1 + i % 2))
        for i in range(n_over):
            pe.cmd("listen %d 1 127.0.0.1 0" % (100 + i))
        got = events(pe.answers(4 + LISTENERS_MAX + n_over, "flood", timeout=60), "LRESP")
        by_req = {e["req"]: e for e in got}
        it.check(len(got) == 4 + LISTENERS_MAX + n_over and len(by_req) == len(got),
                 "one LISTEN_RESPONSE per LISTEN: %d for %d" % (len(got), 4 + LISTENERS_MAX + n_over))
        for req, want in ((1, ST_DENIED), (2, ST_DENIED), (3, ST_DENIED), (4, ST_BAD_ADDRESS)):
            it.check(by_req[req]["status"] == want and by_req[req]["port"] == 0,
                     "LISTEN %d: %r, expected status %d" % (req, by_req[req], want))
        ports = [by_req[10 + i]["port"] for i in range(LISTENERS_MAX)]
        it.check(all(by_req[10 + i]["status"] == ST_OK for i in range(LISTENERS_MAX)) and
                 all(p > 0 for p in ports) and len(set(ports)) == LISTENERS_MAX,
                 "the first %d loopback LISTENs granted: %r" % (LISTENERS_MAX, ports))
        over = [by_req[100 + i]["status"] for i in range(n_over)]
        it.check(set(over) == {ST_LIMIT}, "LISTEN past the limit: statuses %r" % set(over))
        fd1 = srv.fd_count()
        it.check(fd1 - fd0 <= LISTENERS_MAX + 2,
                 "server descriptors grew by %d for %d listeners" % (fd1 - fd0, LISTENERS_MAX))
        if check_ports:
            it.check(listeners(world) == LISTENERS_MAX, "server status: %d listeners, "
                     "expected %d" % (listeners(world), LISTENERS_MAX))
            # LISTEN_CLOSE frees a slot (an unknown req is ignored). A denied
            # LISTEN behind the closes proves the server has handled them, so
            # the port is probed before a new listener could take it again
            # (the kernel may hand the same ephemeral port to the reopen).
            pe.cmd("lclose 10 1", "lclose 999999 1", "listen %d 1 10.0.0.1 0" % (100 + n_over))
            sync = events(pe.answers(1, "closesync"), "LRESP")
            it.check(len(sync) == 1 and sync[0]["status"] == ST_DENIED,
                     "LISTEN outside the policy after LISTEN_CLOSE: %r" % sync)
            it.check(not it.port_accepts("127.0.0.1", ports[0]), "closed listener still open")
            pe.cmd("listen %d 1 127.0.0.1 0" % (101 + n_over))
            again = events(pe.answers(1, "reopen"), "LRESP")
            it.check(len(again) == 1 and again[0]["status"] == ST_OK,
                     "LISTEN after LISTEN_CLOSE: %r" % again)
            ports[0] = again[0]["port"]
        # A request id not above the last: protocol error, session over.
        off = srv.log_size()
        pe.cmd("listen 100 1 127.0.0.1 0")
        ended_by_protocol_error(world, pe, off, "repeated LISTEN id")
    finally:
        pe.close()
    it.wait_until(lambda: (srv.fd_count() or 1 << 30) <= fd0 - 1, 20,
                  "server descriptors back below %d after the session" % fd0)
    return ports


@R.test(timeout=180)
def listen_flood_bounded(world):
    key = add_key(world, "rfwd-attacker", 'permit-listen="localhost:*"')
    srv = world.server
    rounds = 3 if world.sanitize else 8
    n_over = 40 if world.sanitize else 200
    fd_base = srv.fd_count()
    ports = flood_round(world, key, n_over, check_ports=True)
    for p in ports:
        it.check(not it.port_accepts("127.0.0.1", p),
                 "listener 127.0.0.1:%d still open after its session ended" % p)
    it.check(listeners(world) == 0, "server status: listeners left after the session")
    rss0 = srv.rss_kib()
    for _ in range(rounds):
        flood_round(world, key, n_over, check_ports=False)
    grow = (srv.rss_kib() - rss0) / 1024.0
    it.metric("rfwd_flood.server_rss_growth", round(grow, 2), "MiB over %d rounds" % rounds)
    it.check(grow <= (24 if world.sanitize else 4),
             "server RSS grew %.1f MiB over %d flood rounds" % (grow, rounds))
    it.wait_until(lambda: (srv.fd_count() or 1 << 30) <= fd_base, 20,
                  "server descriptors back to the baseline %d" % fd_base)
    # A decreasing request id is a protocol error as well.
    pe = start(world, key, "rfwd", 1)
    try:
        pe.cmd("listen 50 1 127.0.0.1 0")
        first = events(pe.answers(1, "first"), "LRESP")
        it.check(len(first) == 1 and first[0]["status"] == ST_OK, "LISTEN 50 granted: %r" % first)
        off = srv.log_size()
        pe.cmd("listen 49 1 127.0.0.1 0")
        ended_by_protocol_error(world, pe, off, "decreasing LISTEN id")
    finally:
        pe.close()
    it.check("LISTEN reuses request id" in srv.log_text(), "the server logs the bad request id")
    it.wait_until(lambda: listeners(world) == 0, 20, "no listeners left")
    world.assert_works()


@R.test(timeout=120)
def port_zero_needs_star_port(world):
    key = add_key(world, "rfwd-ranged", 'permit-listen="localhost:1024-65535"')
    pe = start(world, key, "rfwd", 1)
    try:
        port = it.free_port()
        pe.cmd("listen 1 1 127.0.0.1 0", "listen 2 1 127.0.0.1 %d" % port,
               "listen 3 1 127.0.0.1 80")
        got = {e["req"]: e for e in events(pe.answers(3, "ranged"), "LRESP")}
        it.check(got[1]["status"] == ST_DENIED, "port 0 without a '*' port: %r" % got[1])
        it.check(got[2]["status"] == ST_OK and got[2]["port"] == port,
                 "a port in the range: %r" % got[2])
        it.check(got[3]["status"] == ST_DENIED, "a port below the range: %r" % got[3])
    finally:
        pe.close()
    world.assert_works()


@R.test(timeout=120)
def wrong_direction_and_not_agreed(world):
    permit = add_key(world, "rfwd-attacker", 'permit-listen="localhost:*"')
    noperm = add_key(world, "rfwd-noperm")
    srv = world.server
    fd0 = srv.fd_count()
    cases = (
        ("LISTEN_RESPONSE from the client", permit, "rfwd", 1, "lresp 1 0 8080"),
        ("REMOTE_CONNECT from the client", permit, "rfwd", 1,
         "rconnect %d 1 127.0.0.1 80" % (0x80000000 | 1)),
        ("LISTEN, remote forwards not offered", permit, "dgram", 1, "listen 1 1 127.0.0.1 0"),
        ("LISTEN, key without permit-listen", noperm, "rfwd", 0, "listen 1 1 127.0.0.1 0"),
        ("LISTEN_CLOSE, key without permit-listen", noperm, "rfwd", 0, "lclose 1 1"),
    )
    for what, key, mode, want, line in cases:
        pe = start(world, key, mode, want)
        try:
            off = srv.log_size()
            pe.cmd(line)
            ended_by_protocol_error(world, pe, off, what)
        finally:
            pe.close()
        it.check(srv.alive(), "%s: the server exited" % what)
    it.check(listeners(world) == 0, "a listener from a refused session")
    it.wait_until(lambda: (srv.fd_count() or 1 << 30) <= fd0, 20,
                  "server descriptors back to %d" % fd0)
    world.assert_works()


if __name__ == "__main__":
    R.main()
