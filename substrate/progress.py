"""Progress display for long commands, on stderr: :func:`counter` (a bar over counted items: updates,
tasks, netlists) and :class:`Phases` (a bar over named phases)."""

from __future__ import annotations

import sys

__all__ = ["Phases", "counter"]


def counter(total: int, *, done: int = 0, unit: str = "it", label: str = "", enabled: bool = True,
            stream=None, mininterval: float = 0.25):
    """A tqdm bar over ``total`` counted items (``done`` of them already done), or None when disabled
    or tqdm cannot be imported (the caller then prints plain lines, or nothing).

    Parameters
    ----------
    total, done : int
        Items in all, and already done (a resumed run).
    unit, label : str
        What an item is (``"update"``, ``"task"``), and the bar's label.
    enabled : bool
        False: no bar.
    stream : file, optional
        Where the bar goes (default ``sys.stderr``).
    mininterval : float
        Least time between redraws in s.
    """
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=done, unit=unit, desc=label or None, file=stream or sys.stderr,
                dynamic_ncols=True, mininterval=mininterval)


class Phases:
    """A progress bar that advances through named phases (``with Phases([...]) as p: p.next()``).

    Parameters
    ----------
    names : sequence of str
        The phases in order; the bar shows the current one.
    enabled : bool
        False: no output at all.
    stream : file, optional
        Where the bar goes (default ``sys.stderr``).
    """

    def __init__(self, names, enabled: bool = True, stream=None, label: str = ""):
        from tqdm import tqdm

        self.names = list(names)
        self.index = 0
        self.bar = tqdm(total=len(self.names), file=stream or sys.stderr, disable=not enabled, unit="phase",
                        desc=label or None, dynamic_ncols=True, leave=True)
        self.bar.set_postfix_str(self.names[0] if self.names else "", refresh=True)

    def next(self, detail: str = "") -> None:
        """Finish the current phase and show the next one (with an optional ``detail``)."""
        self.index += 1
        self.bar.update(1)
        if self.index < len(self.names):
            self.bar.set_postfix_str(self.names[self.index] + (f" ({detail})" if detail else ""), refresh=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None and self.index < len(self.names):
            self.bar.update(len(self.names) - self.index)
        self.bar.close()
        return False
