"""The handler's state: open runs keyed by LangChain run id, bounded and thread-safe.

Every run belongs to a tree (one LangChain invocation: a root run and its children). The
tree holds the conversation decided once, when its root started; children take it. A tree
whose root found no id (no metadata id, no convtrack context) is *pending*: its first chat
model call groups the conversation automatically from its messages, and the tree adopts
that decision, including the runs of the tree still open at that moment and those that
ended before it: while a tree is pending, its ended children are held back (not emitted)
and released once the tree decides or its root ends.

Also here: `RunOwner`, what `_nest` asks a handler for (the run of a LangChain run).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from convtrack.instrumentation import (
    Decision,
    RunHandle,
    current_conversation,
    current_run,
    decide,
    report,
)


class RunOwner:
    """A callback handler that records runs: `_nest` asks it for the run of a LangChain run."""

    def _open_run(self, run_id: UUID) -> RunHandle | None:
        """The convtrack run of an open LangChain run (None when unknown)."""
        raise NotImplementedError


# Run metadata keys that name the conversation, in order of precedence.
ID_KEYS = ("conversation_id", "thread_id", "session_id")


class Tree:
    """One LangChain invocation's conversation, shared by all its runs."""

    __slots__ = ("decision", "held", "open", "root_id")

    def __init__(self, decision: Decision, root_id: Any) -> None:
        self.decision = decision
        self.root_id = root_id
        # While no conversation is known: the tree's open runs, to adopt one when it is,
        # and its ended runs, held back until then.
        self.open: set[Entry] | None = set() if decision.conversation_id is None else None
        self.held: list[RunHandle] = []


class Entry:
    """One open run: the convtrack run, its tree, and what its end needs."""

    __slots__ = ("messages", "run", "streamed", "tree")

    def __init__(self, run: RunHandle, tree: Tree, messages: Sequence[Any] | None) -> None:
        self.run = run
        self.tree = tree
        self.messages = messages  # a chat model's request, kept to remember an auto-grouped answer
        self.streamed = False


def metadata_id(metadata: Mapping[str, Any] | None) -> str | None:
    """The conversation id run metadata carries: `conversation_id`, `thread_id`, `session_id`."""
    if not metadata:
        return None
    for key in ID_KEYS:
        value = metadata.get(key)
        if value is not None and not isinstance(value, bool):
            text = value if isinstance(value, str) else str(value)
            if text and not text.isspace():
                return text
    return None


def root_decision(metadata: Mapping[str, Any] | None, messages: Sequence[Any] | None) -> Decision:
    """Decide a root run's conversation (the one `decide()` call of its tree).

    A metadata id is `explicit`, unless it is the current convtrack conversation's own id
    (which `instrument()` adds to runs for other tracers to see): that one is `context`.
    """
    conversation_id = metadata_id(metadata)
    if conversation_id is not None:
        ctx = current_conversation()
        if ctx is not None and ctx.conversation_id == conversation_id:
            conversation_id = None
    return decide(parent=current_run(), conversation_id=conversation_id, messages=messages)


class RunTable:
    """Open runs by LangChain run id: thread-safe, at most `max_open_runs` of them.

    When full, the oldest open run is forgotten (never emitted): a leak of runs that never
    end cannot grow without bound.
    """

    def __init__(self, max_open_runs: int) -> None:
        if isinstance(max_open_runs, bool) or not isinstance(max_open_runs, int):
            raise TypeError("max_open_runs must be an int")
        if max_open_runs < 1:
            raise ValueError("max_open_runs must be at least 1")
        self.max_open_runs = max_open_runs
        self._runs: OrderedDict[Any, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._runs)

    def get(self, run_id: Any) -> Entry | None:
        """The open run with this id, if any."""
        with self._lock:
            return self._runs.get(run_id)

    def add(self, run_id: Any, entry: Entry) -> None:
        """Keep an open run (forgetting the oldest one when full)."""
        evicted: Entry | None = None
        with self._lock:
            if len(self._runs) >= self.max_open_runs and run_id not in self._runs:
                _, evicted = self._runs.popitem(last=False)
                if evicted.tree.open is not None:
                    evicted.tree.open.discard(evicted)
            self._runs[run_id] = entry
            tree = entry.tree
            if tree.open is not None:
                tree.open.add(entry)
            elif entry.run.conversation_id is None and tree.decision.conversation_id:
                entry.run.adopt(tree.decision)  # the tree was adopted while this run started
        if evicted is not None:
            report("langchain: too many open runs, the oldest are forgotten")

    def pop(self, run_id: Any) -> Entry | None:
        """Remove and return the open run with this id (None when unknown or forgotten)."""
        with self._lock:
            entry = self._runs.pop(run_id, None)
            if entry is not None and entry.tree.open is not None:
                entry.tree.open.discard(entry)
            return entry

    def adopt(self, tree: Tree, decision: Decision) -> Decision:
        """Give a pending tree the conversation one of its chat model calls found.

        Returns the tree's decision: `decision`, or the one another call adopted first.
        """
        with self._lock:
            if tree.open is None:
                return tree.decision
            shared = decision._replace(metadata={})  # branch_of is the call's own
            for entry in tree.open:
                entry.run.adopt(shared)
            held, tree.held = tree.held, []
            for run in held:
                run.adopt(shared)
            tree.open = None
            tree.decision = shared
        for run in held:
            run.release()
        return decision

    def settle(self, run_id: Any, entry: Entry) -> None:
        """After `entry.run.end(hold=True)`: keep it back while its tree is pending, else emit.

        The root's end releases the whole pending tree (it will not decide any more).
        """
        release: list[RunHandle] = [entry.run]
        with self._lock:
            tree = entry.tree
            if tree.open is not None:
                if run_id != tree.root_id:
                    tree.held.append(entry.run)
                    release = (
                        tree.held[: -self.max_open_runs]
                        if len(tree.held) > self.max_open_runs
                        else []
                    )
                    del tree.held[: len(release)]
                else:
                    release += tree.held
                    tree.held = []
                    tree.open = None
        for run in release:
            run.release()
