"""Dynamic batching: requests that arrive together are run as one batch, off the event loop.

    batcher = Batcher(engine_fn, executor, max_batch_size=64, max_wait_s=0.005, max_queue=1024)
    results = await batcher.submit(["text one", "text two"])     # this request's results, in order

A request puts its items on a bounded queue and waits on a future. One asyncio task per batcher
takes the first waiting request, then keeps taking requests for up to `max_wait_s` (or until
`max_batch_size` items), runs `fn(all items)` on the executor's thread, and hands each request back
its own slice of the results. While that thread computes, the event loop keeps answering
(`/health`, `/metrics`) and the next batch fills up. A full queue raises `QueueFull` at once, which
the app turns into 503: waiting clients are better told to retry than left hanging.

With `enabled=False` every request runs alone (the baseline the benchmark compares against).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any


class QueueFull(Exception):
    """The batcher's queue holds `max_queue` requests already."""


@dataclass
class _Job:
    items: Sequence[Any]
    future: asyncio.Future


class Batcher:
    """Gathers concurrent `submit` calls into batches of `fn`, run one at a time on `executor`."""

    def __init__(self, fn: Callable[[list[Any]], Sequence[Any]], executor: Executor,
                 max_batch_size: int = 64, max_wait_s: float = 0.005, max_queue: int = 1024,
                 enabled: bool = True, on_batch: Callable[[int], None] | None = None):
        self.fn = fn
        self.executor = executor
        self.max_batch_size = max_batch_size if enabled else 1
        self.max_wait_s = max_wait_s if enabled else 0.0
        self.max_queue = max_queue
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Job] | None = None
        self._carry: _Job | None = None          # a request that did not fit in the last batch
        self._worker: asyncio.Task | None = None

    @property
    def waiting(self) -> int:
        """Requests queued and not yet in a batch."""
        return (self._queue.qsize() if self._queue else 0) + (self._carry is not None)

    async def submit(self, items: Sequence[Any]) -> list[Any]:
        """Run `items` in the next batch and return their results, in order."""
        if self._queue is None:
            self._queue = asyncio.Queue(self.max_queue)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._loop())
        job = _Job(items, asyncio.get_running_loop().create_future())
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            raise QueueFull(f"{self.max_queue} requests are waiting; retry shortly") from None
        return await job.future

    async def close(self) -> None:
        """Stop the worker task; requests still waiting get cancelled."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    async def _loop(self) -> None:
        while True:
            jobs = await self._gather()
            await self._run(jobs)

    async def _gather(self) -> list[_Job]:
        """The next batch: the first waiting request, then whatever comes within max_wait_s."""
        assert self._queue is not None
        first, self._carry = self._carry or await self._queue.get(), None
        jobs, size = [first], len(first.items)
        deadline = asyncio.get_running_loop().time() + self.max_wait_s
        while size < self.max_batch_size:
            left = deadline - asyncio.get_running_loop().time()
            try:
                if left <= 0:
                    job = self._queue.get_nowait()
                else:
                    job = await asyncio.wait_for(self._queue.get(), left)
            except (asyncio.QueueEmpty, TimeoutError, asyncio.TimeoutError):
                break
            if size + len(job.items) > self.max_batch_size:
                self._carry = job                    # first in line for the next batch
                break
            jobs.append(job)
            size += len(job.items)
        return [j for j in jobs if not j.future.done()]     # a client that went away is skipped

    async def _run(self, jobs: list[_Job]) -> None:
        """One batch on the executor's thread; each request gets its slice (or the batch's error)."""
        if not jobs:
            return
        items = [x for j in jobs for x in j.items]
        if self.on_batch is not None:
            self.on_batch(len(items))
        try:
            results = await asyncio.get_running_loop().run_in_executor(self.executor, self.fn, items)
        except Exception as e:
            if len(jobs) > 1:    # one bad request must not fail its neighbours: run each alone
                for j in jobs:
                    await self._run([j])
                return
            if not jobs[0].future.done():
                jobs[0].future.set_exception(e)
            return
        start = 0
        for j in jobs:
            end = start + len(j.items)
            if not j.future.done():
                j.future.set_result(list(results[start:end]))
            start = end
