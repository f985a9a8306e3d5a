"""`bertkit serve --model RUN [--host 127.0.0.1] [--port 8000]`: the HTTP API and the try-it page.

The flags come from `ServeConfig`; FastAPI, uvicorn and torch are imported only when the command
runs, so `bertkit --help` stays instant.
"""

from __future__ import annotations

import argparse

from bertkit.errors import ConfigError
from bertkit.options import add_options, from_args
from bertkit.serve.config import ServeConfig


def _serve(args: argparse.Namespace) -> int:
    config = from_args(ServeConfig, args)
    try:
        import uvicorn

        from bertkit.serve.app import create_app
    except ImportError as e:
        raise ConfigError(f"bertkit serve needs FastAPI and uvicorn ({e}); "
                          "install them with: pip install 'bertkit[serve]'") from None
    app = create_app(config)        # loads the model now: a bad RUN fails here, with the reason
    print(f"serving {config.model} ({app.state.engine.task}) on http://{config.host}:{config.port}/")
    uvicorn.run(app, host=config.host, port=config.port, log_level="info", timeout_graceful_shutdown=5)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve a model over HTTP: predict, embed, explain, and a page to try it",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(p, ServeConfig)
    p.set_defaults(func=_serve)
