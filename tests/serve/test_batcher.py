"""Micro-batching: concurrent requests scored in one call, a failing request isolated."""

from __future__ import annotations

import asyncio
import threading

from recblocks.serve.batcher import MicroBatcher


class _Recorder:
    columns, outputs = ["x"], ["p"]

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.threads: set[str] = set()

    def check(self, rows):
        pass

    def score(self, rows):
        self.calls.append(len(rows))
        self.threads.add(threading.current_thread().name)
        if any(r["x"] < 0 for r in rows):
            raise ValueError("negative")
        return {"p": [float(r["x"]) * 2 for r in rows]}


def test_concurrent_requests_share_a_batch_off_the_event_loop() -> None:
    scorer = _Recorder()

    async def main():
        batcher = MicroBatcher(scorer, max_batch_rows=100, max_wait_ms=50)
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.score([{"x": i}, {"x": i + 0.5}]) for i in range(5)))
        finally:
            await batcher.stop()

    results = asyncio.run(main())
    assert results == [{"p": [2.0 * i, 2.0 * i + 1.0]} for i in range(5)]
    assert scorer.calls == [10]  # one call for the five requests
    assert all(name.startswith("recblocks-score") for name in scorer.threads)


def test_a_batch_never_exceeds_max_rows_and_a_failing_request_fails_alone() -> None:
    scorer = _Recorder()

    async def main():
        batcher = MicroBatcher(scorer, max_batch_rows=4, max_wait_ms=50)
        await batcher.start()
        try:
            jobs = [batcher.score([{"x": -1 if i == 2 else i}] * 2) for i in range(4)]
            return await asyncio.gather(*jobs, return_exceptions=True)
        finally:
            await batcher.stop()

    results = asyncio.run(main())
    assert isinstance(results[2], ValueError)
    assert [r for i, r in enumerate(results) if i != 2] == [{"p": [0.0, 0.0]}, {"p": [2.0, 2.0]}, {"p": [6.0, 6.0]}]
    assert max(scorer.calls) <= 4 and batcher_calls_ok(scorer.calls)


def batcher_calls_ok(calls: list[int]) -> bool:
    """Two shared batches of 4 rows, the failing one re-scored request by request (2 + 2)."""
    return calls == [4, 4, 2, 2]
