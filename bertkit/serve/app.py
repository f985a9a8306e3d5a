"""The FastAPI application: endpoints, errors as JSON, batching per endpoint, metrics, the page.

    app = create_app(ServeConfig(model="run/"))     # the model loads here, not on the first request
    uvicorn.run(app, host="127.0.0.1", port=8000)    # or: bertkit serve --model run/

Every model call goes through a `Batcher` onto one worker thread (the model is used by one batch at
a time), so the event loop only parses, checks and answers: /health and /metrics stay quick while
a batch runs. docs/serving.md lists the endpoints with examples.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException

from bertkit.errors import BertkitError
from bertkit.serve import schemas
from bertkit.serve.batching import Batcher, QueueFull
from bertkit.serve.config import ServeConfig
from bertkit.serve.engine import Engine, set_threads
from bertkit.serve.metrics import Metrics
from bertkit.serve.page import PAGE_CSP, Page

ENDPOINTS = ("/", "/health", "/metrics", "/predict", "/embed", "/v1/embeddings", "/explain", "/answer")


class Model:
    """The engine behind one batcher per operation, all sharing the one worker thread."""

    def __init__(self, engine: Engine, config: ServeConfig, metrics: Metrics):
        self.engine = engine
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="bertkit-model")

        def batch(fn: Callable[[list[Any]], list[Any]], size: int = config.max_batch_size) -> Batcher:
            return Batcher(fn, self.executor, size, config.max_wait_ms / 1000, config.max_queue,
                           config.batching, metrics.batch)

        self.predict = batch(self._predict)
        self.embed = batch(self._embed)
        self.answer = batch(self._answer)
        self.explain = batch(self._explain, 1)      # one text of many gradient passes: never batched
        self.explain_steps = config.explain_steps

    @property
    def batchers(self) -> tuple[Batcher, ...]:
        return self.predict, self.embed, self.answer, self.explain

    @property
    def waiting(self) -> int:
        return sum(b.waiting for b in self.batchers)

    async def close(self) -> None:
        for b in self.batchers:
            await b.close()
        self.executor.shutdown(wait=False, cancel_futures=True)

    # These run on the worker thread, each with the items of a whole batch.
    def _predict(self, items: list[tuple[str, str | None]]) -> list[dict[str, Any]]:
        texts = [t for t, _ in items]
        pairs = [p for _, p in items] if self.engine.takes_pairs else None
        return self.engine.predict(texts, pairs)

    def _embed(self, texts: list[str]) -> list[tuple[np.ndarray, int]]:
        vectors, counts = self.engine.embed(texts)
        return list(zip(vectors.numpy(), counts, strict=True))

    def _answer(self, items: list[tuple[str, str]]) -> list[dict[str, Any]]:
        return self.engine.answer([q for q, _ in items], [c for _, c in items])

    def _explain(self, items: list[schemas.ExplainRequest]) -> list[dict[str, Any]]:
        return [self.engine.explain(r.text, r.pair, r.target, self.explain_steps, r.attention) for r in items]


def _error(status: int, field: str, message: str) -> JSONResponse:
    return JSONResponse(schemas.RequestError(status, field, message).to_dict(), status_code=status)


async def read_body(request: Request, config: ServeConfig) -> dict[str, Any]:
    """The request's JSON object; a declared length over the limit is refused before reading."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > config.max_body_bytes:
        raise schemas.RequestError(413, "body", f"{declared} bytes; the limit is {config.max_body_bytes}")
    return schemas.parse_body(await request.body(), config)


def create_app(config: ServeConfig, engine: Engine | None = None) -> FastAPI:
    """The application serving `config.model` (or an engine already loaded, e.g. by a test)."""
    set_threads(config.threads)
    engine = engine or Engine.load(config.model)
    metrics = Metrics()
    model = Model(engine, config, metrics)
    page = Page(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await model.close()

    app = FastAPI(title="bertkit serve", version="1", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.engine, app.state.model, app.state.metrics = engine, model, metrics
    _add_handlers(app, metrics)
    _add_model_routes(app, config, model)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Ready to serve: the model, its task, labels and limits, and how many requests wait."""
        return {"status": "ok", **engine.describe(), "batching": config.batching,
                "max_batch_size": config.max_batch_size, "queued": model.waiting}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics_text() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(model.waiting), media_type="text/plain; version=0.0.4")

    @app.get("/")
    async def index() -> Response:
        return Response(page.index, media_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": PAGE_CSP})

    @app.get("/static/{name:path}")
    async def static(name: str) -> Response:
        body, media = page.asset(name)
        return Response(body, media_type=media, headers={"Cache-Control": "no-cache"})

    return app


def _add_model_routes(app: FastAPI, config: ServeConfig, model: Model) -> None:
    engine = model.engine

    def available(name: str) -> None:
        if name not in engine.endpoints():
            raise schemas.RequestError(
                422 if name != "answer" else 404, "path",
                f"/{name} is not served for a {engine.task} model; it serves "
                + ", ".join(f"/{e}" for e in sorted(engine.endpoints())))

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        """Labels and probabilities (classification), values (regression) or entities (NER)."""
        available("predict")
        req = schemas.texts_request(await read_body(request, config), config, engine.takes_pairs)
        items = list(zip(req.texts, req.pairs or [None] * len(req.texts), strict=True))
        return {"predictions": await model.predict.submit(items)}

    @app.post("/embed")
    async def embed(request: Request) -> dict[str, Any]:
        """Sentence embeddings (mean pooling); `normalize` (default true) makes them unit length."""
        req = schemas.texts_request(await read_body(request, config), config)
        rows = await model.embed.submit(req.texts)
        vectors = np.stack([v for v, _ in rows])
        if req.normalize:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return {"embeddings": vectors.tolist(), "dim": int(vectors.shape[1])}

    @app.post("/v1/embeddings")
    async def openai_embeddings(request: Request) -> dict[str, Any]:
        """OpenAI's embeddings request and response; vectors are normalised, as OpenAI's are."""
        req = schemas.openai_embeddings(await read_body(request, config), config, engine.path.name)
        rows = await model.embed.submit(req.texts)
        data = []
        for i, (v, _) in enumerate(rows):
            v = (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)
            emb: Any = base64.b64encode(v.astype("<f4").tobytes()).decode() if req.base64 else v.tolist()
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(n for _, n in rows)
        return {"object": "list", "data": data, "model": req.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    @app.post("/explain")
    async def explain(request: Request) -> dict[str, Any]:
        """Word attributions and the top heads per pattern (with `attention`: the head view's data)."""
        available("explain")
        req = schemas.explain_request(await read_body(request, config), config, engine.takes_pairs,
                                      engine.labels)
        (result,) = await model.explain.submit([req])
        return result

    @app.post("/answer")
    async def answer(request: Request) -> dict[str, Any]:
        """Extractive question answering: the span of each context that answers its question."""
        available("answer")
        req = schemas.answer_request(await read_body(request, config), config)
        return {"answers": await model.answer.submit(list(zip(req.texts, req.pairs or [], strict=True)))}


def _add_handlers(app: FastAPI, metrics: Metrics) -> None:
    """Errors as JSON naming the field, and every request counted and timed."""

    @app.exception_handler(schemas.RequestError)
    async def request_error(request: Request, e: schemas.RequestError) -> JSONResponse:
        return JSONResponse(e.to_dict(), status_code=e.status)

    @app.exception_handler(QueueFull)
    async def queue_full(request: Request, e: QueueFull) -> JSONResponse:
        return JSONResponse({"error": f"server busy: {e}", "field": None, "status": 503}, status_code=503,
                            headers={"Retry-After": "1"})

    @app.exception_handler(BertkitError)
    async def bertkit_error(request: Request, e: BertkitError) -> JSONResponse:
        return _error(422, "inputs", str(e))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException) -> JSONResponse:
        if e.status_code == 404:
            return _error(404, "path", f"no endpoint {request.url.path}; endpoints: {', '.join(ENDPOINTS)}")
        if e.status_code == 405:
            return _error(405, "method", f"{request.method} is not allowed on {request.url.path}")
        return _error(e.status_code, "request", str(e.detail))

    @app.middleware("http")
    async def count(request: Request, call_next: Callable[[Request], Any]) -> Response:
        start = time.perf_counter()
        try:
            response = await call_next(request)
        except asyncio.CancelledError:
            raise
        except Exception as e:                      # a bug, not the client's fault: say so as JSON
            response = _error(500, "server", f"{type(e).__name__}: {e}")
        path = request.url.path
        endpoint = path if path in ENDPOINTS else ("/static" if path.startswith("/static/") else "other")
        metrics.request(endpoint, response.status_code, time.perf_counter() - start)
        return response

