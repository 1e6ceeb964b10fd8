"""Hysteresis across windows: an alert fires after ``fire_after`` consecutive bad windows and
resolves after ``resolve_after`` consecutive good ones, so one noisy window neither raises nor
clears an episode.

>>> h = Hysteresis(fire_after=2, resolve_after=1)
>>> [h.update(bad, start) for bad, start in [(True, 0), (True, 60), (True, 120), (False, 180)]]
[None, 'firing', None, 'resolved']
>>> h.episode_start
0
"""

from __future__ import annotations

from typing import Literal

Transition = Literal["firing", "resolved"]


class Hysteresis:
    __slots__ = ("_bad", "_episode_start", "_fire_after", "_firing", "_good", "_resolve_after",
                 "_streak_start")

    def __init__(self, fire_after: int = 1, resolve_after: int = 1) -> None:
        if fire_after < 1 or resolve_after < 1:
            raise ValueError("fire_after and resolve_after must be at least 1")
        self._fire_after = fire_after
        self._resolve_after = resolve_after
        self._bad = 0
        self._good = 0
        self._firing = False
        self._streak_start: int | None = None
        self._episode_start: int | None = None

    @property
    def firing(self) -> bool:
        return self._firing

    @property
    def episode_start(self) -> int | None:
        """Start (event time, ms) of the first bad window of the current or last episode."""
        return self._episode_start

    def update(self, bad: bool, window_start: int) -> Transition | None:
        """Feed one window's verdict; returns the transition it causes, if any."""
        if bad:
            self._good = 0
            if self._bad == 0:
                self._streak_start = window_start
            self._bad += 1
            if not self._firing and self._bad >= self._fire_after:
                self._firing = True
                self._episode_start = self._streak_start
                return "firing"
            return None
        self._bad = 0
        if not self._firing:
            return None
        self._good += 1
        if self._good >= self._resolve_after:
            self._firing = False
            self._good = 0
            return "resolved"
        return None

    def expire(self) -> Transition | None:
        """End the episode without a verdict (its condition went unjudged for too long): returns
        ``resolved`` when it was firing; any streak is forgotten.

        >>> h = Hysteresis(fire_after=1, resolve_after=3)
        >>> h.update(True, 0), h.expire(), h.firing, h.expire()
        ('firing', 'resolved', False, None)
        """
        was_firing = self._firing
        self._firing = False
        self._bad = self._good = 0
        return "resolved" if was_firing else None

    def to_state(self) -> dict:
        return {"bad": self._bad, "good": self._good, "firing": self._firing,
                "streak_start": self._streak_start, "episode_start": self._episode_start}

    @classmethod
    def from_state(cls, fire_after: int, resolve_after: int, state: dict) -> Hysteresis:
        h = cls(fire_after, resolve_after)
        h._bad, h._good, h._firing = state["bad"], state["good"], state["firing"]
        h._streak_start, h._episode_start = state["streak_start"], state["episode_start"]
        return h

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Hysteresis) and self.to_state() == other.to_state()

    __hash__ = None  # type: ignore[assignment]
