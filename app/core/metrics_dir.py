"""Where the worker processes of one `serve` keep their metric samples (prometheus-client's
multiprocess mode). Apart from app/core/metrics.py because it must run before anything imports
prometheus-client: the variable decides, at that import, how the library stores values."""

import os
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def prepare_multiprocess_dir(path: Path) -> None:
    """A fresh directory for one `serve`'s workers, named in the environment they inherit."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
