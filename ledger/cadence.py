"""When the writer signs a checkpoint: the checkpoint cadence.

A checkpoint is one signature and one row however many entries it covers, and a
bundle carries the ones that matter, so signing one per batch costs nothing
under load but one per entry at a neighbourhood's pace. The writer therefore
signs when a batch commits only if the last checkpoint is ``interval_seconds``
old or ``entries_step`` entries behind the new head; otherwise a timer signs
the head once the interval has passed, so the head is never unsigned for much
longer than the interval while the process lives. Closing a writer signs its
head, and the next start signs a tail a crash left unsigned.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger import limits


@dataclass(frozen=True, slots=True)
class Cadence:
    """How often a writer signs. ``interval_seconds`` 0 signs every batch."""

    interval_seconds: float = 1.0
    entries_step: int = 10_000

    def __post_init__(self) -> None:
        assert 0 <= self.interval_seconds <= limits.CHECKPOINT_INTERVAL_SECONDS_MAX
        assert 1 <= self.entries_step <= limits.TREE_SIZE_MAX

    def due(self, seconds_since_signed: float, entries_since_signed: int) -> bool:
        """Whether a batch that leaves ``entries_since_signed`` entries unsigned, the last
        signature ``seconds_since_signed`` ago, signs its head."""
        return (
            seconds_since_signed >= self.interval_seconds
            or entries_since_signed >= self.entries_step
        )


EVERY_BATCH = Cadence(interval_seconds=0.0)
