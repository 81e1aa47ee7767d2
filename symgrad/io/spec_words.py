"""How a spec's errors show what they found: values, keys, kinds, examples and suggestions."""

from __future__ import annotations

from typing import Any

from ..validate import did_you_mean


def show(value: Any) -> str:
    """A value for a message: short, and with no control characters."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return text if text.isprintable() else ascii(value)[:60]


def key_text(key: Any) -> str:
    """A TOML key for a message: bare when it reads plainly, else quoted."""
    if (
        isinstance(key, str)
        and key
        and len(key) <= 40
        and key.replace("_", "a").replace("-", "a").isalnum()
    ):
        return key
    return show(key)


def kind_name(value: Any) -> str:
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "list",
        dict: "table",
    }.get(type(value), type(value).__name__)


def example_formula(cost: bool) -> str:
    return "'log(cosh(a - y))'" if cost else "'z*sigmoid(z)'"


def suggest(word: Any, choices: Any) -> str:
    return did_you_mean(word, choices)


__all__ = ["example_formula", "key_text", "kind_name", "show", "suggest"]
