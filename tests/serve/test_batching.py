"""Dynamic batching: requests that arrive together share a batch and each gets its own results back;
the event loop keeps answering while a batch runs; a full queue is a clear 503."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from bertkit.serve.app import create_app
from bertkit.serve.batching import Batcher, QueueFull
from bertkit.serve.config import ServeConfig
from tests.serve.conftest import serving


class Recorder:
    """A batch function that returns each item doubled and remembers the batch sizes."""

    def __init__(self, gate: threading.Event | None = None):
        self.sizes: list[int] = []
        self.gate = gate

    def __call__(self, items: list[int]) -> list[int]:
        if self.gate is not None:
            assert self.gate.wait(10), "test gate never opened"
        if any(i < 0 for i in items):
            raise ValueError("negative")
        self.sizes.append(len(items))
        return [2 * i for i in items]


def _run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_concurrent_requests_share_a_batch_and_get_their_own_results():
    fn = Recorder()

    async def main():
        with ThreadPoolExecutor(1) as ex:
            b = Batcher(fn, ex, max_batch_size=64, max_wait_s=0.05)
            out = await asyncio.gather(*[b.submit([i, 100 + i]) for i in range(10)])
            await b.close()
            return out

    assert _run(main()) == [[2 * i, 200 + 2 * i] for i in range(10)]
    assert fn.sizes == [20]


def test_batches_hold_at_most_max_batch_size_and_requests_stay_whole():
    fn = Recorder()

    async def main():
        with ThreadPoolExecutor(1) as ex:
            b = Batcher(fn, ex, max_batch_size=5, max_wait_s=0.05)
            out = await asyncio.gather(*[b.submit([i, i, i]) for i in range(6)])
            await b.close()
            return out

    assert _run(main()) == [[2 * i] * 3 for i in range(6)]
    assert fn.sizes == [3] * 6 and sum(fn.sizes) == 18          # 3 + 3 > 5: never split a request


def test_without_batching_each_request_runs_alone():
    fn = Recorder()

    async def main():
        with ThreadPoolExecutor(1) as ex:
            b = Batcher(fn, ex, max_batch_size=64, max_wait_s=0.05, enabled=False)
            out = await asyncio.gather(*[b.submit([i]) for i in range(8)])
            await b.close()
            return out

    assert _run(main()) == [[2 * i] for i in range(8)]
    assert fn.sizes == [1] * 8


def test_a_failing_request_does_not_fail_its_batch_neighbours():
    fn = Recorder()

    async def main():
        with ThreadPoolExecutor(1) as ex:
            b = Batcher(fn, ex, max_batch_size=64, max_wait_s=0.05)
            out = await asyncio.gather(b.submit([1]), b.submit([-1]), b.submit([3]), return_exceptions=True)
            await b.close()
            return out

    ok1, bad, ok3 = _run(main())
    assert ok1 == [2] and ok3 == [6] and isinstance(bad, ValueError)


def test_a_full_queue_refuses_at_once():
    gate = threading.Event()
    fn = Recorder(gate)

    async def main():
        with ThreadPoolExecutor(1) as ex:
            b = Batcher(fn, ex, max_batch_size=1, max_wait_s=0.0, max_queue=2)
            first = asyncio.ensure_future(b.submit([1]))
            await asyncio.sleep(0.05)                 # the first is running (blocked on the gate)
            queued = [asyncio.ensure_future(b.submit([i])) for i in (2, 3)]
            await asyncio.sleep(0.01)
            with pytest.raises(QueueFull):
                await b.submit([4])
            gate.set()
            out = [await first] + [await q for q in queued]
            await b.close()
            return out

    assert _run(main()) == [[2], [4], [6]]


class Gated:
    """Wraps an engine so that its predict waits for a gate: a batch that is still running."""

    def __init__(self, engine, gate: threading.Event):
        self._engine, self._gate = engine, gate
        self.entered = threading.Event()  # a batch is running (and held at the gate)

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def predict(self, texts, pairs=None):
        self.entered.set()
        assert self._gate.wait(10), "test gate never opened"
        return self._engine.predict(texts, pairs)


def test_health_answers_while_a_batch_runs_and_a_full_queue_is_503(classifier_run, classifier_engine):
    gate = threading.Event()
    config = ServeConfig(model=str(classifier_run), max_queue=2, max_batch_size=1, max_wait_ms=0)
    engine = Gated(classifier_engine, gate)
    app = create_app(config, engine)

    async def until(condition) -> None:
        for _ in range(100):   # conditions, not fixed delays: a loaded machine takes its time
            if condition():
                return
            await asyncio.sleep(0.1)

    async def main(url):
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            # the first request must be running before the next two arrive, or all three can be
            # waiting at once and the third is already one too many for max_queue=2
            running = [asyncio.ensure_future(c.post("/predict", json={"inputs": ["text 0"]}))]
            await until(engine.entered.is_set)
            running += [asyncio.ensure_future(c.post("/predict", json={"inputs": [f"text {i}"]}))
                        for i in (1, 2)]
            await until(lambda: app.state.model.waiting == 2)
            health = await c.get("/health")
            full = await c.post("/predict", json={"inputs": ["one too many"]})
            gate.set()
            return health, full, await asyncio.gather(*running)

    with serving(app) as url:
        health, full, done = _run(main(url))
    assert health.status_code == 200 and health.json()["queued"] == 2
    assert full.status_code == 503 and "busy" in full.json()["error"] and full.headers["retry-after"] == "1"
    assert [r.status_code for r in done] == [200, 200, 200]


@pytest.mark.parametrize("batching", [True, False])
def test_concurrent_clients_each_get_their_own_result(classifier_run, classifier_engine, batching):
    """48 requests from 16 concurrent clients, each checked against a direct call."""
    texts = [f"{w} film number {i}" for i, w in enumerate(["a good", "a bad", "an odd", "the"] * 12)]
    want = {t: p for t, p in zip(texts, classifier_engine.finetuned.predict(texts), strict=True)}
    config = ServeConfig(model=str(classifier_run), batching=batching, max_wait_ms=20)
    app = create_app(config, classifier_engine)

    async def main(url):
        async with httpx.AsyncClient(base_url=url, timeout=30,
                                     limits=httpx.Limits(max_connections=16)) as c:
            sem = asyncio.Semaphore(16)

            async def one(text):
                async with sem:
                    r = await c.post("/predict", json={"inputs": [text]})
                    return text, r.json()["predictions"][0]

            got = await asyncio.gather(*[one(t) for t in texts])
            metrics = (await c.get("/metrics")).text
            return got, metrics

    with serving(app) as url:
        got, metrics = _run(main(url))
    assert len(got) == len(texts)
    for text, pred in got:
        assert pred["label"] == want[text]["label"]
        assert pred["probabilities"] == pytest.approx(want[text]["probabilities"], abs=1e-5)
    count = next(line for line in metrics.splitlines() if line.startswith("bertkit_batch_size_count"))
    batches = int(count.split()[-1])
    assert batches < len(texts) if batching else batches == len(texts)
