"""Per-call cost of convtrack-openai on the real OpenAI client, with an in-process transport.

The client talks to an ``httpx2.MockTransport`` returning a canned chat completion (or
a canned stream of 12 chunks), so the numbers are the SDK's own work plus convtrack's, with
no network. Each case is measured against the bare client in the same run, rounds
interleaved, medians printed:

- not configured: instrumented, but convtrack not configured (the wrappers pass through);
- recorded: convtrack configured with a no-op sink, every call an ``llm`` run, with
  automatic grouping of an 8-message history, or with a request-metadata id (no grouping);
- streamed: the same with ``stream=True`` (the stream proxy observes each chunk);
- raw: ``with_raw_response.create().parse()`` and ``with_streaming_response`` of a stream
  read with ``iter_lines()`` (convtrack replays the lines it saw);
- convtrack's own work: the wrapper around a stub that returns a parsed completion at
  once (no SDK work at all), as absolute nanoseconds added per call.

Run: ``.venv/bin/python benchmarks/bench_openai.py [--calls 200] [--rounds 15]``
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import Any

import convtrack_openai
import httpx2
import openai
from _timing import compare, report
from convtrack_openai._instrument import _switch
from openai.types.chat import ChatCompletion

import convtrack
from convtrack import Run
from convtrack.instrumentation.streams import sync_wrapper

HISTORY: list[dict[str, str]] = [{"role": "system", "content": "You are a helpful assistant."}]
for _turn in range(3):
    HISTORY.append({"role": "user", "content": f"Question {_turn}: what about the weather?"})
    HISTORY.append({"role": "assistant", "content": f"Answer {_turn}: sunny, 21 degrees."})
HISTORY.append({"role": "user", "content": "And tomorrow?"})

COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-bench",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Tomorrow: rain, 15 degrees."},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 60, "completion_tokens": 8, "total_tokens": 68},
}


def _sse() -> bytes:
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    words = ["Tomorrow:", " rain,", " 15", " degrees", " and", " some", " wind", " later."]
    deltas = [{"role": "assistant", "content": ""}, *({"content": w} for w in words), {}]
    frames = []
    for index, delta in enumerate(deltas):
        finish = "stop" if index == len(deltas) - 1 else None
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        frames.append(json.dumps({**head, "choices": [choice]}))
    usage = {"prompt_tokens": 60, "completion_tokens": 8, "total_tokens": 68}
    frames.append(json.dumps({**head, "choices": [], "usage": usage}))
    frames.append("[DONE]")
    return "".join(f"data: {frame}\n\n" for frame in frames).encode()


BODY = json.dumps(COMPLETION).encode()
STREAM_BODY = _sse()


def handler(request: httpx2.Request) -> httpx2.Response:
    """The canned answer: a stream when the request asks for one."""
    if b'"stream":true' in request.content.replace(b" ", b""):
        headers = {"content-type": "text/event-stream"}
        return httpx2.Response(200, content=STREAM_BODY, headers=headers)
    return httpx2.Response(200, content=BODY, headers={"content-type": "application/json"})


class NullSink:
    """A sink that drops every run (measures the integration, not a storage)."""

    def export(self, runs: Sequence[Run]) -> None:
        """Drop the runs."""

    def flush(self, timeout: float | None = None) -> bool:
        """Nothing to flush."""
        return True

    def close(self) -> None:
        """Nothing to close."""


def make_client() -> openai.OpenAI:
    """A real client whose HTTP goes to the in-process transport."""
    return openai.OpenAI(
        api_key="bench",
        base_url="http://bench.invalid/v1",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        max_retries=0,
    )


def calls(client: openai.OpenAI, instrumented: bool, **kwargs: Any) -> Callable[[int], None]:
    """A loop of `n` chat completions (streams read to the end), instrumented or bare."""
    create = client.chat.completions.create
    stream = bool(kwargs.get("stream"))

    def loop(n: int) -> None:
        if instrumented:
            convtrack_openai.instrument()
        else:
            convtrack_openai.uninstrument()
        for _ in range(n):
            result = create(model="gpt-bench", messages=HISTORY, **kwargs)
            if stream:
                for _chunk in result:
                    pass

    return loop


def raw_calls(client: openai.OpenAI, instrumented: bool, way: str) -> Callable[[int], None]:
    """A loop of `n` raw-response calls read as an app does, instrumented or bare.

    `way`: ``raw`` (``with_raw_response.create().parse()``, langchain-openai's way) or
    ``lines`` (``with_streaming_response`` of a stream, read with ``iter_lines()``).
    """
    completions = client.chat.completions

    def loop(n: int) -> None:
        if instrumented:
            convtrack_openai.instrument()
        else:
            convtrack_openai.uninstrument()
        for _ in range(n):
            if way == "raw":
                completions.with_raw_response.create(model="gpt-bench", messages=HISTORY).parse()
                continue
            with completions.with_streaming_response.create(
                model="gpt-bench", messages=HISTORY, stream=True
            ) as response:
                for _line in response.iter_lines():
                    pass

    return loop


def wrapper_only(instrumented: bool, **kwargs: Any) -> Callable[[int], None]:
    """A loop calling the integration's wrapper around a stub, or the stub alone."""
    completion = ChatCompletion.model_validate(COMPLETION)
    wrapper = sync_wrapper(convtrack_openai._instrument._chat, _switch)

    def stub(**_: Any) -> ChatCompletion:
        return completion

    def loop(n: int) -> None:
        _switch.on = True
        for _ in range(n):
            if instrumented:
                wrapper(stub, None, (), {"model": "gpt-bench", "messages": HISTORY, **kwargs})
            else:
                stub(model="gpt-bench", messages=HISTORY, **kwargs)

    return loop


def main() -> None:
    """Measure and print the medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per round and case")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds")
    args = parser.parse_args()
    client = make_client()
    n, rounds = args.calls, args.rounds

    medians = compare(
        {
            "bare client": calls(client, False),
            "instrumented, not configured": calls(client, True),
        },
        n=n,
        rounds=rounds,
    )
    report("chat.completions.create, convtrack not configured", medians, "bare client")

    convtrack.configure([NullSink()], export_interval=0.5)
    try:
        metadata = {"conversation_id": "conv-bench"}
        medians = compare(
            {
                "bare client": calls(client, False),
                "recorded, auto grouping": calls(client, True),
                "recorded, metadata id": calls(client, True, metadata=metadata),
            },
            n=n,
            rounds=rounds,
        )
        report("chat.completions.create, recorded", medians, "bare client")
        options = {"stream": True, "stream_options": {"include_usage": True}}
        medians = compare(
            {
                "bare client, stream": calls(client, False, **options),
                "recorded, stream, auto grouping": calls(client, True, **options),
            },
            n=n,
            rounds=rounds,
        )
        report("chat.completions.create(stream=True), 11 chunks", medians, "bare client, stream")
        medians = compare(
            {
                "bare, with_raw_response": raw_calls(client, False, "raw"),
                "recorded, with_raw_response": raw_calls(client, True, "raw"),
                "bare, streaming iter_lines": raw_calls(client, False, "lines"),
                "recorded, streaming iter_lines": raw_calls(client, True, "lines"),
            },
            n=n,
            rounds=rounds,
        )
        report("with_raw_response / with_streaming_response", medians, "bare, with_raw_response")
        medians = compare(
            {
                "stub alone": wrapper_only(False),
                "wrapper, auto grouping": wrapper_only(True),
                "wrapper, metadata id": wrapper_only(True, metadata=metadata),
            },
            n=n * 10,
            rounds=rounds,
        )
        report("convtrack's own work per call (the SDK replaced by a stub)", medians, "stub alone")
        base = medians["stub alone"]
        for name in ("wrapper, auto grouping", "wrapper, metadata id"):
            print(f"  added per call, {name[9:]:<32} {(medians[name] - base) / 1000:8.1f} us")
    finally:
        convtrack.shutdown()
        convtrack_openai.uninstrument()
        client.close()


if __name__ == "__main__":
    main()
