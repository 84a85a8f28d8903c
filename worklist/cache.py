"""A value loaded at most once per interval: the worklist built from the EMR's orders.

A burst of C-FINDs (a station refreshing its list, several stations at once)
costs one request to the EMR. A failed load is not kept: the next caller
tries again, and gets the failure if the EMR is still away.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["TimedCache"]

T = TypeVar("T")


class TimedCache(Generic[T]):
    """The result of ``load``, loaded again once older than ``seconds``.

    Args:
        load: what to cache; its exceptions reach the caller of :meth:`get`.
        seconds: how long a loaded value is reused; 0 loads on every call.
        clock: monotonic seconds (a test may pass its own).
    """

    def __init__(self, load: Callable[[], T], seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self._seconds = seconds
        self._clock = clock
        # One load at a time: callers arriving meanwhile wait and share its value.
        self._lock = threading.Lock()
        self._value: T | None = None
        self._loaded_at: float | None = None

    def get(self) -> T:
        """The cached value, loaded again when older than the cache time."""
        with self._lock:
            now = self._clock()
            if (self._value is None or self._loaded_at is None
                    or now - self._loaded_at >= self._seconds):
                self._value = self._load()
                self._loaded_at = self._clock()
            return self._value

    def invalidate(self) -> None:
        """Forget the value: the next :meth:`get` loads it again."""
        with self._lock:
            self._loaded_at = None
