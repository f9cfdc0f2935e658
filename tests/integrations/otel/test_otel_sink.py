"""OTelSink: runs exported as spans, with their times, links, status and GenAI attributes."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import entry_points
from typing import Any

import convtrack_langchain
import convtrack_openai
import pytest
from convtrack_otel import ConversationSpanProcessor, OTelSink, SpanExportError
from convtrack_otel._spans import span_id_of, trace_id_of
from langchain_openai import ChatOpenAI
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, TraceIdRatioBased
from opentelemetry.trace import SpanKind, StatusCode

import convtrack
from convtrack import Run
from convtrack._resolve import Decision, decide
from convtrack._start import start_run
from convtrack.fake_llm import FakeLLMServer
from convtrack.instrumentation import times_ns


def configure(sink: OTelSink, **kwargs: Any) -> None:
    """convtrack recording into `sink` (and a MemorySink to compare with), grouping off."""
    convtrack.configure([sink], grouping=kwargs.pop("grouping", False), export_interval=0.05)


def recorded(sink: convtrack.MemorySink) -> dict[str, Run]:
    """The runs recorded so far, by name."""
    convtrack.flush()
    return {run.name: run for run in sink.runs}


def spans(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    """Exported spans by their `convtrack.run.name` (or span name)."""
    convtrack.flush()
    out = {}
    for span in exporter.get_finished_spans():
        span_attrs = span.attributes or {}
        out[str(span_attrs.get("convtrack.run.name", span.name))] = span
    return out


def test_runs_become_spans_with_real_times_and_one_trace(
    plain_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Nested traced steps: one trace per root run, parents linked, start/end times exact."""
    memory = convtrack.MemorySink()
    convtrack.configure([OTelSink(plain_provider), memory], grouping=False, export_interval=0.05)
    with convtrack.conversation("conv-42", user_id="alice"):
        with convtrack.trace(name="handle"):
            with convtrack.trace(name="retrieve", kind="retriever"):
                pass
            with convtrack.trace(name="lookup", kind="tool"):
                pass
        with convtrack.trace(name="second-root"):
            pass
    runs = recorded(memory)
    got = spans(exporter)
    assert set(got) == {"handle", "retrieve", "lookup", "second-root"}
    root = got["handle"]
    assert root.parent is None
    assert root.context is not None
    assert root.context.trace_id == trace_id_of(runs["handle"].run_id)
    assert root.context.span_id == span_id_of(runs["handle"].run_id)
    for child in ("retrieve", "lookup"):
        span = got[child]
        assert span.context is not None
        assert span.parent is not None
        assert span.context.trace_id == root.context.trace_id
        assert span.parent.span_id == root.context.span_id
    second = got["second-root"].context
    assert second is not None
    assert second.trace_id != root.context.trace_id
    for name, span in got.items():
        assert (span.start_time, span.end_time) == times_ns(runs[name])  # exact: nanoseconds
        assert span.attributes is not None
        assert span.attributes["convtrack.run.id"] == runs[name].run_id
    assert got["lookup"].name == "execute_tool lookup"
    assert got["lookup"].attributes["gen_ai.tool.name"] == "lookup"  # type: ignore[index]
    assert got["retrieve"].attributes["convtrack.run.kind"] == "retriever"  # type: ignore[index]
    assert dict(root.attributes or {}) == {
        "convtrack.run.id": runs["handle"].run_id,
        "convtrack.run.kind": "function",
        "convtrack.run.name": "handle",
        "convtrack.run.source": "trace",
        "convtrack.grouping": "context",
        "convtrack.conversation.id": "conv-42",
        "convtrack.conversation.inferred": False,
        "gen_ai.conversation.id": "conv-42",
        "session.id": "conv-42",
        "convtrack.user.id": "alice",
        "user.id": "alice",
    }
    assert root.kind is SpanKind.INTERNAL
    assert root.status.status_code is StatusCode.UNSET
    assert root.instrumentation_scope is not None
    assert root.instrumentation_scope.name == "convtrack"


def test_children_exported_before_their_parent_still_link(
    plain_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A child exported in an earlier batch than its parent names the parent's span id."""
    configure(OTelSink(plain_provider))
    parent = start_run("function", "parent", source="test")
    assert parent is not None
    child = start_run("llm", "child", source="test", parent=parent)
    grandchild = start_run("tool", "grandchild", source="test", parent=child)
    assert child is not None
    assert grandchild is not None
    grandchild.end()
    child.end()
    convtrack.flush()
    assert len(exporter.get_finished_spans()) == 2  # the first batch: no parent yet
    parent.end()
    got = spans(exporter)
    root_context = got["parent"].context
    assert root_context is not None
    child_span, grandchild_span = got["child"], got["grandchild"]
    assert child_span.parent is not None
    assert child_span.parent.span_id == root_context.span_id
    assert child_span.context is not None
    assert child_span.context.trace_id == root_context.trace_id
    assert grandchild_span.parent is not None
    assert grandchild_span.parent.span_id == child_span.context.span_id
    assert child_span.start_time is not None
    assert got["parent"].start_time is not None
    assert got["parent"].start_time <= child_span.start_time
    assert (child_span.end_time or 0) <= (got["parent"].end_time or 0)


def test_llm_run_has_genai_attributes(
    plain_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """An LLM run: `chat <model>`, CLIENT, gen_ai.* model/usage/provider, metadata kept."""
    configure(OTelSink(plain_provider))
    run = start_run(
        "llm",
        "openai.chat.completions.create",
        source="openai",
        decision=Decision("conv-42", "alice", "support-bot", "explicit"),
        inputs={"messages": [{"role": "user", "content": "hi"}]},
        metadata={"stream": True, "tags": ["a", "b"]},
    )
    assert run is not None
    run.end(
        outputs={"role": "assistant", "content": "hello"},
        usage={"input_tokens": 12, "output_tokens": 30, "total_tokens": 42},
        model="gpt-4o-2024-08-06",
    )
    (span,) = spans(exporter).values()
    assert span.name == "chat gpt-4o-2024-08-06"
    assert span.kind is SpanKind.CLIENT
    got = dict(span.attributes or {})
    assert {k: v for k, v in got.items() if not k.startswith("convtrack.run")} == {
        "convtrack.grouping": "explicit",
        "convtrack.conversation.id": "conv-42",
        "convtrack.conversation.inferred": False,
        "gen_ai.conversation.id": "conv-42",
        "session.id": "conv-42",
        "convtrack.user.id": "alice",
        "user.id": "alice",
        "convtrack.agent.id": "support-bot",
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-2024-08-06",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 30,
        "convtrack.metadata.stream": True,
        "convtrack.metadata.tags": '["a","b"]',
    }
    assert "convtrack.inputs" not in got


def test_content_is_exported_only_when_asked(
    plain_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """`capture_content=True` writes inputs and outputs as JSON attributes."""
    configure(OTelSink(plain_provider, capture_content=True))
    run = start_run("llm", "call", source="anthropic", inputs={"messages": ["hi"]})
    assert run is not None
    run.end(outputs={"role": "assistant", "content": "yo"})
    (span,) = spans(exporter).values()
    assert span.name == "chat"
    assert span.attributes is not None
    assert span.attributes["convtrack.inputs"] == '{"messages":["hi"]}'
    assert span.attributes["convtrack.outputs"] == '{"role":"assistant","content":"yo"}'


def test_failed_run_has_error_status_type_and_event(
    plain_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A run that raised: status ERROR, `error.type`, an `exception` event at its end."""
    configure(OTelSink(plain_provider))
    with pytest.raises(ValueError, match="bad input"), convtrack.trace(name="fails"):
        raise ValueError("bad input")
    run = start_run("http", "GET /x", source="asgi")
    assert run is not None
    run.end(error="upstream timed out")
    got = spans(exporter)
    span = got["fails"]
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError: bad input"
    assert span.attributes is not None
    assert span.attributes["error.type"] == "ValueError"
    (event,) = span.events
    assert event.name == "exception"
    assert dict(event.attributes or {}) == {
        "exception.type": "ValueError",
        "exception.message": "bad input",
    }
    assert event.timestamp == span.end_time
    http = got["GET /x"]
    assert http.kind is SpanKind.SERVER
    assert http.attributes is not None
    assert http.attributes["error.type"] == "_OTHER"


def inferred_run() -> None:
    """One LLM run whose conversation automatic grouping decides (a first turn: auto-new)."""
    decision = decide(messages=[{"role": "user", "content": "hello"}])
    assert decision.grouping == "auto-new"
    run = start_run("llm", "auto", source="openai", decision=decision)
    assert run is not None
    run.end()


def test_inferred_id_is_not_written_as_the_conversation_id(
    plain_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """An auto-grouped id goes to convtrack.conversation.id (inferred), never gen_ai.*."""
    configure(OTelSink(plain_provider), grouping=True)
    inferred_run()
    with convtrack.conversation("explicit-id"):
        explicit = start_run("llm", "explicit", source="openai")
        assert explicit is not None
        explicit.end()
    got = spans(exporter)
    auto = dict(got["auto"].attributes or {})
    assert auto["convtrack.grouping"] == "auto-new"
    assert auto["convtrack.conversation.inferred"] is True
    assert auto["convtrack.conversation.id"]
    assert "gen_ai.conversation.id" not in auto
    assert "session.id" not in auto
    ctx = dict(got["explicit"].attributes or {})
    assert ctx["gen_ai.conversation.id"] == "explicit-id"
    assert ctx["convtrack.conversation.inferred"] is False


def test_inferred_id_as_conversation_id_when_opted_in(
    plain_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """`inferred_as_conversation_id=True` writes the inferred id under the GenAI names too."""
    configure(OTelSink(plain_provider, inferred_as_conversation_id=True), grouping=True)
    inferred_run()
    auto = dict(spans(exporter)["auto"].attributes or {})
    assert auto["gen_ai.conversation.id"] == auto["convtrack.conversation.id"]
    assert auto["session.id"] == auto["convtrack.conversation.id"]
    assert auto["convtrack.conversation.inferred"] is True


def test_configure_by_name_uses_the_global_provider(
    global_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """`configure(sinks=["otel"])` loads the entry point and exports to the global provider."""
    (entry,) = entry_points(group="convtrack.sinks", name="otel")
    assert entry.load() is OTelSink
    convtrack.configure(sinks=["otel"], export_interval=0.05)
    with convtrack.conversation("conv-42"), convtrack.trace(name="by-name"):
        pass
    (span,) = spans(exporter).values()
    assert span.name == "by-name"
    assert convtrack.stats()["failed"] == 0


def test_no_sdk_provider_is_logged_and_counted(
    no_global_provider: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Without any SDK provider the app runs on; convtrack logs why and counts the runs."""
    convtrack.configure(sinks=["otel"], export_interval=0.05)
    with caplog.at_level(logging.WARNING, logger="convtrack"), convtrack.trace(name="lost"):
        result = 42
    convtrack.flush()
    assert result == 42
    assert convtrack.stats()["failed"] == 1
    assert "no OpenTelemetry SDK TracerProvider is registered" in caplog.text


class FailingExporter(SpanExporter):
    """An exporter whose backend is down: raises, or answers FAILURE."""

    def __init__(self, raises: bool) -> None:
        self.raises = raises
        self.calls = 0
        self.shut_down = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Fail."""
        self.calls += 1
        if self.raises:
            raise ConnectionError("collector unreachable")
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        """Remember the call."""
        self.shut_down = True


@pytest.mark.parametrize("raises", [True, False], ids=["raises", "returns-failure"])
def test_failing_exporter_is_logged_and_counted(
    raises: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """In exporter mode a failing export never reaches the app; convtrack logs and counts it."""
    failing = FailingExporter(raises)
    convtrack.configure([OTelSink(exporter=failing)], grouping=False, export_interval=0.05)

    @convtrack.trace()
    def step(x: int) -> int:
        return x * 2

    with caplog.at_level(logging.WARNING, logger="convtrack"):
        assert [step(i) for i in range(3)] == [0, 2, 4]
        convtrack.flush()
    stats = convtrack.stats()
    assert (stats["emitted"], stats["exported"], stats["failed"]) == (3, 0, 3)
    assert failing.calls >= 1
    assert "sink OTelSink failed" in caplog.text
    expected = ConnectionError if raises else SpanExportError
    assert any(isinstance(r.exc_info[1], expected) for r in caplog.records if r.exc_info)
    convtrack.shutdown()
    assert failing.shut_down


def test_exporter_mode_exports_once_per_batch_with_resource() -> None:
    """In exporter mode the sink's spans carry the given resource; close() shuts it down."""
    memory = InMemorySpanExporter()
    sink = OTelSink(exporter=memory, resource=Resource.create({"service.name": "chat-api"}))
    convtrack.configure([sink], grouping=False, export_interval=0.05)
    with convtrack.trace(name="a"), convtrack.trace(name="b"):
        pass
    convtrack.flush()
    got = memory.get_finished_spans()
    assert [span.name for span in got] == ["b", "a"]
    assert got[0].resource.attributes["service.name"] == "chat-api"
    assert sink.flush(1.0) is True


def test_failing_exporter_behind_a_provider_does_not_reach_the_app(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Behind a provider, the provider's processor owns the failure: the app runs on."""
    tp = TracerProvider(shutdown_on_exit=False)
    tp.add_span_processor(SimpleSpanProcessor(FailingExporter(raises=True)))
    configure(OTelSink(tp))
    with caplog.at_level(logging.ERROR), convtrack.trace(name="step"):
        value = "ok"
    assert convtrack.flush()
    assert value == "ok"
    assert convtrack.stats()["failed"] == 0
    assert "Exception while exporting Span" in caplog.text
    tp.shutdown()


def test_sampler_keeps_or_drops_a_trace_whole(exporter: InMemorySpanExporter) -> None:
    """The provider's sampler decides per trace, also for children exported before the root."""
    tp = TracerProvider(sampler=TraceIdRatioBased(0.5), shutdown_on_exit=False)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    configure(OTelSink(tp))
    roots = []
    for i in range(40):
        root = start_run("function", f"root-{i}", source="test")
        child = start_run("tool", f"child-{i}", source="test", parent=root)
        assert root is not None
        assert child is not None
        child.end()
        roots.append(root)
    convtrack.flush()
    for root in roots:
        root.end()
    names = set(spans(exporter))
    kept = {i for i in range(40) if f"root-{i}" in names}
    assert 0 < len(kept) < 40
    assert {i for i in range(40) if f"child-{i}" in names} == kept
    tp.shutdown()


def test_always_off_sampler_exports_nothing(exporter: InMemorySpanExporter) -> None:
    """A provider sampling nothing gets no run spans, and the runs are not counted as failed."""
    tp = TracerProvider(sampler=ALWAYS_OFF, shutdown_on_exit=False)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    configure(OTelSink(tp))
    with convtrack.trace(name="root"), convtrack.trace(name="child"):
        pass
    assert spans(exporter) == {}
    assert convtrack.stats()["failed"] == 0


def test_export_does_not_see_the_dispatcher_threads_context(exporter: InMemorySpanExporter) -> None:
    """Run spans are stamped from their runs only, never from the exporting thread's context."""
    processor = ConversationSpanProcessor()
    tp = TracerProvider(shutdown_on_exit=False)
    tp.add_span_processor(processor)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    convtrack.instrument_threading()  # the dispatcher thread would inherit this conversation
    with convtrack.conversation("leaked", user_id="mallory"):
        configure(OTelSink(tp))
    with convtrack.trace(name="no-conversation"):
        pass
    span = spans(exporter)["no-conversation"]
    assert (
        dict(span.attributes or {})
        .keys()
        .isdisjoint({"gen_ai.conversation.id", "session.id", "user.id"})
    )
    assert processor.traces_remembered == 0


def test_sink_argument_checks() -> None:
    """A provider with an exporter, a resource without one, a non-SDK provider: refused."""
    with pytest.raises(ValueError, match="not both"):
        OTelSink(TracerProvider(shutdown_on_exit=False), exporter=InMemorySpanExporter())
    with pytest.raises(ValueError, match="exporter mode"):
        OTelSink(resource=Resource.create({}))
    with pytest.raises(TypeError, match="SDK"):
        OTelSink(object())


SCRIPT = """
import sys
import convtrack
from convtrack_otel import OTelSink
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

class Print(SpanExporter):
    def export(self, spans):
        for span in spans:
            print("exported", span.name, flush=True)
        return SpanExportResult.SUCCESS

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(Print(), schedule_delay_millis=60_000))
trace.set_tracer_provider(provider)
convtrack.configure(sinks=["otel"], export_interval=60)
with convtrack.trace(name="last-words"):
    pass
print("exiting", flush=True)
"""


def test_runs_still_queued_at_exit_reach_the_provider() -> None:
    """At interpreter exit the queued runs are exported before the provider shuts down."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["exiting", "exported last-words"]


async def test_runs_from_threads_and_tasks_link_to_their_parent(
    plain_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Steps run in tasks and in a propagated pool thread are children of the outer run."""
    configure(OTelSink(plain_provider))

    def in_thread() -> None:
        with convtrack.trace(name="thread-step"):
            pass

    async def in_task(name: str) -> None:
        with convtrack.trace(name=name):
            await asyncio.sleep(0)

    with convtrack.conversation("conv-42"), convtrack.trace(name="outer"):
        await asyncio.gather(in_task("task-a"), in_task("task-b"))
        with ThreadPoolExecutor(1) as pool:
            pool.submit(convtrack.propagate(in_thread)).result()
    got = spans(exporter)
    outer = got["outer"].context
    assert outer is not None
    for name in ("task-a", "task-b", "thread-step"):
        span = got[name]
        assert span.parent is not None
        assert span.context is not None
        assert (span.context.trace_id, span.parent.span_id) == (outer.trace_id, outer.span_id)
        assert dict(span.attributes or {})["gen_ai.conversation.id"] == "conv-42"


def _llm_pair(inner_usage: dict[str, int] | None) -> None:
    """A LangChain-style LLM run with the SDK's LLM run nested in it, both with usage."""
    outer = start_run("llm", "ChatOpenAI", source="langchain", model="gpt-test")
    assert outer is not None
    inner = start_run("llm", "openai.chat.completions", source="openai", parent=outer)
    assert inner is not None
    inner.end(usage=inner_usage)
    convtrack.flush()  # the inner span is exported in an earlier batch than the outer one
    outer.end(usage={"input_tokens": 10, "output_tokens": 4, "total_tokens": 14})


def test_a_nested_llm_run_carries_the_usage_of_the_model_call_once(
    plain_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Usage goes on the inner (SDK) span only; the outer keeps its own when the inner had none."""
    configure(OTelSink(plain_provider))
    _llm_pair({"input_tokens": 10, "output_tokens": 4, "total_tokens": 14})
    got = spans(exporter)
    inner, outer = (
        dict(got["openai.chat.completions"].attributes or {}),
        dict(got["ChatOpenAI"].attributes or {}),
    )
    assert (inner["gen_ai.usage.input_tokens"], inner["gen_ai.usage.output_tokens"]) == (10, 4)
    assert "gen_ai.usage.input_tokens" not in outer
    assert "gen_ai.usage.output_tokens" not in outer
    exporter.clear()
    _llm_pair(None)
    got = spans(exporter)
    outer = dict(got["ChatOpenAI"].attributes or {})
    assert (outer["gen_ai.usage.input_tokens"], outer["gen_ai.usage.output_tokens"]) == (10, 4)
    assert "gen_ai.usage.input_tokens" not in (got["openai.chat.completions"].attributes or {})


def test_usage_of_an_llm_run_under_a_plain_step_stays(
    plain_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """An LLM run under a non-LLM step, and two in a row, each keep their own usage."""
    configure(OTelSink(plain_provider))
    with convtrack.trace(name="handle"):
        for name in ("first", "second"):
            run = start_run("llm", name, source="openai")
            assert run is not None
            run.end(usage={"input_tokens": 2, "output_tokens": 1})
    got = spans(exporter)
    for name in ("first", "second"):
        assert (got[name].attributes or {})["gen_ai.usage.input_tokens"] == 2


def test_chatopenai_with_both_integrations_counts_its_tokens_once(
    plain_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The real ChatOpenAI over the instrumented openai client: usage on one span per call."""
    configure(OTelSink(plain_provider))
    convtrack_langchain.instrument()
    convtrack_openai.instrument()
    try:
        with FakeLLMServer() as server:
            model = ChatOpenAI(
                model="gpt-test",
                base_url=server.openai_base_url,
                api_key="test",
                max_retries=0,
                stream_usage=True,
            )
            answer = model.invoke("hello there")
            streamed = list(model.stream("hello again"))
    finally:
        convtrack_openai.uninstrument()
        convtrack_langchain.uninstrument()
    convtrack.flush()
    llm = [s for s in exporter.get_finished_spans() if s.name.startswith("chat")]
    assert len(llm) == 4  # two calls, each a LangChain span and the SDK's span in it
    with_usage = [s for s in llm if "gen_ai.usage.input_tokens" in (s.attributes or {})]
    assert [(s.attributes or {})["convtrack.run.source"] for s in with_usage] == ["openai"] * 2
    total = sum(int((s.attributes or {})["gen_ai.usage.output_tokens"]) for s in with_usage)
    expected = answer.usage_metadata["output_tokens"] if answer.usage_metadata else 0
    expected += sum(
        chunk.usage_metadata["output_tokens"] for chunk in streamed if chunk.usage_metadata
    )
    assert total == expected
