"""Bookkeeping of a bulk indexing run, shared by both clients (they only schedule the batches).

The run reads its input lazily, validates each item, refuses an id seen earlier in the run, cuts batches of
the provider's size and merges the per-batch reports, so that every record it read appears in the final
report exactly once. An authentication error stops the run: batches already sent are reported as they
ended, batches cut but not sent fail with that error, and the input not yet read stays unread (the report
says so in ``stopped_early``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from visualsearch_sdk._core import as_record
from visualsearch_sdk._exceptions import AuthenticationError, InvalidQueryError, VisualSearchError
from visualsearch_sdk.models import ImageRecord, IndexReport, RecordFailure

__all__ = ["BulkRun", "Progress"]

_END: Any = object()

Progress = Callable[[int, int], None]
"""Called as ``progress(records_done, records_failed)`` after each batch."""


class BulkRun:
    """One ``index_many`` run: batches out, reports in."""

    def __init__(
        self,
        records: Iterable[ImageRecord | Mapping[str, Any]],
        *,
        batch_size: int,
        progress: Progress | None = None,
    ) -> None:
        self._source = iter(records)
        self._batch_size = max(1, batch_size)
        self._progress = progress
        self._seen: set[str] = set()
        self._reports: list[IndexReport] = []
        self._early: list[RecordFailure] = []
        self._done = 0
        self._failed = 0
        self._read = 0
        self.stop_reason: str | None = None
        self._stop_error: VisualSearchError | None = None

    @property
    def stopped(self) -> bool:
        return self.stop_reason is not None

    def batches(self) -> Iterator[list[ImageRecord]]:
        """Validated, de-duplicated batches, read from the input only as they are asked for."""
        batch: list[ImageRecord] = []
        while not self.stopped:  # checked before reading, so nothing is taken from the input after a stop
            item = next(self._source, _END)
            if item is _END:
                break
            self._read += 1
            try:
                record = as_record(item)
            except InvalidQueryError as exc:
                rid = item.get("id") if isinstance(item, Mapping) else None
                self._fail_now(str(rid) if rid else f"<item {self._read}>", exc, "invalid record")
                continue
            if record.id in self._seen:
                dup = InvalidQueryError(f"record id {record.id!r} appeared earlier in this run")
                self._fail_now(record.id, dup, "duplicate id")
                continue
            self._seen.add(record.id)
            batch.append(record)
            if len(batch) == self._batch_size:
                yield batch
                batch = []
        if batch and not self.stopped:
            yield batch

    def _fail_now(self, record_id: str, exc: VisualSearchError, reason: str) -> None:
        self._early.append(RecordFailure(id=record_id, error=exc, reason=reason))
        self._failed += 1
        self._done += 1

    def finished(self, batch: list[ImageRecord], report: IndexReport) -> None:
        """Record a batch's report."""
        self._reports.append(report)
        self._done += len(batch)
        self._failed += len(report.failed)
        if self._progress is not None:
            self._progress(self._done, self._failed)

    def crashed(self, batch: list[ImageRecord], exc: VisualSearchError) -> None:
        """A batch ended in an error that its flow did not turn into per-record failures."""
        if isinstance(exc, AuthenticationError):
            self.stop(exc)
        failures = tuple(RecordFailure(id=r.id, error=exc, reason=type(exc).__name__) for r in batch)
        self.finished(batch, IndexReport(failed=failures))

    def stop(self, exc: AuthenticationError) -> None:
        """Stop the run (the first error wins): no more input is read, no batch not yet sent is sent."""
        if self._stop_error is None:
            self._stop_error = exc
            self.stop_reason = f"authentication failed: {exc.message}; the run was stopped"

    def check_not_stopped(self) -> None:
        """Called by a worker before it sends a batch: a batch cut before the run stopped is not sent, it
        fails with the error that stopped the run."""
        if self._stop_error is not None:
            raise self._stop_error

    def report(self) -> IndexReport:
        """The merged report: every record read appears exactly once."""
        succeeded: list[str] = []
        failed: list[RecordFailure] = list(self._early)
        transactions: list[str] = []
        for part in self._reports:
            succeeded.extend(part.succeeded)
            failed.extend(part.failed)
            transactions.extend(part.transaction_ids)
        return IndexReport(
            succeeded=tuple(succeeded),
            failed=tuple(failed),
            transaction_ids=tuple(transactions),
            stopped_early=self.stop_reason,
        )
