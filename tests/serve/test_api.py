"""Every endpoint against the direct Python call it wraps: the server adds transport, not numbers."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch

from tests.serve.conftest import LABELS, client_for

TEXTS = ["a wonderful film", "the plot was dull and the acting poor", "ok"]


def test_health_describes_the_model(client):
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["task"] == "classification"
    assert h["labels"] == LABELS and h["max_length"] == 64 and h["pairs"] is False
    assert set(h["endpoints"]) == {"predict", "embed", "explain"}


def test_predict_equals_finetuned_predict(client, classifier_engine):
    got = client.post("/predict", json={"inputs": TEXTS}).json()["predictions"]
    want = classifier_engine.finetuned.predict(TEXTS)
    assert [g["label"] for g in got] == [w["label"] for w in want]
    for g, w in zip(got, want, strict=True):
        assert g["probabilities"] == pytest.approx(w["probabilities"], abs=1e-5)


def test_a_single_string_is_one_input(client):
    assert len(client.post("/predict", json={"inputs": "a wonderful film"}).json()["predictions"]) == 1


def test_embed_equals_embedder(client, classifier_engine):
    got = np.array(client.post("/embed", json={"inputs": TEXTS}).json()["embeddings"])
    want = classifier_engine.embedder.encode(TEXTS)
    np.testing.assert_allclose(got, torch.nn.functional.normalize(want, dim=-1).numpy(), atol=1e-5)
    raw = np.array(client.post("/embed", json={"inputs": TEXTS, "normalize": False}).json()["embeddings"])
    np.testing.assert_allclose(raw, want.numpy(), atol=1e-5)


def test_openai_embeddings_shape_and_base64(client):
    r = client.post("/v1/embeddings", json={"input": TEXTS, "model": "mine"}).json()
    assert r["object"] == "list" and r["model"] == "mine"
    assert [d["index"] for d in r["data"]] == [0, 1, 2] and {d["object"] for d in r["data"]} == {"embedding"}
    assert r["usage"]["prompt_tokens"] == r["usage"]["total_tokens"] > len(TEXTS)
    floats = np.array([d["embedding"] for d in r["data"]])
    np.testing.assert_allclose(np.linalg.norm(floats, axis=1), 1.0, atol=1e-5)
    b64 = client.post("/v1/embeddings", json={"input": TEXTS, "encoding_format": "base64"}).json()
    decoded = np.stack([np.frombuffer(base64.b64decode(d["embedding"]), "<f4") for d in b64["data"]])
    np.testing.assert_allclose(decoded, floats, atol=1e-6)


def test_explain_gives_coloured_words_heads_and_attention(client, classifier_engine):
    r = client.post("/explain", json={"inputs": "a wonderful film", "attention": True}).json()
    a = r["attribution"]
    assert [w for w, _ in a["words"]] == ["a", "wonderful", "film"]
    assert len(a["colours"]) == 3 and all(c.startswith("rgba(") for c in a["colours"])
    assert a["predicted_label"] == classifier_engine.finetuned.predict(["a wonderful film"])[0]["label"]
    assert a["delta"] < 1e-3                        # completeness: attributions sum to the logit gap
    assert set(r["heads"]) >= {"previous", "cls", "sep"}
    assert r["attention"]["layers"] == 2 and r["attention"]["heads"] == 2
    assert "attention" not in client.post("/explain", json={"inputs": "a film"}).json()


def test_explain_a_chosen_target(client):
    r = client.post("/explain", json={"inputs": "a wonderful film", "target": "positive"})
    a = r.json()["attribution"]
    assert a["target_label"] == "positive"
    assert client.post("/explain", json={"inputs": "a film", "target": 0}).json()["attribution"][
        "target_label"] == "negative"


def test_metrics_count_requests_batches_and_latency(client):
    client.post("/predict", json={"inputs": ["x"]})
    client.post("/predict", json={})
    text = client.get("/metrics").text
    assert 'bertkit_requests_total{endpoint="/predict",status="200"}' in text
    assert 'bertkit_request_errors_total{endpoint="/predict"}' in text
    assert 'bertkit_request_seconds_bucket{endpoint="/predict",le="+Inf"}' in text
    assert "bertkit_batch_size_count" in text and "bertkit_queue_requests 0" in text


def test_pair_model_takes_pairs_only(pair_run):
    with client_for(pair_run, explain_steps=4) as c:
        r = c.post("/predict", json={"inputs": [["a man sleeps", "a person rests"]]})
        assert r.status_code == 200
        assert set(r.json()["predictions"][0]["probabilities"]) == {"contradiction", "entailment", "neutral"}
        bad = c.post("/predict", json={"inputs": ["a man sleeps"]})
        assert bad.status_code == 422 and bad.json()["field"] == "inputs[0]"
        assert c.post("/explain", json={"inputs": "a man sleeps", "pair": "he rests"}).status_code == 200
        assert c.post("/explain", json={"inputs": "a man sleeps"}).json()["field"] == "pair"


def test_ner_model_gives_entity_spans(ner_run):
    text = "John lives in Lisbon"
    with client_for(ner_run, explain_steps=4) as c:
        (pred,) = c.post("/predict", json={"inputs": [text]}).json()["predictions"]
        assert len(pred["tags"]) == 4
        for e in pred["entities"]:
            assert text[e["start"]:e["end"]] == e["text"]
        assert c.post("/explain", json={"inputs": text}).json()["attribution"]["token_index"] is not None


def test_qa_model_answers_with_a_span_of_the_context(qa_run):
    context = "The cat sat on the mat in Lisbon."
    with client_for(qa_run) as c:
        assert "answer" in c.get("/health").json()["endpoints"]
        r = c.post("/answer", json={"inputs": [{"question": "Where did the cat sit?", "context": context}]})
        (ans,) = r.json()["answers"]
        assert ans["answer"] == "" or ans["answer"] in context
        assert c.post("/answer", json={"inputs": [{"question": "q"}]}).json()["field"] == "inputs[0].context"
        assert c.post("/predict", json={"inputs": ["x"]}).status_code == 422


def test_encoder_directory_serves_embeddings_and_attention(encoder_dir):
    with client_for(encoder_dir) as c:
        assert c.get("/health").json()["task"] == "embeddings"
        assert c.post("/embed", json={"inputs": ["a film"]}).json()["dim"] == 32
        r = c.post("/explain", json={"inputs": "a film"}).json()
        assert r["attribution"] is None and r["heads"]["cls"]
        p = c.post("/predict", json={"inputs": ["a film"]})
        assert p.status_code == 422 and "/predict" in p.json()["error"]
        assert c.post("/answer", json={"inputs": ["a film"]}).status_code == 404


def test_predicting_does_not_switch_the_model_mode(classifier_engine, monkeypatch):
    """Every train()/eval() drops the packed inference weights; a server must not pay that per batch."""
    model = classifier_engine.finetuned.model
    calls = []
    monkeypatch.setattr(model, "train", lambda mode=True: calls.append(mode))
    classifier_engine.predict(TEXTS)
    assert calls == [] and not model.training
