"""Who owns a leftover: a process identity that another process can check for liveness.

Files that a process writes and later cleans up itself (staged uploads) carry its identity in
their name. When the process dies mid-way, the next start-up sweep must tell a dead writer's
leftovers from those of a writer that is still at work in another process. An identity is the
kernel's boot id, the pid namespace, the pid and the process's start time (in clock ticks since
boot, as /proc shows it): on the same boot and in the same pid namespace, a process with that pid
and that start time either exists or is gone for good (a reused pid has another start time).

From another machine, another boot or another pid namespace (a container), liveness cannot be
read: `is_gone` answers None and the caller falls back to the age of what it found.
"""

import os
import re
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_PROC = Path("/proc")
_PATTERN = re.compile(r"^([0-9a-f]{32})-([0-9]{1,20})-([0-9]{1,10})-([0-9]{1,20})$")


@dataclass(frozen=True, slots=True)
class ProcessId:
    boot: str  # 32 hex characters
    namespace: int
    pid: int
    started: int

    def __str__(self) -> str:
        return f"{self.boot}-{self.namespace}-{self.pid}-{self.started}"

    @classmethod
    def parse(cls, text: str) -> "ProcessId | None":
        match = _PATTERN.match(text)
        if match is None:
            return None
        boot, namespace, pid, started = match.groups()
        return cls(boot=boot, namespace=int(namespace), pid=int(pid), started=int(started))


def _start_time(pid: int) -> int | None:
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    return int(stat.rpartition(")")[2].split()[19])


@cache
def _boot_and_namespace() -> tuple[str, int]:
    try:
        boot = (_PROC / "sys/kernel/random/boot_id").read_text().strip().replace("-", "")
        namespace = (_PROC / "self/ns/pid").stat().st_ino
    except OSError:
        # No /proc (not Linux): an identity that no other process can match, so never declared gone.
        return uuid.uuid4().hex, 0
    return boot, namespace


def identity(pid: int) -> ProcessId:
    """The identity of the running process `pid` of this machine (started 0 if there is none)."""
    boot, namespace = _boot_and_namespace()
    return ProcessId(boot=boot, namespace=namespace, pid=pid, started=_start_time(pid) or 0)


_current = cache(identity)


def current() -> ProcessId:
    """This process's identity (computed once per pid, so a forked child gets its own)."""
    return _current(os.getpid())


def is_gone(owner: ProcessId) -> bool | None:
    """True when `owner` has surely exited, False when it runs, None when this process cannot tell."""
    here = current()
    if (owner.boot, owner.namespace) != (here.boot, here.namespace) or here.started == 0:
        return None
    return _start_time(owner.pid) != owner.started
