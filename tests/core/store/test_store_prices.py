"""Token usage read the same way everywhere, and costs from genai-prices (or none)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from store_support import chat

from convtrack import SQLiteSink
from convtrack.sinks import _prices
from convtrack.sinks._usage import Tokens, tokens_of


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}, Tokens(10, 3, 13)),
        (  # OpenAI as the integration records it, cached input part of the input
            {"input_tokens": 10, "output_tokens": 3, "cached_input_tokens": 4},
            Tokens(10, 3, 13, cache_read=4),
        ),
        (  # Anthropic: cached input reported apart, counted in the input here
            {"input_tokens": 5, "output_tokens": 2, "cache_read_input_tokens": 100,
             "cache_creation_input_tokens": 20, "total_tokens": 127},
            Tokens(125, 2, 127, cache_read=100, cache_write=20),
        ),
        ({"input_tokens": 7, "output_tokens": 1, "total_tokens": 8}, Tokens(7, 1, 8)),  # LangChain
        ({"total_tokens": 9}, Tokens(0, 0, 9)),
        ({"input_tokens": True, "output_tokens": -1}, None),
        ({"cost": 1.5}, None),
        ("12 tokens", None),
        (None, None),
    ],
)  # fmt: skip
def test_tokens_of_each_naming(usage: Any, expected: Tokens | None) -> None:
    """OpenAI, Anthropic and LangChain usage give the same input/output/total tokens."""
    assert tokens_of(usage) == expected


@pytest.fixture
def no_price_tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """genai-prices made impossible to import, and the lookups forgotten before and after."""
    monkeypatch.setitem(sys.modules, "genai_prices", None)
    _prices._calc_price.cache_clear()
    _prices.cost_nanos.cache_clear()
    yield
    _prices._calc_price.cache_clear()
    _prices.cost_nanos.cache_clear()


def test_without_genai_prices_every_cost_is_none(tmp_path: Path, no_price_tables: None) -> None:
    """Without the `prices` extra, costs are None; tokens are still counted."""
    assert _prices.prices_available() is False
    sink = SQLiteSink(tmp_path / "s.db")
    usage = {"prompt_tokens": 1000, "completion_tokens": 100}
    sink.export([chat("r1", "c1", "q", "a", usage=usage, model="gpt-4o-mini", source="openai")])
    (summary,) = sink.conversations()
    assert (summary.cost, summary.input_tokens) == (None, 1000)
    sink.close()


@pytest.mark.skipif(not _prices.prices_available(), reason="genai-prices needs Python >= 3.11")
@pytest.mark.parametrize(
    ("model", "source", "priced"),
    [
        ("gpt-4o-mini", "openai", True),
        ("claude-3-5-haiku-latest", "anthropic", True),
        ("gpt-4o-mini", "langchain", True),  # the model names its provider
        ("my-finetune-v3", "openai", False),
        (None, "openai", False),
    ],
)
def test_cost_by_model_and_provider(model: str | None, source: str, priced: bool) -> None:
    """A known model has a price in nano-dollars; an unknown one none, never a guess."""
    nanos = _prices.cost_nanos(model, source, Tokens(1000, 100, 1100))
    assert (nanos is not None and nanos > 0) is priced
