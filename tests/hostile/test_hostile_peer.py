#!/usr/bin/env python3
"""An authorized but hostile client (tests/hostile/tool_peer.c) against the
real rvpn-server, with an honest rvpn-client beside it.

Each attack asserts bounds: the server's RSS and open descriptors during and
after the attack, and the honest client's round trips (p50/p99) during it.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import rvpn_it as it  # noqa: E402

R = it.Runner("hostile.peer")
MiB = 1024 * 1024


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


class Firehose:
    """A loopback target that writes as fast as the reader allows, to every
    connection, until it is closed.  Bounded: at most `limit` connections."""

    def __init__(self, limit=2000):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.limit = limit
        self.accepted = 0
        self.conns = []
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self._stop.is_set() and self.accepted < self.limit:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            c.setblocking(False)
            self.conns.append(c)
            threading.Thread(target=self._pump, args=(c,), daemon=True).start()

    def _pump(self, c):
        chunk = b"f" * 65536
        while not self._stop.is_set():
            try:
                c.send(chunk)
            except BlockingIOError:
                self._stop.wait(0.02)
            except OSError:
                return

    def stop(self):
        self._stop.set()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.sock.close()


def honest_rtts(world, n, deadline):
    """Round trips of 64 bytes over one fresh stream to the echo target;
    returns the list of seconds (may be shorter if the deadline passes)."""
    out = []
    s = it.socks_open(world.socks_port, "127.0.0.1", world.targets.ports["echo"], timeout=10)
    try:
        s.settimeout(10)
        for _ in range(n):
            if time.monotonic() > deadline:
                break
            t0 = time.monotonic()
            s.sendall(b"x" * 64)
            it.recv_exact(s, 64)
            out.append(time.monotonic() - t0)
    finally:
        s.close()
    return out


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))] if xs else float("nan")


def attacker_key(world):
    """A second authorized key for the attacker (the honest client's own key
    would share its per-key limits): added to authorized_keys, SIGHUP."""
    key = getattr(world, "attacker_key", None)
    if key:
        return key
    key = os.path.join(world.tmp, "attacker.key")
    pub = it.make_keypair(world.client_bin, key)
    off = world.server.log_size()
    with open(world.authorized, "a") as f:
        f.write("%s attacker\n" % pub)
    world.server.send_signal(signal.SIGHUP)
    it.wait_until(lambda: "reload" in world.server.log_since(off), 20,
                  "the server to reload authorized_keys")
    world.attacker_key = key
    return key


def run_peer(world, mode, *args, timeout=120):
    tool = world.args.tools.get("peer")
    if not tool:
        raise it.TestSkip("no --tool-peer given")
    argv = [tool, "-s", "127.0.0.1:%d" % world.server_port, "-p", world.path,
            "-k", attacker_key(world), "-P", world.server_pub, mode] + [str(a) for a in args]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def results(out):
    r = {}
    for line in out.splitlines():
        if line.startswith("RESULT "):
            for kv in line[7:].split():
                k, _, v = kv.partition("=")
                r[k] = v
    return r


def attack_with_bounds(world, name, popen, hold_s, rss_bound_mib, p99_bound_s):
    """While popen runs: sample the server, measure honest round trips.
    Then check bounds during and after."""
    srv = world.server
    rss0 = srv.rss_kib()
    fd0 = srv.fd_count()
    rtts = []
    peak_fd = fd0
    with it.RssSampler([srv], interval=0.05) as smp:
        t_end = time.monotonic() + hold_s
        for _ in range(int(hold_s * 20) + 20):
            if time.monotonic() > t_end or popen.poll() is not None:
                break
            rtts += honest_rtts(world, 20, t_end)
            peak_fd = max(peak_fd, srv.fd_count() or 0)
        try:
            out, _ = popen.communicate(timeout=hold_s + 60)
        except subprocess.TimeoutExpired:
            popen.kill()
            out, _ = popen.communicate()
            raise it.TestFailure("%s: hostile peer did not finish" % name)
    peak = smp.max[srv.name]
    res = results(out)
    it.log("%s: peer said %s" % (name, res))
    grow = (peak - rss0) / 1024.0
    it.metric("%s.server_rss_growth" % name, round(grow, 1), "MiB")
    it.metric("%s.server_peak_fds" % name, peak_fd - fd0, "fds above baseline")
    it.metric("%s.honest_rtt_p50" % name, round(pct(rtts, 50) * 1e3, 2), "ms")
    it.metric("%s.honest_rtt_p99" % name, round(pct(rtts, 99) * 1e3, 2), "ms")
    it.check(res.get("handshake") == "ok", "%s: the hostile peer did not get in: %s" % (name, out[-500:]))
    it.check(len(rtts) >= 10, "%s: honest client made only %d round trips" % (name, len(rtts)))
    it.check(grow <= rss_bound_mib, "%s: server RSS grew %.1f MiB (bound %d MiB)"
             % (name, grow, rss_bound_mib))
    it.check(pct(rtts, 99) <= p99_bound_s, "%s: honest p99 round trip %.3f s (bound %.1f s)"
             % (name, pct(rtts, 99), p99_bound_s))
    # After: the attacker's descriptors are all given back.
    it.wait_until(lambda: (srv.fd_count() or 1 << 30) <= fd0 + 4, 20,
                  "%s: server descriptors back to baseline (%d)" % (name, fd0))
    world.assert_works()
    return res


def server_kernel_mem_kib(pids):
    """Kernel memory of the TCP sockets the processes `pids` hold (send queue + receive
    queue + write queue, from ss -tmp), in KiB; None if ss is missing."""
    try:
        out = subprocess.run(["ss", "-tmpnH"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    total = 0
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if not any("pid=%d," % pid in line for pid in pids):
            continue
        sk = line if "skmem:(" in line else (lines[i + 1] if i + 1 < len(lines) else "")
        m = re.search(r"skmem:\(([^)]*)\)", sk)
        if not m:
            continue
        f = {}
        for part in m.group(1).split(","):
            mm = re.match(r"([a-z]+)(\d+)", part)
            if mm:
                f[mm.group(1)] = int(mm.group(2))
        total += f.get("r", 0) + f.get("t", 0) + f.get("w", 0)
    return total // 1024


@R.test(timeout=180)
def flood_connect_never_read(world):
    """A million CONNECTs to a closed port, answers never read: the server's
    queue of answers stops at its input mark and it stops reading."""
    closed_port = it.free_port()
    n = 1000000
    p = run_peer(world, "flood-connect", n, "127.0.0.1", closed_port, 4)
    bound = 256 if world.sanitize else 24
    res = attack_with_bounds(world, "flood_connect", p, 6, bound, 2.0)
    it.metric("flood_connect.connects_sent", res.get("streams_opened"), "")
    it.check(res.get("blocked") == "1",
             "flood_connect: the server kept reading a peer that never reads (%s)" % res)


@R.test(timeout=180, world=lambda a: it.World(a, server_extra=["--max-buffer-per-key", str(16 * MiB)]))
def stall_upload(world):
    """Streams that each push a full window of data into targets that do not
    read: user-space data stops at the key's budget, kernel data at
    TCP_NOTSENT_LOWAT per socket."""
    world.targets.pause_sinks()
    n = 100 if world.sanitize else 200
    p = run_peer(world, "stall-upload", n, "127.0.0.1", world.targets.ports["sink"], 8)
    k0 = server_kernel_mem_kib(world.server.tree_pids())
    peak_k = [0]
    stop = threading.Event()

    def sample():
        for _ in range(400):
            if stop.wait(0.1):
                return
            v = server_kernel_mem_kib(world.server.tree_pids())
            if v is not None:
                peak_k[0] = max(peak_k[0], v)
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        bound = 256 if world.sanitize else 40
        res = attack_with_bounds(world, "stall_upload", p, 8, bound, 2.0)
    finally:
        stop.set()
        t.join(10)
        world.targets.release_sinks()
    it.metric("stall_upload.sent", int(res.get("sent_bytes", 0)) // 1024, "KiB")
    if k0 is not None:
        kern = (peak_k[0] - k0) / 1024.0
        it.metric("stall_upload.server_kernel_socket_mem", round(kern, 1), "MiB")
        # 128 KiB unsent per socket plus what is in flight: well under 512 KiB each.
        it.check(kern <= n * 0.5, "stall_upload: server sockets hold %.1f MiB in the kernel "
                 "for %d stalled streams" % (kern, n))


@R.test(timeout=180)
def never_read_firehose(world):
    """Streams to targets that talk without pause, WebSocket never read."""
    fh = Firehose()
    try:
        n = 50 if world.sanitize else 200
        p = run_peer(world, "never-read", n, "127.0.0.1", fh.port, 8)
        bound = 256 if world.sanitize else 64
        attack_with_bounds(world, "never_read", p, 8, bound, 2.0)
    finally:
        fh.stop()


@R.test(timeout=120, world=lambda a: it.World(a, server_extra=["--max-sessions-per-key", "3"]))
def sessions_per_key(world):
    """One key holds at most --max-sessions-per-key sessions; other keys are
    not affected."""
    # One after the other: handshakes of one key must carry increasing
    # timestamps (replay protection), so concurrent starts could race.
    holders = []
    try:
        for _ in range(3):
            h = run_peer(world, "hold", 15)
            holders.append(h)
            line = h.stdout.readline()  # each prints its handshake line first
            it.check("handshake=ok" in line, "a session within the cap was refused: %r" % line)
        extra = run_peer(world, "hold", 1)
        out, _ = extra.communicate(timeout=30)
        it.check(extra.returncode != 0 and "handshake=ok" not in out,
                 "a 4th session of one key was admitted (cap 3): %r" % out[-300:])
        it.check("sessions for this key already" in world.server.log_text(),
                 "the refusal was not logged")
        world.assert_works()
    finally:
        for h in holders:
            h.kill()
            h.communicate()


class LowFdWorld(it.World):
    """The server runs with RLIMIT_NOFILE 1000 (soft and hard), so its
    descriptor budget is reached with a few hundred streams."""

    def server_argv(self, extra=()):
        return ["prlimit", "--nofile=1000:1000"] + super().server_argv(extra)


@R.test(timeout=180, world=lambda a: LowFdWorld(a))
def descriptor_budget(world):
    """More streams than descriptors: every request gets an answer (success
    or SOCKS failure 1), none hangs, nothing leaks, and the server never
    reaches EMFILE; once they end, new streams work again."""
    n = 400
    socks = []
    replies = {}
    try:
        for _ in range(n):
            r = it.socks_connect(world.socks_port, "127.0.0.1", world.targets.ports["echo"],
                                 timeout=20)
            replies[r.rep] = replies.get(r.rep, 0) + 1
            socks.append(r)
        it.log("descriptor_budget: replies %s" % replies)
        it.metric("descriptor_budget.streams_ok", replies.get(0, 0), "")
        it.metric("descriptor_budget.refused", replies.get(1, 0), "")
        it.check(None not in replies, "some requests got no answer: %s" % replies)
        it.check(replies.get(1, 0) > 0 and replies.get(0, 0) > 100,
                 "expected successes and then refusals (status 1): %s" % replies)
        log = world.server.log_text()
        it.check("descriptor budget reached" in log, "the budget was not logged")
        it.check("Too many open files" not in log and "EMFILE" not in log,
                 "the server ran out of descriptors")
        # The streams that got in still carry data.
        ok = [r for r in socks if r.rep == 0][:20]
        for r in ok:
            r.sock.sendall(b"ping")
            it.check(it.recv_exact(r.sock, 4) == b"ping", "echo through a stream in budget")
    finally:
        for r in socks:
            r.close()
    fd_after = lambda: world.server.fd_count() or 1 << 30  # noqa: E731
    it.wait_until(lambda: fd_after() < 100, 30, "the server's descriptors to be released")
    world.assert_works()


@R.test(timeout=120)
def forged_message_ends_session(world):
    """A forged transport message after a valid one ends the session at once."""
    p = run_peer(world, "forge")
    out, _ = p.communicate(timeout=60)
    res = results(out)
    it.check(res.get("handshake") == "ok", "forge: the hostile peer did not get in: %s" % out[-500:])
    it.metric("forge.close_ms", res.get("close_ms"), "ms")
    it.check(res.get("forged_closed") == "1" and int(res.get("close_ms", 1e9)) < 3000,
             "forge: the server kept the session after a forged message (%s)" % res)
    world.assert_works()


@R.test(timeout=120)
def replayed_handshake(world):
    """A captured handshake message 1, replayed on a new connection, gets no
    answer and is logged as a replay."""
    p = run_peer(world, "replay")
    out, _ = p.communicate(timeout=60)
    res = results(out)
    it.check(res.get("handshake") == "ok", "replay: the peer did not get in: %s" % out[-500:])
    it.check(res.get("replay_answered") == "0", "replay: the server answered a replayed "
             "message 1 (%s)" % res)
    it.check("replayed handshake refused" in world.server.log_text(), "the replay was not logged")
    world.assert_works()


@R.test(timeout=120)
def revoked_key_session_ends(world):
    """A hostile peer holding a session: its key is removed and the server
    reloaded; the session ends within a bound, other clients go on."""
    key = attacker_key(world)
    p = run_peer(world, "hold", 30)
    line = p.stdout.readline()
    it.check("handshake=ok" in line, "revoke: the peer did not get in: %r" % line)
    with open(world.authorized) as f:
        lines = [l for l in f if not l.rstrip().endswith(" attacker")]
    with open(world.authorized, "w") as f:
        f.writelines(lines)
    t0 = time.monotonic()
    world.server.send_signal(signal.SIGHUP)
    try:
        out, _ = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise it.TestFailure("revoke: the revoked session was still open after 20 s")
    took = time.monotonic() - t0
    it.metric("revoke.session_end", round(took, 2), "s")
    it.check("closed_by_server=1" in out, "revoke: the peer's session did not end: %r" % out)
    it.check(took < 6, "revoke: the revoked session ended only after %.1f s" % took)
    world.attacker_key = None
    del key
    world.assert_works()


if __name__ == "__main__":
    R.main()
