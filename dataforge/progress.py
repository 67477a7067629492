"""Progress bars for runs (rich), one line per stage segment."""

from __future__ import annotations

from typing import Any


class RichProgress:
    """A rich progress display counting shards per segment."""

    def __init__(self, console: Any, enabled: bool = True) -> None:
        """Build the display; disabled means silent."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.enabled = enabled
        self._p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TextColumn("shards"), TimeElapsedColumn(), console=console, disable=not enabled)

    def __enter__(self) -> "RichProgress":
        self._p.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._p.__exit__(*exc)

    def start(self, label: str, total: int, done: int = 0) -> int:
        """Add a bar; ``done`` shards were already complete (resumed)."""
        suffix = f" [dim](resumed {done})[/]" if done else ""
        return self._p.add_task(label + suffix, total=total, completed=done)

    def advance(self, task: int, n: int = 1) -> None:
        """One more shard finished."""
        self._p.advance(task, 1)

    def finish(self, task: int) -> None:
        """Mark the bar complete."""
        t = self._p.tasks[task] if task < len(self._p.tasks) else None
        if t is not None:
            self._p.update(task, completed=t.total)
