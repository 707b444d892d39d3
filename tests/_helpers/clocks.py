"""A fake clock for the I/O-free state machines that take one (rate limiters, the Event
correlator): unit tests move time themselves instead of sleeping."""

from __future__ import annotations


class FakeClock:
    """A clock that moves only when told to (client-go's ``fakeClock.Step``)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def step(self, seconds: float) -> None:
        self.now += seconds
