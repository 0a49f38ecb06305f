"""Identities of real processes, for staged files whose writer is gone or alive."""

import subprocess
import sys

from app.core import processes


def dead_process() -> processes.ProcessId:
    """The identity of a process that ran on this machine and has exited."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        identity = processes.identity(child.pid)
    finally:
        child.communicate(b"")
    assert identity.started
    assert processes.is_gone(identity) is True
    return identity
