"""The integration authors' guide: its example plugin, built on public names only, works."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import convtrack
from convtrack.testing import CapturedRuns, capture_runs

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "writing-an-integration.md"


def _blocks() -> dict[str, str]:
    """The guide's Python code blocks, by the file name on their first line."""
    found = re.findall(r"```python\n# (\S+)\n(.*?)```", GUIDE.read_text(), re.S)
    return dict(found)


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The guide's `tinyllm` and `convtrack_tinyllm`, importable, instrumented for the test."""
    for name in ("tinyllm.py", "convtrack_tinyllm.py"):
        (tmp_path / name).write_text(_blocks()[name])
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("convtrack_tinyllm")
    module.instrument()
    yield module
    module.uninstrument()
    for name in ("tinyllm", "convtrack_tinyllm"):
        sys.modules.pop(name, None)


@pytest.fixture
def captured() -> Iterator[CapturedRuns]:
    """Runs recorded in memory with automatic grouping on."""
    with capture_runs() as runs:
        yield runs


def test_the_plugin_uses_public_names_only() -> None:
    """No code block of the guide imports a private module of convtrack."""
    code = "\n".join(_blocks().values())
    assert re.findall(r"convtrack\._\w+|from convtrack import _", code) == []


def test_agent_runs_nest_their_chat_calls(plugin: ModuleType, captured: CapturedRuns) -> None:
    """An agent's run is the parent of the chat runs it makes, all in the current conversation."""
    import tinyllm

    with convtrack.conversation("ticket-7"):
        result = tinyllm.Agent(tinyllm.Client()).run("refund")
    assert result == "you said: plan: refund / you said: do: refund"
    chats = [r for r in captured.runs if r.kind == "llm"]
    [agent] = [r for r in captured.runs if r.kind == "chain"]
    assert len(chats) == 2
    assert {r.parent_run_id for r in chats} == {agent.run_id}
    assert {r.conversation_id for r in captured.runs} == {"ticket-7"}
    assert agent.outputs == result
    assert [r.usage for r in chats] == [{"input_tokens": 1, "output_tokens": 1}] * 2


def test_a_chat_is_grouped_by_its_history(plugin: ModuleType, captured: CapturedRuns) -> None:
    """With no id anywhere, the second turn joins the first turn's conversation; others don't."""
    import tinyllm

    client = tinyllm.Client()
    history = [{"role": "user", "content": "hi"}]
    history.append(client.chat(history))
    other = client.chat([{"role": "user", "content": "hello"}])  # another chat
    history += [{"role": "user", "content": "and then?"}]
    client.chat(history)
    first, second, third = captured.runs
    assert (first.grouping, second.grouping, third.grouping) == (
        "auto-new",
        "auto-new",
        "auto-matched",
    )
    assert third.conversation_id == first.conversation_id != second.conversation_id
    assert other == {"role": "assistant", "content": "you said: hello"}


def test_the_users_exception_passes_through_unchanged(
    plugin: ModuleType, captured: CapturedRuns
) -> None:
    """The library's exception reaches the caller as it was raised, and the run records it."""
    import tinyllm

    with pytest.raises(RuntimeError, match=r"^the model is down$") as raised:
        tinyllm.Client().chat([{"role": "user", "content": "fail"}])
    assert raised.value.__traceback__ is not None
    [run] = captured.runs
    assert (run.status, run.error) == ("error", "RuntimeError: the model is down")


def test_uninstrument_leaves_the_library_as_it_was(
    plugin: ModuleType, captured: CapturedRuns
) -> None:
    """After uninstrument() (twice), the methods are the library's own and nothing is recorded."""
    import tinyllm

    assert plugin.is_instrumented()
    plugin.instrument()  # twice: nothing changes
    plugin.uninstrument()
    plugin.uninstrument()
    assert not plugin.is_instrumented()
    assert not hasattr(tinyllm.Client.__dict__["chat"], "__wrapped__")
    assert not hasattr(tinyllm.Agent.__dict__["run"], "__wrapped__")
    tinyllm.Agent(tinyllm.Client()).run("x")
    assert captured.runs == ()


def test_nothing_is_built_before_configure(plugin: ModuleType) -> None:
    """Not recording: the wrapped calls answer as the library does."""
    import tinyllm

    assert tinyllm.Client().chat([{"role": "user", "content": "a"}])["content"] == "you said: a"


def test_the_guides_app_runs(plugin: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    """The guide's `app.py` runs as written and prints one chat of two turns and the agent."""
    namespace: dict[str, object] = {}
    exec(compile(_blocks()["app.py"], "app.py", "exec"), namespace)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["llm", "llm", "llm", "llm", "chain"]
    assert lines[0].split()[2] == lines[1].split()[2]  # the two turns: one conversation
    assert all(line.split()[2] == "ticket-7" for line in lines[2:])
