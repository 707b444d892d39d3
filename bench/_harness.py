"""What the benchmarks share: child processes, and the embedded API server as one of them.

Each benchmark runs the server (``python -m kopf_informers apiserver``) and often an operator or a
helper in child processes, so that they do not share one GIL with the measuring script. A
:class:`Child` is such a process with a log; a :class:`Server` is one that prints its URL on the
first line of its stdout once it serves; :func:`apiserver` is the embedded API server as one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

STARTUP_TIMEOUT = 60.0  # seconds for a server to print its URL
STOP_TIMEOUT = 30.0  # seconds between SIGTERM and SIGKILL
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class Child:
    """A child process with its stderr appended to a log (its stdout too, unless ``stdout`` is
    piped to be read in lines); ``stdin`` piped for :meth:`send` if asked. It can be started
    again after it ended or was killed; ``async with`` starts it and always stops it."""

    def __init__(self, argv: Sequence[str], log: Path, env: dict[str, str] | None = None, *,
                 stdin: bool = False, stdout: bool = True,
                 stop_timeout: float = STOP_TIMEOUT) -> None:
        self.argv, self.log, self.env = list(argv), log, env
        self.stdin, self.stdout, self.stop_timeout = stdin, stdout, stop_timeout
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.started = 0.0  # monotonic
        log.write_bytes(b"")

    async def start(self) -> None:
        self.starts += 1
        self.started = time.monotonic()
        with self.log.open("ab") as log:
            log.write(f"=== start #{self.starts} at {time.time():.3f}\n".encode())
            log.flush()
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, env=self.env, stderr=log,
                stdin=asyncio.subprocess.PIPE if self.stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE if self.stdout else log,
            )

    async def __aenter__(self) -> Child:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye — as an OOM kill or a node loss."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def stop(self) -> float:
        """SIGTERM, wait (bounded), SIGKILL if need be; returns the seconds it took to stop."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return 0.0
        started = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), self.stop_timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        return time.perf_counter() - started

    async def line(self, timeout: float) -> str:
        """The next line of stdout; an error with the log's tail if there is none in time."""
        assert self.proc is not None
        assert self.proc.stdout is not None
        try:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except TimeoutError:
            raw = b""
        if not raw:
            raise RuntimeError(f"{self.argv[1:4]} ended or said nothing in {timeout} s:\n"
                               f"{self.tail()}")
        return raw.decode().strip()

    async def send(self, text: str) -> None:
        """A line to stdin."""
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{text}\n".encode())
        await self.proc.stdin.drain()

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def check_running(self) -> None:
        if self.proc is not None and self.proc.returncode is not None:
            raise RuntimeError(f"{self.argv[1:6]} exited ({self.proc.returncode}):\n{self.tail()}")

    def cpu_seconds(self) -> float:
        """User and system CPU time of the process so far (Linux /proc; 0.0 elsewhere)."""
        assert self.proc is not None
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        except OSError:
            return 0.0
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": field 3 is fields[0]
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss_kib(self) -> int | None:
        """The resident set size now, from /proc (None if the process is gone or not Linux)."""
        if not self.running:
            return None
        assert self.proc is not None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
        return None


class Server(Child):
    """A child process that prints its URL on the first line of its stdout once it serves:
    :meth:`start` returns then, with the URL in :attr:`url`, or fails with the log's tail."""

    url = ""

    async def start(self) -> None:
        await super().start()
        try:
            line = await self.line(STARTUP_TIMEOUT)
        except RuntimeError:
            line = ""
        if not line.startswith("http"):
            await self.stop()
            raise RuntimeError(f"{self.argv[1:4]} did not start (it said {line!r}):\n"
                               f"{self.tail()}")
        self.url = line

    async def __aenter__(self) -> Server:
        await self.start()
        return self


def apiserver(kubeconfig: Path, log: Path, *options: str, profile: str | None = None,
              stop_timeout: float = STOP_TIMEOUT) -> Server:
    """``python -m kopf_informers apiserver --port 0 --kubeconfig KUBECONFIG *options``, under
    cProfile writing to ``profile`` if given."""
    runner = ["-m", "cProfile", "-o", profile] if profile else []
    return Server([sys.executable, *runner, "-m", "kopf_informers", "apiserver", "--port", "0",
                   "--kubeconfig", str(kubeconfig), *options], log, stop_timeout=stop_timeout)
