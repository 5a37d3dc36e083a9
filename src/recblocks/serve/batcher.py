"""Micro-batching: concurrent requests scored together, off the event loop.

Each request puts its (checked) rows on an asyncio queue and awaits a future. One collector
task takes the first waiting request, gathers more for up to ``max_wait_ms`` or until
``max_batch_rows`` rows, and scores them in one call of ``scorer.score`` in a single worker
thread, so the event loop keeps accepting requests while the model runs. When a shared batch
fails, each of its requests is scored alone, so one request's failure is never another's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from recblocks.serve.scorer import Scorer

__all__ = ["MicroBatcher", "BatchStats"]

log = logging.getLogger("recblocks.serve")


@dataclass
class BatchStats:
    """Counters of what the batcher did (shown by ``GET /health``)."""

    requests: int = 0
    rows: int = 0
    batches: int = 0
    largest_batch_rows: int = 0
    failed_batches: int = 0


@dataclass
class _Job:
    rows: Sequence[Mapping[str, Any]]
    future: asyncio.Future[dict[str, list[float]]]
    queued: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """Gathers concurrent requests into one scoring call.

    Args:
        scorer: what scores the rows (:class:`~recblocks.serve.scorer.Scorer`).
        max_batch_rows: the most rows scored in one call (a larger request is scored alone).
        max_wait_ms: how long the first request of a batch waits for others.
    """

    def __init__(self, scorer: Scorer, max_batch_rows: int = 4096, max_wait_ms: float = 2.0) -> None:
        self.scorer, self.max_batch_rows, self.max_wait = scorer, max_batch_rows, max_wait_ms / 1000.0
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recblocks-score")

    async def start(self) -> None:
        """Start the collector on the running loop."""
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._collect())

    async def stop(self) -> None:
        """Stop the collector; requests still waiting get an error."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        while self._queue is not None and not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(RuntimeError("the server is shutting down"))
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def waiting(self) -> int:
        """Requests queued and not yet taken into a batch."""
        return self._queue.qsize() if self._queue is not None else 0

    async def score(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[float]]:
        """The scores of ``rows`` (already checked), scored with whatever arrives meanwhile."""
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        job = _Job(rows, asyncio.get_running_loop().create_future())
        await self._queue.put(job)
        return await job.future

    async def _collect(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        carried: _Job | None = None  # the request that did not fit the last batch
        while True:
            jobs = [carried if carried is not None else await self._queue.get()]
            carried = None
            size = len(jobs[0].rows)
            deadline = loop.time() + self.max_wait
            while size < self.max_batch_rows:
                left = deadline - loop.time()
                try:
                    job = self._queue.get_nowait() if left <= 0 else await asyncio.wait_for(self._queue.get(), left)
                except (asyncio.QueueEmpty, asyncio.TimeoutError):
                    break
                if size + len(job.rows) > self.max_batch_rows:
                    carried = job
                    break
                jobs.append(job)
                size += len(job.rows)
            jobs = [j for j in jobs if not j.future.done()]  # a request that timed out meanwhile
            if jobs:
                await self._run(jobs)

    async def _run(self, jobs: list[_Job]) -> None:
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(self._executor, self._score_jobs, jobs)
        for job, result in zip(jobs, results):
            if job.future.done():
                continue
            if isinstance(result, BaseException):
                job.future.set_exception(result)
            else:
                job.future.set_result(result)

    def _score_jobs(self, jobs: list[_Job]) -> list[dict[str, list[float]] | BaseException]:
        """In the worker thread: one call for all jobs; on failure, each job alone."""
        rows = [row for job in jobs for row in job.rows]
        self.stats.batches += 1
        self.stats.requests += len(jobs)
        self.stats.rows += len(rows)
        self.stats.largest_batch_rows = max(self.stats.largest_batch_rows, len(rows))
        try:
            scores = self.scorer.score(rows)
        except Exception as exc:  # noqa: BLE001 - reported per request below
            self.stats.failed_batches += 1
            if len(jobs) == 1:
                return [exc]
            log.warning("a batch of %d requests failed (%s); scoring each alone", len(jobs), exc)
            return [self._score_alone(job) for job in jobs]
        out: list[dict[str, list[float]] | BaseException] = []
        start = 0
        for job in jobs:
            end = start + len(job.rows)
            out.append({name: values[start:end] for name, values in scores.items()})
            start = end
        return out

    def _score_alone(self, job: _Job) -> dict[str, list[float]] | BaseException:
        try:
            return self.scorer.score(job.rows)
        except Exception as exc:  # noqa: BLE001 - this request's own error
            return exc
