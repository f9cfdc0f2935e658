"""Starting and ending the convtrack runs of LangChain runs (the handler's callbacks call these).

Each function may raise; the handler's callbacks catch and report, so nothing reaches the chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from convtrack.instrumentation import (
    Decision,
    ReadOnlyMetadata,
    RunKind,
    current_run,
    decide,
    is_capturing,
    remember,
    report,
    start_run,
)

from . import _convert as convert
from ._state import Entry, RunTable, Tree, root_decision

SOURCE = "langchain"
_STREAMED: Mapping[str, Any] = ReadOnlyMetadata({"stream": True})


def start(
    table: RunTable,
    kind: RunKind,
    name: str,
    run_id: UUID,
    parent_run_id: UUID | None,
    inputs: Any,
    metadata: dict[str, Any] | None,
    tags: list[str] | None,
    *,
    messages: Sequence[BaseMessage] | None = None,
    model: str | None = None,
    run_type: Any = None,
) -> None:
    """Start the run of a LangChain run: a root decides its tree's conversation, a child takes it.

    In a tree with no conversation yet, a chat model run (`messages`) groups automatically,
    and the tree adopts what it finds.
    """
    parent = None if parent_run_id is None else table.get(parent_run_id)
    if parent is None:  # a root (or a run whose parent this handler never saw)
        decision = root_decision(metadata, messages)
        tree = Tree(decision, run_id)
        parent_run = current_run()  # e.g. a convtrack step the chain runs in
    else:
        tree = parent.tree
        parent_run = parent.run
        decision = tree.decision
        if messages is not None and tree.open is not None:
            found = decide(
                parent=parent_run,
                user_id=decision.user_id,
                agent_id=decision.agent_id,
                messages=messages,
            )
            if found.conversation_id is not None:
                decision = table.adopt(tree, found)
    run = start_run(
        kind,
        name,
        source=SOURCE,
        decision=decision,
        parent=parent_run,
        inputs=inputs,
        model=model,
        metadata=convert.run_metadata(metadata, tags, run_type),
        run_id=str(run_id),
    )
    if not run:
        return
    grouped = messages is not None and run.grouping.startswith("auto")
    table.add(run_id, Entry(run, tree, messages if grouped else None))


def end(table: RunTable, run_id: UUID, outputs: Any, error: BaseException | None) -> None:
    """End a chain, tool or retriever run (or any run, with an error)."""
    entry = table.pop(run_id)
    if entry is None:
        return
    if error is not None:
        entry.run.end(error=error, hold=True)
    elif is_capturing():
        entry.run.end(outputs=convert.plain(outputs), hold=True)
    else:
        entry.run.end(hold=True)
    table.settle(run_id, entry)


def end_llm(table: RunTable, run_id: UUID, response: LLMResult) -> None:
    """End an LLM run: answer, usage, model; remember the history of an auto-grouped call."""
    entry = table.pop(run_id)
    if entry is None:
        return
    run = entry.run
    output: Any = None
    answered: BaseMessage | None = None
    usage = model = None
    try:
        output, answered = convert.answer(response)
        usage = convert.usage(response, answered)
        model = convert.response_model(response, answered)
    except Exception as exc:  # an odd result: the run still ends, with what was read
        report("langchain: reading an LLM result", exc)
    run.end(
        outputs=output if is_capturing() else None,
        usage=usage,
        model=model,
        metadata=_STREAMED if entry.streamed else None,
        hold=True,
    )
    table.settle(run_id, entry)
    if entry.messages is not None and answered is not None:
        decision = Decision(run.conversation_id, run.user_id, run.agent_id, run.grouping)
        remember(decision, [*entry.messages, answered])
