"""Availability answers remembered per process, for as long as they cannot have changed.

Writing a month of a service's slots (hundreds of them) costs more CPU than reading what they
depend on, and calendars are read far more often than they change. So every request still reads
the service, its hours, its closures and the seats taken (one statement), but when that row is
the one an earlier answer was written from, and the clock has not yet reached the moment that
answer would change (`slots.unchanged_until`), the earlier text is the answer. Nothing is served
that a fresh computation would not give: a booking, a cancellation or an edited schedule changes
the row, and so misses.

One event loop per process uses it, so it needs no lock. Its size is bounded in bytes (the
answers' text and the seats they were written from).
"""

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Per entry, beyond its texts: the key, the row's other values (hours and closures decoded as
# lists), the objects' headers and the dictionary's own slots; measured at ~1.8 KB for a small one.
_ENTRY_OVERHEAD_BYTES = 2048


@dataclass(frozen=True, slots=True)
class _Answer:
    source: tuple[Any, ...]
    written_at: datetime
    valid_until: datetime
    text: str
    size: int


class Answers:
    """A least-recently-used map from a request's key to the answer written from a source row."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, _Answer] = OrderedDict()
        self._bytes = 0

    def get(self, key: Hashable, source: tuple[Any, ...], now: datetime) -> str | None:
        """The answer kept for `key`, if it was written from an equal `source` and is still valid."""
        found = self._entries.get(key)
        # Before `written_at` (the clock was set back) the answer may lack starts still bookable.
        if found is None or not found.written_at <= now < found.valid_until or found.source != source:
            return None
        self._entries.move_to_end(key)
        return found.text

    def put(
        self, key: Hashable, source: tuple[Any, ...], text: str, *, written_at: datetime, valid_until: datetime
    ) -> None:
        size = len(text) + sum(len(value) for value in source if isinstance(value, str)) + _ENTRY_OVERHEAD_BYTES
        self._forget(key)
        if size > self.max_bytes:
            return
        self._entries[key] = _Answer(source, written_at, valid_until, text, size)
        self._bytes += size
        while self._bytes > self.max_bytes:
            self._forget(next(iter(self._entries)))

    def _forget(self, key: Hashable) -> None:
        if (gone := self._entries.pop(key, None)) is not None:
            self._bytes -= gone.size
