"""The public API: __all__ sorted and complete, versions, the instrument entry point."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pytest

import convtrack
import convtrack.grouping
import convtrack.sinks


@pytest.mark.parametrize("module", [convtrack, convtrack.sinks, convtrack.grouping])
def test_all_sorted_and_complete(module: types.ModuleType) -> None:
    """__all__ is sorted and lists every public name the module defines or re-exports."""
    assert list(module.__all__) == sorted(module.__all__)
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name not in {"annotations"}
    }
    assert public == set(module.__all__)
    for name in module.__all__:
        assert getattr(module, name) is not None


def test_design_names_present() -> None:
    """Every name DESIGN.md promises is importable from convtrack."""
    names = [
        "conversation",
        "set_conversation_id",
        "reset",
        "set_user_id",
        "get_conversation_id",
        "get_user_id",
        "current",
        "new_conversation_id",
        "propagate",
        "trace",
        "configure",
        "flush",
        "shutdown",
        "instrument",
        "stats",
        "Conversation",
        "Run",
        "RunKind",
        "Sink",
        "MemorySink",
        "JSONLSink",
        "SQLiteSink",
        "ConversationSummary",
    ]
    for name in names:
        assert hasattr(convtrack, name), name


def test_instrument_unknown_name() -> None:
    """instrument() with an integration that is not installed says what to install."""
    with pytest.raises(ValueError, match="pip install convtrack-nope"):
        convtrack.instrument("nope")


def test_private_modules_are_private() -> None:
    """Implementation modules start with an underscore."""
    for name in ("_context", "_scope", "_runs", "_resolve", "_pipeline"):
        importlib.import_module(f"convtrack.{name}")


@pytest.mark.parametrize("name", ["asgi", "otel", "redis"])
def test_instrument_names_an_integration_used_by_hand(name: str) -> None:
    """instrument("asgi") (or otel, redis) says how that integration is used instead."""
    with pytest.raises(ValueError, match=f"convtrack-{name} is used by") as raised:
        convtrack.instrument(name)
    assert "pip install" not in str(raised.value)


def test_instrument_waits_for_the_library_to_be_imported() -> None:
    """instrument() imports no SDK; importing one later turns its integration on."""
    script = """
import sys
import convtrack
names = convtrack.instrument()
assert {"openai", "anthropic", "langchain"} <= set(names), names
assert not {"openai", "anthropic", "langchain_core"} & set(sys.modules), sorted(sys.modules)
import openai  # the application imports an SDK: its integration turns on
import convtrack_openai
assert convtrack_openai.is_instrumented()
assert "anthropic" not in sys.modules
import convtrack_anthropic  # importing the integration brings its SDK in: on as well
assert convtrack_anthropic.is_instrumented()
convtrack.uninstrument()
assert not convtrack_openai.is_instrumented() and not convtrack_anthropic.is_instrumented()
import langchain_core  # uninstrumented while it waited: stays off
import convtrack_langchain
assert not convtrack_langchain.is_instrumented()
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.stdout.strip() == "ok", result.stderr
