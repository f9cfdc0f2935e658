"""One observed LLM call, the same way for every API: for LLM client integrations.

An `Endpoint` subclass reads an API method's request (`Request`) and answer (`Answer`);
`begin()`/`abegin()` decide the call's conversation and start its run (an `LLMCall`), whose
`complete()`/`fail()` end it and remember the answered history (`Memory`) for automatic
grouping. `plain()`, `fields()`, `given()`, `text_or_none()` read SDK objects safely.
"""

from __future__ import annotations

from .._llm.call import (
    Answer,
    Endpoint,
    LLMCall,
    Request,
    abegin,
    begin,
    fields,
    given,
    plain,
    text_or_none,
)
from .._llm.remember import Memory

__all__ = [
    "Answer",
    "Endpoint",
    "LLMCall",
    "Memory",
    "Request",
    "abegin",
    "begin",
    "fields",
    "given",
    "plain",
    "text_or_none",
]
