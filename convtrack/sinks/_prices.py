"""What an LLM call cost, in US dollars, from the `genai-prices` package (an optional extra).

Looked up by model and provider when a run is written: the run's `source` names the
provider for the OpenAI and Anthropic integrations; for other sources the package matches
the model name to its provider. A model it does not know costs None, never a guess; without
the package (`pip install 'convtrack[prices]'`) every cost is None.
"""

from __future__ import annotations

import functools
from typing import Any

from ._usage import Tokens

_PROVIDERS = {"openai": "openai", "anthropic": "anthropic"}
NANO = 1_000_000_000  # costs are summed as whole nano-dollars: exact, in any order


@functools.lru_cache(maxsize=1)
def _calc_price() -> Any:
    try:
        from genai_prices import Usage, calc_price
    except ImportError:
        return None
    return Usage, calc_price


def prices_available() -> bool:
    """Whether costs can be computed here (the `genai-prices` package is installed)."""
    return _calc_price() is not None


@functools.lru_cache(maxsize=8192)
def cost_nanos(model: str | None, source: str, tokens: Tokens | None) -> int | None:
    """The cost of one call in nano-dollars (None: no model, no tokens, or an unknown model)."""
    found = _calc_price()
    if found is None or not model or tokens is None:
        return None
    usage_type, calc_price = found
    try:
        usage = usage_type(
            input_tokens=tokens.input,
            output_tokens=tokens.output,
            cache_read_tokens=tokens.cache_read,
            cache_write_tokens=tokens.cache_write,
        )
        price = calc_price(usage, model, provider_id=_PROVIDERS.get(source))
    except Exception:  # an unknown model (LookupError), or a bad price entry: no cost
        return None
    nanos: int = round(price.total_price * NANO)
    return nanos
