"""The convtrack demo: an offline support-chat workload recorded into a SQLite store.

Run it with `python3 dev.py demo` (or `convtrack-demo --db PATH`). It exercises the core
(conversations, traced steps, automatic grouping) and every integration that is installed:
the ASGI middleware, the OpenAI and Anthropic clients against the local fake server
(`convtrack.fake_llm`), and LangChain. Not published: it lives in the repository only.
"""

from __future__ import annotations

from ._workload import run_demo

__version__ = "0.1.0"

__all__ = ["run_demo"]
