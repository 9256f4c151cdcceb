"""Stopping the flow like a service: what `elflow flow run` does with SIGTERM and SIGINT.

The command (the parent) forwards the signal to each Bytewax process it started; each process
ends its input at the next batch, writes what is in flight, snapshots its offsets and exits 0
(flows.source, flows.ingest). If they have not all exited STOP_GRACE_SECONDS after the first
signal (a sink waiting for a database that is down, say), or a second signal arrives, the parent
kills them and says so in one line; the flow then resumes from its last snapshot, and the
sink's idempotent writes absorb what is read again.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType

STOP_GRACE_SECONDS = 30.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
EXIT_KILLED = 1


class FlowSupervisor:
    """Installs the handlers at once (a signal that arrives while the processes start is kept
    and forwarded as soon as they exist); `wait` returns the command's exit code."""

    def __init__(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        self._grace = grace_seconds
        self._procs: list[subprocess.Popen[bytes]] = []
        self._signal: int | None = None
        self._since: float | None = None
        self._force = False
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)

    @property
    def stopping(self) -> bool:
        return self._signal is not None

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._signal is not None:
            self._force = True  # a second signal: do not wait any longer
            return
        self._signal = signum
        self._since = time.monotonic()
        self._forward()

    def _forward(self) -> None:
        if self._signal is None:
            return
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(self._signal)

    def wait(
        self, procs: list[subprocess.Popen[bytes]], tick: Callable[[], None] | None = None
    ) -> int:
        """Wait for the processes (calling `tick` about every 0.1 s, e.g. for progress lines)."""
        self._procs = list(procs)
        self._forward()
        while any(proc.poll() is None for proc in self._procs):
            if self._since is not None and (
                self._force or time.monotonic() - self._since > self._grace
            ):
                return self._kill()
            time.sleep(0.1)
            if tick is not None:
                tick()
        codes = [proc.returncode for proc in self._procs]
        if self.stopping:
            # A process that the forwarded signal ended before it had set up its handler had
            # read nothing yet: a clean stop too.
            codes = [0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code for code in codes]
        return max((abs(code) for code in codes), default=0)

    def _kill(self) -> int:
        running = [proc for proc in self._procs if proc.poll() is None]
        for proc in running:
            proc.kill()
        for proc in running:
            proc.wait()
        name = signal.Signals(self._signal or signal.SIGTERM).name
        why = "a second signal" if self._force else f"{self._grace:.0f} s"
        print(
            f"elflow: the flow had not stopped after {why} ({name}); killed "
            f"{len(running)} process(es): it resumes from its last snapshot",
            file=sys.stderr,
        )
        return EXIT_KILLED
