"""Bad input is refused where it enters: a 4xx with a JSON error naming the field, and the server
keeps serving. A model that cannot load fails at start-up with the reason."""

from __future__ import annotations

import json

import pytest

from bertkit import cli
from bertkit.errors import BertkitError, CheckpointError
from bertkit.serve.engine import Engine
from tests.serve.conftest import client_for

BAD = [  # (name, method, path, body or raw bytes, status, field)
    ("malformed JSON", "POST", "/predict", b'{"inputs": ["a"', 422, "body"),
    ("not an object", "POST", "/predict", b'["a film"]', 422, "body"),
    ("missing inputs", "POST", "/predict", {"text": ["a film"]}, 422, "inputs"),
    ("non-string input", "POST", "/predict", {"inputs": ["a film", 3]}, 422, "inputs[1]"),
    ("null input", "POST", "/embed", {"inputs": [None]}, 422, "inputs[0]"),
    ("empty list", "POST", "/predict", {"inputs": []}, 422, "inputs"),
    ("10,000 inputs", "POST", "/predict", {"inputs": ["a"] * 10_000}, 413, "inputs"),
    ("a text of 1 MB", "POST", "/predict", {"inputs": ["a" * 1_000_000]}, 413, "inputs[0]"),
    ("a pair to a single-text model", "POST", "/predict", {"inputs": [["a", "b"]]}, 422, "inputs[0]"),
    ("normalize not a bool", "POST", "/embed", {"inputs": ["a"], "normalize": "yes"}, 422, "normalize"),
    ("OpenAI input missing", "POST", "/v1/embeddings", {"inputs": ["a"]}, 422, "input"),
    ("OpenAI unknown format", "POST", "/v1/embeddings", {"input": "a", "encoding_format": "hex"}, 422,
     "encoding_format"),
    ("explain a list", "POST", "/explain", {"inputs": ["a", "b"]}, 422, "inputs"),
    ("explain nothing", "POST", "/explain", {"inputs": "   "}, 422, "inputs"),
    ("explain a class out of range", "POST", "/explain", {"inputs": "a", "target": 7}, 422, "target"),
    ("explain an unknown label", "POST", "/explain", {"inputs": "a", "target": "nope"}, 422, "target"),
    ("explain a list target", "POST", "/explain", {"inputs": "a", "target": [1]}, 422, "target"),
    ("an unknown endpoint", "GET", "/v2/predict", None, 404, "path"),
    ("a wrong method", "GET", "/predict", None, 405, "method"),
]


@pytest.mark.parametrize(("name", "method", "path", "body", "status", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_4xx_naming_the_field(client, name, method, path, body, status, field):
    kwargs = {"content": body} if isinstance(body, bytes) else {"json": body} if body is not None else {}
    r = client.request(method, path, **kwargs)
    assert r.status_code == status, r.text
    err = r.json()
    assert err["field"] == field and err["status"] == status
    assert err["error"].startswith(f"{field}: ")
    assert client.get("/health").status_code == 200                 # and the server keeps serving
    assert client.post("/predict", json={"inputs": ["still here"]}).status_code == 200


def test_a_body_over_the_limit_is_refused_before_it_is_read(classifier_run, classifier_engine):
    with client_for(classifier_run, classifier_engine, max_body_bytes=1000) as c:
        r = c.post("/predict", content=json.dumps({"inputs": ["word " * 400]}),
                   headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["field"] == "body"


@pytest.mark.parametrize("case", ["missing", "no config", "bad config", "bad weights"])
def test_a_model_that_cannot_load_fails_at_start_up(tmp_path, classifier_run, case):
    bad = tmp_path / "run"
    if case != "missing":
        bad.mkdir()
    if case == "bad config":
        (bad / "config.json").write_text("{not json", encoding="utf-8")
    if case == "bad weights":
        for f in classifier_run.iterdir():
            (bad / f.name).write_bytes(f.read_bytes())
        (bad / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(BertkitError) as e:
        Engine.load(bad)
    assert str(bad) in str(e.value)
    if case == "missing":
        assert isinstance(e.value, CheckpointError)


def test_the_cli_reports_a_model_that_cannot_load(tmp_path, capsys):
    assert cli.main(["serve", "--model", str(tmp_path / "nowhere"), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bertkit: error: ") and "nowhere" in err


def test_options_are_checked_at_the_cli(capsys):
    with pytest.raises(SystemExit):
        cli.main(["serve", "--model", "x", "--max-batch-size", "0"])
    assert "max_batch_size must be >= 1" in capsys.readouterr().err
