"""What every profiler of a repeat offers the runner (``NoProfiler``, which records
nothing), and how a profiled process is named. ``profiling`` (py-spy) and
``memory_profiling`` (memray) build on it; ``profiling.profiler_for`` picks one."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from bench.deploy.servers import ServerProcess
from bench.results.model import Repeat


class NoProfiler:
    """A repeat without a profile: the runner calls the same methods either way."""

    # Whether what it recorded is complete only once the server has exited (memray writes
    # its capture until its process ends): a churn repeat stops its server before
    # ``finish``.
    needs_exit = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def launch(self, server: ServerProcess) -> None:
        """Before the server starts: change how its command runs (memory only)."""

    def edge(self, name: str, root: int | None) -> None:
        """The measured window's ``start`` and ``end``; on a churn point, the churn's
        start and end and, between, ``cycle`` as each cycle's counters are read."""

    def close(self) -> None:
        pass

    def finish(self, repeat: Repeat) -> None:
        pass


# A process is named by its command line, cut to this: "python -m daphne ..." tells a
# supervisor from its workers where the kernel's name ("python") does not.
NAME_CHARS = 80


def arguments(pid: int) -> list[str]:
    """A process's command line, [] once it is gone."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []
    return [a.decode(errors="replace") for a in argv if a]


def command_line(pid: int) -> str:
    argv = arguments(pid)
    if not argv:
        return "?"
    text = " ".join([Path(argv[0]).name, *argv[1:]])
    return text if len(text) <= NAME_CHARS else text[: NAME_CHARS - 3] + "..."
