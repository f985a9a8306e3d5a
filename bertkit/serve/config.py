"""The options of `bertkit serve`, declared once: CLI flags and checks for Python callers."""

from __future__ import annotations

from dataclasses import dataclass

from bertkit.options import check_options, option


@dataclass
class ServeConfig:
    """What to serve, where, and the limits that keep one client from starving the others."""

    model: str = option(help="a fine-tuned RUN directory, or any BERT directory (embeddings only)",
                        metavar="RUN")
    host: str = option("127.0.0.1", "address to listen on (loopback by default: say 0.0.0.0 to expose it)")
    port: int = option(8000, "TCP port", low=0, high=65535)
    batching: bool = option(True, "gather concurrent requests into one batch (--no-batching: one by one)")
    max_batch_size: int = option(64, "most texts run as one batch", low=1)
    max_wait_ms: float = option(5.0, "how long the first request of a batch waits for company", low=0.0)
    max_queue: int = option(1024, "requests waiting for the model before new ones get 503", low=1)
    max_inputs: int = option(256, "most texts in one request (more: 413)", low=1)
    max_chars: int = option(50_000, "longest text in characters (longer: 413)", low=1)
    max_body_bytes: int = option(4 << 20, "largest request body in bytes (larger: 413)", low=1)
    explain_steps: int = option(32, "integrated-gradient steps of POST /explain", low=2)
    threads: int | None = option(None, "torch CPU threads for inference (default: torch's choice)", low=1)

    def __post_init__(self) -> None:
        check_options(self)
