"""ConversationSpanProcessor: every span started inside a conversation carries it."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import httpx2
import pytest
from convtrack_otel import ConversationSpanProcessor
from convtrack_otel._names import PRESETS
from convtrack_otel._processor import MEMO_MAX
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import convtrack

CONV = {"gen_ai.conversation.id": "conv-42", "session.id": "conv-42", "user.id": "alice"}


def attrs(exporter: InMemorySpanExporter) -> dict[str, dict[str, Any]]:
    """Finished spans' attributes by span name."""
    return {span.name: dict(span.attributes or {}) for span in exporter.get_finished_spans()}


def stamped(span_attrs: dict[str, Any]) -> dict[str, Any]:
    """Only the attributes the processor may write."""
    keys = {"gen_ai.conversation.id", "session.id", "user.id"}
    return {k: v for k, v in span_attrs.items() if k in keys}


def test_hand_made_span_inside_conversation_is_stamped(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A span started inside a conversation gets its id and user; one outside gets nothing."""
    tracer = provider.get_tracer("app")
    with convtrack.conversation("conv-42", user_id="alice"):
        tracer.start_span("inside", attributes={"app.step": 1}).end()
    tracer.start_span("outside").end()
    got = attrs(exporter)
    assert got["inside"] == {"app.step": 1, **CONV}
    assert got["outside"] == {}


def test_user_only_context_stamps_only_the_user(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """`set_user_id` outside any conversation stamps `user.id` alone."""
    token = convtrack.set_user_id("alice")
    try:
        provider.get_tracer("app").start_span("user-only").end()
    finally:
        convtrack.reset(token)
    assert attrs(exporter)["user-only"] == {"user.id": "alice"}


def test_nested_conversations_stamp_the_innermost(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Inner conversation wins (user inherited); leaving it restores the outer one."""
    tracer = provider.get_tracer("app")
    with convtrack.conversation("outer", user_id="alice"), tracer.start_as_current_span("outer-1"):
        with convtrack.conversation("inner"):
            tracer.start_span("inner-1").end()
        tracer.start_span("outer-2").end()
    got = attrs(exporter)
    assert got["outer-1"]["gen_ai.conversation.id"] == "outer"
    assert stamped(got["inner-1"]) == {
        "gen_ai.conversation.id": "inner",
        "session.id": "inner",
        "user.id": "alice",
    }
    assert got["outer-2"]["session.id"] == "outer"


def test_attributes_set_by_the_span_creator_are_kept(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """An attribute the creator already set is not overwritten; the missing ones are added."""
    with convtrack.conversation("conv-42", user_id="alice"):
        provider.get_tracer("lib").start_span(
            "own", attributes={"gen_ai.conversation.id": "theirs"}
        ).end()
    assert stamped(attrs(exporter)["own"]) == {
        "gen_ai.conversation.id": "theirs",
        "session.id": "conv-42",
        "user.id": "alice",
    }


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        (("openinference",), {"session.id": "c", "user.id": "u"}),
        (("gen_ai",), {"gen_ai.conversation.id": "c", "user.id": "u"}),
        (
            ("traceloop",),
            {
                "traceloop.association.properties.conversation_id": "c",
                "traceloop.association.properties.user_id": "u",
            },
        ),
        (("langfuse",), {"langfuse.session.id": "c", "langfuse.user.id": "u"}),
        (("enduser.id", "gen_ai.agent.id"), {"enduser.id": "u", "gen_ai.agent.id": "a"}),
        (
            {"my.thread": "conversation_id", "my.user": "user_id", "my.agent": "agent_id"},
            {"my.thread": "c", "my.user": "u", "my.agent": "a"},
        ),
        ("session.id", {"session.id": "c"}),
    ],
)
def test_attribute_names_are_configurable(
    exporter: InMemorySpanExporter, attributes: Any, expected: dict[str, str]
) -> None:
    """Presets, known names and a {name: field} mapping choose exactly what is written."""
    tp = TracerProvider(shutdown_on_exit=False)
    tp.add_span_processor(ConversationSpanProcessor(attributes=attributes))
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    with convtrack.conversation("c", user_id="u", agent_id="a"):
        tp.get_tracer("app").start_span("s").end()
    assert attrs(exporter)["s"] == expected
    assert set(PRESETS) == {"gen_ai", "openinference", "traceloop", "langfuse"}


@pytest.mark.parametrize(
    ("attributes", "error"),
    [
        (("no.such.name",), ValueError),
        ({"x": "thread"}, ValueError),
        ((1,), TypeError),
        (42, TypeError),
    ],
)
def test_bad_attribute_names_are_refused(attributes: Any, error: type[Exception]) -> None:
    """An unknown name (outside a mapping), an unknown field or a wrong type fails at once."""
    with pytest.raises(error):
        ConversationSpanProcessor(attributes=attributes)


async def test_concurrent_tasks_stamp_their_own_conversation(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """asyncio tasks carry the conversation: each task's spans carry its own."""
    tracer = provider.get_tracer("app")

    async def handle(conversation_id: str) -> None:
        with convtrack.conversation(conversation_id):
            for step in range(3):
                await asyncio.sleep(0)
                tracer.start_span(f"{conversation_id}-{step}").end()

    await asyncio.gather(handle("a"), handle("b"))
    for name, span_attrs in attrs(exporter).items():
        assert span_attrs["gen_ai.conversation.id"] == name.split("-")[0]


async def test_create_task_inherits_the_conversation(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A task created inside a conversation stamps it, after the creator left it."""
    tracer = provider.get_tracer("app")
    gate = asyncio.Event()

    async def later() -> None:
        await gate.wait()
        tracer.start_span("in-task").end()

    with convtrack.conversation("conv-42", user_id="alice"):
        task = asyncio.create_task(later())
    gate.set()
    await task
    assert attrs(exporter)["in-task"] == CONV


def test_threads_with_propagate_are_stamped(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A pool thread stamps the conversation with `propagate()`, and nothing without it."""
    tracer = provider.get_tracer("app")

    def work(name: str) -> None:
        tracer.start_span(name).end()

    with convtrack.conversation("conv-42", user_id="alice"), ThreadPoolExecutor(2) as pool:
        pool.submit(convtrack.propagate(work), "propagated").result()
        pool.submit(work, "bare").result()
    got = attrs(exporter)
    assert got["propagated"] == CONV
    assert got["bare"] == {}


def test_spans_of_a_trace_rooted_in_a_conversation_are_stamped_outside_it(
    provider: TracerProvider,
    processor: ConversationSpanProcessor,
    exporter: InMemorySpanExporter,
) -> None:
    """A thread with the trace context but not convtrack's stamps from the per-trace memory."""
    tracer = provider.get_tracer("app")
    with convtrack.conversation("conv-42", user_id="alice"):
        root = tracer.start_span("root")
    parent = trace.set_span_in_context(root)
    worker = threading.Thread(target=lambda: tracer.start_span("in-thread", context=parent).end())
    worker.start()
    worker.join()
    tracer.start_span("other-trace").end()
    assert processor.traces_remembered == 1
    root.end()
    assert processor.traces_remembered == 0
    tracer.start_span("after-root-ended", context=parent).end()
    got = attrs(exporter)
    assert got["in-thread"] == CONV
    assert got["other-trace"] == {}
    assert got["after-root-ended"] == {}


def test_per_trace_memory_is_bounded_oldest_first(exporter: InMemorySpanExporter) -> None:
    """Beyond `max_traces`, the oldest trace is forgotten; the newest still stamp."""
    processor = ConversationSpanProcessor(max_traces=3)
    tp = TracerProvider(shutdown_on_exit=False)
    tp.add_span_processor(processor)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = tp.get_tracer("app")
    roots = []
    for i in range(5):
        with convtrack.conversation(f"conv-{i}"):
            roots.append(tracer.start_span(f"root-{i}"))
    assert processor.traces_remembered == 3
    for i, root in enumerate(roots):
        tracer.start_span(f"child-{i}", context=trace.set_span_in_context(root)).end()
    got = attrs(exporter)
    assert [got[f"child-{i}"].get("session.id") for i in range(5)] == [
        None,
        None,
        "conv-2",
        "conv-3",
        "conv-4",
    ]
    for root in roots:
        root.end()
    assert processor.traces_remembered == 0


def test_no_per_trace_memory_with_max_traces_zero(exporter: InMemorySpanExporter) -> None:
    """`max_traces=0` remembers nothing: only spans inside a conversation are stamped."""
    processor = ConversationSpanProcessor(max_traces=0)
    tp = TracerProvider(shutdown_on_exit=False)
    tp.add_span_processor(processor)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = tp.get_tracer("app")
    with convtrack.conversation("conv-42"):
        root = tracer.start_span("root")
    tracer.start_span("child", context=trace.set_span_in_context(root)).end()
    root.end()
    assert processor.traces_remembered == 0
    assert attrs(exporter)["child"] == {}


def test_a_span_with_a_remote_parent_is_a_local_root(
    provider: TracerProvider,
    processor: ConversationSpanProcessor,
    exporter: InMemorySpanExporter,
) -> None:
    """An incoming request's span (remote parent) is remembered as its trace's local root."""
    tracer = provider.get_tracer("app")
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1))
    incoming = trace.set_span_in_context(NonRecordingSpan(remote))
    with convtrack.conversation("conv-42", user_id="alice"):
        server = tracer.start_span("server", context=incoming)
    tracer.start_span("later", context=trace.set_span_in_context(server)).end()
    server.end()
    assert processor.traces_remembered == 0
    assert attrs(exporter)["later"] == CONV


def test_span_limits_fall_back_to_the_public_api(exporter: InMemorySpanExporter) -> None:
    """With tight span limits the SDK's own truncation and bounds apply to stamped values."""
    tp = TracerProvider(
        shutdown_on_exit=False,
        span_limits=SpanLimits(max_span_attributes=2, max_span_attribute_length=4),
    )
    tp.add_span_processor(ConversationSpanProcessor())
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    with convtrack.conversation("conv-42", user_id="alice"):
        tp.get_tracer("app").start_span("limited").end()
    (span,) = exporter.get_finished_spans()
    assert dict(span.attributes or {}) == {"session.id": "conv", "user.id": "alic"}
    assert span.dropped_attributes == 1


def test_on_start_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    """A span the processor cannot handle is logged on the `convtrack` logger, not raised."""

    class Broken:
        @property
        def parent(self) -> None:
            raise RuntimeError("boom")

    processor = ConversationSpanProcessor()
    with caplog.at_level(logging.WARNING, logger="convtrack"):
        with convtrack.conversation("conv-42"):
            processor.on_start(Broken())  # type: ignore[arg-type]
        processor.on_end(Broken())  # type: ignore[arg-type]
    assert "ConversationSpanProcessor.on_start failed" in caplog.text


def test_on_end_of_a_span_without_context_is_ignored(processor: ConversationSpanProcessor) -> None:
    """on_end tolerates a ReadableSpan with no context while traces are remembered."""
    tp = TracerProvider(shutdown_on_exit=False)
    tp.add_span_processor(processor)
    with convtrack.conversation("conv-42"):
        root = tp.get_tracer("app").start_span("root")
    processor.on_end(ReadableSpan("bare"))
    assert processor.traces_remembered == 1
    root.end()
    processor.shutdown()
    assert processor.force_flush() is True


def anthropic_reply(request: httpx2.Request) -> httpx2.Response:
    """A canned Messages API answer."""
    return httpx2.Response(
        200,
        json={
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-test",
            "content": [{"type": "text", "text": "hello"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 1},
        },
    )


def test_anthropic_clients_own_spans_are_stamped(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The Anthropic SDK's spans (given the provider) carry the conversation; its own id wins."""
    client = anthropic.Anthropic(
        api_key="test-key",
        http_client=httpx2.Client(transport=httpx2.MockTransport(anthropic_reply)),
        open_telemetry={"tracer_provider": provider},
    )
    request: dict[str, Any] = {
        "model": "claude-test",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
    }
    with convtrack.conversation("conv-42", user_id="alice"):
        client.messages.create(**request)
        own = client.with_options(
            open_telemetry={**client.open_telemetry, "conversation_id": "theirs"}
        )
        own.messages.create(**request)
    first, second = exporter.get_finished_spans()
    assert first.instrumentation_scope is not None
    assert first.instrumentation_scope.name == "com.anthropic.sdk.python"
    assert first.name == "anthropic.messages.create"
    assert stamped(dict(first.attributes or {})) == CONV
    assert stamped(dict(second.attributes or {})) == {**CONV, "gen_ai.conversation.id": "theirs"}


class PublicOnlySpan:
    """A span offering only the public Span API (no SDK fields), like another SDK's."""

    def __init__(self, parent: SpanContext | None) -> None:
        self.parent = parent
        self.context = SpanContext(0x1234, 0x5678, is_remote=False)
        self.attributes: dict[str, Any] = {"user.id": "creator"}

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        """Record the attributes."""
        self.attributes.update(attributes)


def test_spans_without_sdk_fields_are_stamped_through_the_public_api() -> None:
    """A span laid out otherwise switches the processor to the public API, and still works."""
    processor = ConversationSpanProcessor()
    root, child = PublicOnlySpan(None), PublicOnlySpan(SpanContext(1, 2, is_remote=False))
    with convtrack.conversation("conv-42", user_id="alice"):
        processor.on_start(root)  # type: ignore[arg-type]
        processor.on_start(child)  # type: ignore[arg-type]
    assert processor.on_start == processor._on_start_public  # switched for good
    assert root.attributes == child.attributes == {**CONV, "user.id": "creator"}
    assert processor.traces_remembered == 1  # the root's trace
    processor.on_end(child)  # type: ignore[arg-type]
    assert processor.traces_remembered == 1
    processor.on_end(root)  # type: ignore[arg-type]
    assert processor.traces_remembered == 0


def test_two_local_roots_of_one_trace_keep_the_later_one(
    provider: TracerProvider,
    processor: ConversationSpanProcessor,
    exporter: InMemorySpanExporter,
) -> None:
    """Two requests of one distributed trace: the earlier root ending keeps the later's memory."""
    tracer = provider.get_tracer("app")
    remote = trace.set_span_in_context(
        NonRecordingSpan(SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1)))
    )
    with convtrack.conversation("first"):
        first = tracer.start_span("first", context=remote)
    with convtrack.conversation("second"):
        second = tracer.start_span("second", context=remote)
    first.end()
    assert processor.traces_remembered == 1
    tracer.start_span("outside", context=trace.set_span_in_context(second)).end()
    second.end()
    assert processor.traces_remembered == 0
    assert attrs(exporter)["outside"]["session.id"] == "second"


def test_each_conversation_object_stamps_its_own_values(
    provider: TracerProvider,
    processor: ConversationSpanProcessor,
    exporter: InMemorySpanExporter,
) -> None:
    """The per-conversation memo never serves another conversation's stamp (ids reused)."""
    tracer = provider.get_tracer("app")
    count = MEMO_MAX * 3  # past the memo's bound, objects freed and their addresses reused
    for i in range(count):
        with convtrack.conversation("same-id", user_id=f"user-{i}"):
            tracer.start_span(f"span-{i}").end()
    got = attrs(exporter)
    assert [got[f"span-{i}"]["user.id"] for i in range(count)] == [
        f"user-{i}" for i in range(count)
    ]
    assert len(processor._stamps) <= MEMO_MAX


def test_interleaved_conversations_stamp_their_own(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Spans alternating between conversations (as tasks do) each carry their own."""
    tracer = provider.get_tracer("app")
    contexts = []
    for name in ("a", "b", "c"):
        with convtrack.conversation(name, user_id=f"user-{name}"):
            contexts.append(contextvars.copy_context())
    for step in range(5):
        for context, name in zip(contexts, "abc", strict=True):
            context.run(lambda n=f"{name}-{step}": tracer.start_span(n).end())
    for span_name, span_attrs in attrs(exporter).items():
        name = span_name.split("-")[0]
        assert span_attrs == {
            "gen_ai.conversation.id": name,
            "session.id": name,
            "user.id": f"user-{name}",
        }


def test_per_trace_memory_stays_bounded_with_roots_that_never_end() -> None:
    """Roots that never end (a leak in the application) leave at most `max_traces` behind."""
    processor = ConversationSpanProcessor(max_traces=10)
    tp = TracerProvider(shutdown_on_exit=False)
    tp.add_span_processor(processor)
    tracer = tp.get_tracer("app")
    roots = []
    for i in range(1000):
        with convtrack.conversation(f"conv-{i}"):
            roots.append(tracer.start_span(f"root-{i}"))
        assert processor.traces_remembered <= 10
    assert processor.traces_remembered == 10
    remembered = {entry[0].trace_id for entry in processor._traces.values()}
    assert remembered == {root.get_span_context().trace_id for root in roots[-10:]}
    processor.shutdown()
    assert processor.traces_remembered == 0


def test_spans_started_concurrently_from_threads_never_fail(
    caplog: pytest.LogCaptureFixture, exporter: InMemorySpanExporter
) -> None:
    """Threads starting and ending traces at once: no failure, right stamps, memory bounded."""
    max_traces, threads, turns = 4, 8, 200
    processor = ConversationSpanProcessor(max_traces=max_traces)
    tp = TracerProvider(shutdown_on_exit=False)
    tp.add_span_processor(processor)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = tp.get_tracer("app")
    seen: list[int] = []
    start = threading.Barrier(threads)

    def work(worker: int) -> None:
        start.wait()
        for turn in range(turns):
            name = f"{worker}-{turn}"
            with convtrack.conversation(name, user_id=f"user-{worker}"):
                root = tracer.start_span(f"root {name}")
                seen.append(processor.traces_remembered)
                tracer.start_span(f"inside {name}", context=trace.set_span_in_context(root)).end()
            # outside the conversation: stamped from the per-trace memory, unless a
            # concurrent trim forgot the trace (allowed: never another conversation's)
            tracer.start_span(f"outside {name}", context=trace.set_span_in_context(root)).end()
            root.end()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with caplog.at_level(logging.WARNING, logger="convtrack"):
            pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert caplog.records == []
    assert max(seen) <= max_traces + threads
    assert processor.traces_remembered == 0
    got = attrs(exporter)
    assert len(got) == threads * turns * 3
    for span_name, span_attrs in got.items():
        where, name = span_name.split(" ")
        expected = {
            "gen_ai.conversation.id": name,
            "session.id": name,
            "user.id": f"user-{name.split('-')[0]}",
        }
        if where == "outside":
            assert span_attrs in ({}, expected)
        else:
            assert span_attrs == expected


def test_ending_a_span_without_context_logs_nothing(
    caplog: pytest.LogCaptureFixture, processor: ConversationSpanProcessor
) -> None:
    """A ReadableSpan with no context, while traces are remembered, is ignored quietly."""
    tp = TracerProvider(shutdown_on_exit=False)
    tp.add_span_processor(processor)
    with convtrack.conversation("conv-42"):
        root = tp.get_tracer("app").start_span("root")
    with caplog.at_level(logging.WARNING, logger="convtrack"):
        processor.on_end(ReadableSpan("bare"))
    assert caplog.records == []
    assert processor.traces_remembered == 1
    root.end()
    assert processor.traces_remembered == 0
