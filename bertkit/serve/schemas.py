"""Request bodies, checked where they enter: every refusal names the field that is wrong.

413 when something is too large (the body, the number of inputs, one text), 422 when it is
malformed (not JSON, a missing or mistyped field, an empty list, a pair sent to a single-text
model). Checked by hand rather than by pydantic models so that the status, the field path
(`inputs[3]`) and the message say exactly what a client needs to fix it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bertkit.serve.config import ServeConfig


class RequestError(Exception):
    """A request the server refuses: HTTP status, the field at fault, and why."""

    def __init__(self, status: int, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.status = status
        self.field = field
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"error": f"{self.field}: {self.message}", "field": self.field, "status": self.status}


def parse_body(raw: bytes, config: ServeConfig) -> dict[str, Any]:
    """The JSON object of a request body (413 over `max_body_bytes`, 422 if not a JSON object)."""
    if len(raw) > config.max_body_bytes:
        raise RequestError(413, "body", f"{len(raw)} bytes; the limit is {config.max_body_bytes}")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RequestError(422, "body", f"not valid JSON ({e})") from None
    if not isinstance(body, dict):
        raise RequestError(422, "body", f"must be a JSON object, got {type(body).__name__}")
    return body


def _text(value: Any, field: str, config: ServeConfig) -> str:
    if not isinstance(value, str):
        raise RequestError(422, field, f"must be a string, got {_type(value)}")
    if len(value) > config.max_chars:
        raise RequestError(413, field, f"{len(value)} characters; the limit is {config.max_chars}")
    return value


def _type(value: Any) -> str:
    return {dict: "an object", list: "a list", type(None): "null", bool: "a boolean", int: "a number",
            float: "a number"}.get(
        type(value), f"a {type(value).__name__}")


def _list(body: dict[str, Any], name: str, config: ServeConfig) -> list[Any]:
    """The field `name` as a non-empty list (a lone value becomes a list of one)."""
    if name not in body:
        raise RequestError(422, name, "required")
    value = body[name]
    items = value if isinstance(value, list) else [value]
    if not items:
        raise RequestError(422, name, "empty list; give at least one input")
    if len(items) > config.max_inputs:
        raise RequestError(413, name, f"{len(items)} inputs; the limit is {config.max_inputs} per request")
    return items


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise RequestError(422, name, f"must be true or false, got {_type(value)}")
    return value


@dataclass
class TextsRequest:
    """POST /predict and /embed: texts (and for pair models their second texts)."""

    texts: list[str]
    pairs: list[str] | None = None
    normalize: bool = True


def texts_request(body: dict[str, Any], config: ServeConfig, pairs: bool = False,
                  field: str = "inputs") -> TextsRequest:
    """`inputs`: a text or a list of texts; for a pair model each is `[text, text_pair]`."""
    texts, seconds = [], []
    for i, item in enumerate(_list(body, field, config)):
        where = f"{field}[{i}]"
        if pairs:
            if not isinstance(item, list) or len(item) != 2:
                raise RequestError(422, where, "this model takes text pairs: give [text, text_pair]")
            texts.append(_text(item[0], f"{where}[0]", config))
            seconds.append(_text(item[1], f"{where}[1]", config))
        elif isinstance(item, list):
            raise RequestError(422, where, "this model takes single texts, not pairs")
        else:
            texts.append(_text(item, where, config))
    return TextsRequest(texts, seconds if pairs else None, _flag(body, "normalize", True))


@dataclass
class OpenAIEmbeddings:
    """POST /v1/embeddings as OpenAI's API takes it."""

    texts: list[str]
    model: str
    base64: bool


def openai_embeddings(body: dict[str, Any], config: ServeConfig, default_model: str) -> OpenAIEmbeddings:
    req = texts_request(body, config, field="input")
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise RequestError(422, "encoding_format", f"must be 'float' or 'base64', got {fmt!r}")
    model = body.get("model", default_model)
    if not isinstance(model, str):
        raise RequestError(422, "model", f"must be a string, got {_type(model)}")
    return OpenAIEmbeddings(req.texts, model, fmt == "base64")


@dataclass
class ExplainRequest:
    """POST /explain: one text (and its pair), the class to explain, whether to return attention."""

    text: str
    pair: str | None
    target: int | str | None
    attention: bool


def explain_request(body: dict[str, Any], config: ServeConfig, pairs: bool,
                    labels: list[str]) -> ExplainRequest:
    """`target` is one of the model's `labels`, by name or index, or null for the predicted class."""
    if "inputs" not in body:
        raise RequestError(422, "inputs", "required")
    text = _text(body["inputs"], "inputs", config)
    if not text.strip():
        raise RequestError(422, "inputs", "empty text; there is nothing to explain")
    pair = body.get("pair")
    if pair is not None:
        if not pairs:
            raise RequestError(422, "pair", "this model takes single texts, not pairs")
        pair = _text(pair, "pair", config)
    elif pairs:
        raise RequestError(422, "pair", "this model takes text pairs: give the second text as 'pair'")
    target = body.get("target")
    if target is not None:
        index = target if isinstance(target, int) and not isinstance(target, bool) else None
        if target not in labels and (index is None or not 0 <= index < len(labels)):
            raise RequestError(422, "target", f"{target!r} is not a class of this model; "
                               f"give one of {labels} or its index, or null" if labels else
                               "this model has no classes to explain; leave target null")
    return ExplainRequest(text, pair, target, _flag(body, "attention", False))


def answer_request(body: dict[str, Any], config: ServeConfig) -> TextsRequest:
    """POST /answer: `inputs` is {"question", "context"} or a list of them."""
    questions, contexts = [], []
    for i, item in enumerate(_list(body, "inputs", config)):
        where = f"inputs[{i}]"
        if not isinstance(item, dict):
            raise RequestError(422, where, f"must be an object {{question, context}}, got {_type(item)}")
        for key, out in (("question", questions), ("context", contexts)):
            if key not in item:
                raise RequestError(422, f"{where}.{key}", "required")
            out.append(_text(item[key], f"{where}.{key}", config))
    return TextsRequest(questions, contexts)
