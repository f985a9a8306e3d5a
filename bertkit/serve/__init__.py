"""`bertkit serve`: a fine-tuned RUN (or any encoder directory) behind an HTTP API.

    bertkit serve --model RUN --port 8000

`config.py` holds the options, `engine.py` loads the model at start-up and runs it (plain Python,
no web), `batching.py` gathers concurrent requests into one batch on a worker thread, `schemas.py`
checks request bodies, `metrics.py` counts for Prometheus, `page.py` serves the page at `/`
(`static/`, reusing the explanation views of `bertkit/explain/static/`), and `app.py` ties them
into a FastAPI application. docs/serving.md describes the endpoints.
"""
