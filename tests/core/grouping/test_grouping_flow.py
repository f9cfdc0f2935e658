"""ConversationGrouper: the WorkflowAI algorithm, made exact."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from convtrack.grouping import ConversationGrouper, MemoryStore, Resolution, StoreHit


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def bot(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


SYSTEM = {"role": "system", "content": "You are the support agent of a bicycle shop."}


def test_three_turn_chat_is_one_conversation() -> None:
    """Three turns that each resend the history form one conversation; turns 2 and 3 match."""
    grouper = ConversationGrouper()
    turn1 = [SYSTEM, user("My order 881 has not arrived.")]
    first = grouper.resolve(turn1)
    assert first.grouping == "auto-new"
    grouper.remember([*turn1, bot("Order 881 left the depot yesterday.")], first.conversation_id)

    turn2 = [*turn1, bot("Order 881 left the depot yesterday."), user("Is there a tracking code?")]
    second = grouper.resolve(turn2)
    assert second == Resolution(first.conversation_id, "auto-matched", None, 3)
    grouper.remember([*turn2, bot("Yes: TRK-5501.")], second.conversation_id)

    turn3 = [*turn2, bot("Yes: TRK-5501."), user("Thanks!")]
    third = grouper.resolve(turn3)
    assert third == Resolution(first.conversation_id, "auto-matched", None, 5)


def test_request_without_assistant_message_starts_a_new_conversation() -> None:
    """Two first turns, even identical ones, get two new uuid7 conversation ids."""
    grouper = ConversationGrouper()
    a = grouper.resolve([user("hello")])
    b = grouper.resolve([user("hello")])
    assert a.grouping == b.grouping == "auto-new"
    assert a.conversation_id != b.conversation_id
    assert a.conversation_id[14] == "7"  # uuid7: version nibble


def test_interleaved_conversations_stay_apart() -> None:
    """Three chats advancing turn by turn, interleaved, keep three distinct conversations."""
    grouper = ConversationGrouper()
    chats: dict[str, list[dict[str, Any]]] = {name: [user(f"{name}: hi")] for name in "abc"}
    ids: dict[str, str] = {}
    for turn in range(4):
        for name, history in chats.items():
            resolution = grouper.resolve(history)
            if turn == 0:
                assert resolution.grouping == "auto-new"
                ids[name] = resolution.conversation_id
            else:
                assert resolution.conversation_id == ids[name]
                assert resolution.grouping == "auto-matched"
            answer = bot(f"{name}: answer {turn}")
            grouper.remember([*history, answer], resolution.conversation_id)
            history += [answer, user(f"{name}: question {turn}")]
    assert len(set(ids.values())) == 3


def test_same_history_under_another_agent_is_another_conversation() -> None:
    """Keys are scoped by agent_id: another agent (or none) never matches."""
    grouper = ConversationGrouper(mode="peek")
    history = [user("hi"), bot("hello")]
    grouper.remember(history, "conv-a", agent_id="agent-a")
    request = [*history, user("next")]
    assert grouper.resolve(request, agent_id="agent-b").grouping == "auto-new"
    assert grouper.resolve(request).grouping == "auto-new"
    assert grouper.resolve(request, agent_id="agent-a").conversation_id == "conv-a"


def test_same_history_under_another_tenant_is_another_conversation() -> None:
    """Keys are scoped by tenant too, and tenant and agent are not interchangeable."""
    grouper = ConversationGrouper(mode="peek")
    history = [user("hi"), bot("hello")]
    grouper.remember(history, "conv-t1", agent_id="x", tenant="t1")
    request = [*history, user("next")]
    assert grouper.resolve(request, agent_id="x", tenant="t2").grouping == "auto-new"
    assert grouper.resolve(request, agent_id="x").grouping == "auto-new"
    assert grouper.resolve(request, agent_id="t1", tenant="x").grouping == "auto-new"
    assert grouper.resolve(request, agent_id="x", tenant="t1").conversation_id == "conv-t1"


def test_consume_mode_forks_a_regenerated_turn() -> None:
    """In consume mode the matched history is used once: a regenerated turn gets a new id."""
    grouper = ConversationGrouper()
    grouper.remember([user("hi"), bot("hello")], "conv-1")
    request = [user("hi"), bot("hello"), user("tell me a joke")]
    assert grouper.resolve(request).conversation_id == "conv-1"
    again = grouper.resolve(request)
    assert again.grouping == "auto-new"
    assert again.conversation_id != "conv-1"
    assert again.branch_of is None


def test_peek_mode_keeps_a_regenerated_turn_and_marks_it_a_branch() -> None:
    """In peek mode the first continuation is plain; later ones stay and carry branch_of."""
    grouper = ConversationGrouper(mode="peek")
    grouper.remember([user("hi"), bot("hello")], "conv-1")
    request = [user("hi"), bot("hello"), user("tell me a joke")]
    assert grouper.resolve(request) == Resolution("conv-1", "auto-matched", None, 2)
    assert grouper.resolve(request) == Resolution("conv-1", "auto-matched", "conv-1", 2)
    assert grouper.resolve(request).branch_of == "conv-1"


def test_peek_mode_next_turn_matches_the_newest_history_without_branch() -> None:
    """In peek mode a next turn matches the latest remembered history, not as a branch."""
    grouper = ConversationGrouper(mode="peek")
    h1 = [user("hi"), bot("hello")]
    grouper.remember(h1, "conv-1")
    h2 = [*h1, user("joke?"), bot("Why did the bike fall over? It was two-tired.")]
    assert grouper.resolve(h2[:3]).branch_of is None
    grouper.remember(h2, "conv-1")
    third = grouper.resolve([*h2, user("another")])
    assert third == Resolution("conv-1", "auto-matched", None, 4)


def test_longest_prefix_wins() -> None:
    """When several prefixes are known, the longest one decides."""
    grouper = ConversationGrouper()
    short = [user("hi"), bot("hello")]
    long = [*short, user("more"), bot("sure")]
    grouper.remember(short, "conv-short")
    grouper.remember(long, "conv-long")
    resolution = grouper.resolve([*long, user("and?")])
    assert (resolution.conversation_id, resolution.matched_length) == ("conv-long", 4)


def test_a_shorter_prefix_matches_when_the_longer_is_unknown() -> None:
    """A request whose latest turns are unknown still matches an earlier remembered prefix."""
    grouper = ConversationGrouper()
    grouper.remember([user("hi"), bot("hello")], "conv-1")
    request = [user("hi"), bot("hello"), user("edited"), bot("other"), user("next")]
    assert grouper.resolve(request) == Resolution("conv-1", "auto-matched", None, 2)


def test_remembered_history_expires_after_ttl(clock: Any) -> None:
    """A history is matchable for ttl seconds after remember(), then a new conversation starts."""
    grouper = ConversationGrouper(MemoryStore(clock=clock), ttl=60, mode="peek")
    grouper.remember([user("hi"), bot("hello")], "conv-1")
    request = [user("hi"), bot("hello"), user("back")]
    clock.advance(59.9)
    assert grouper.resolve(request).conversation_id == "conv-1"
    clock.advance(0.2)
    assert grouper.resolve(request).grouping == "auto-new"


def test_remember_again_extends_the_ttl(clock: Any) -> None:
    """Remembering the same history again restarts its TTL."""
    grouper = ConversationGrouper(MemoryStore(clock=clock), ttl=60)
    history = [user("hi"), bot("hello")]
    grouper.remember(history, "conv-1")
    clock.advance(50)
    grouper.remember(history, "conv-1")
    clock.advance(50)
    assert grouper.resolve([*history, user("x")]).conversation_id == "conv-1"


def test_system_parameter_counts_as_the_first_message() -> None:
    """An Anthropic-style system (str or text blocks) equals a leading system message."""
    grouper = ConversationGrouper(mode="peek")
    grouper.remember([user("hi"), bot("hello")], "conv-1", system="Be brief.")
    request = [user("hi"), bot("hello"), user("x")]
    blocks = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    assert grouper.resolve(request, system=blocks).conversation_id == "conv-1"
    as_message = grouper.resolve([{"role": "system", "content": "Be brief."}, *request])
    assert as_message.conversation_id == "conv-1"
    assert as_message.matched_length == 3  # the system message is one of the messages here
    assert grouper.resolve(request, system="Be verbose.").grouping == "auto-new"
    assert grouper.resolve(request).grouping == "auto-new"


def test_empty_system_parameter_is_no_system_message() -> None:
    """system=None, "" and [] all mean no system message."""
    grouper = ConversationGrouper(mode="peek")
    grouper.remember([user("hi"), bot("hello")], "conv-1", system="")
    for system in (None, "", []):
        assert grouper.resolve([user("hi"), bot("hello"), user("x")], system=system).grouping == (
            "auto-matched"
        )


def test_history_not_ending_with_an_assistant_message_is_not_stored() -> None:
    """remember() stores nothing unless the history ends with the answer."""
    store = MemoryStore()
    grouper = ConversationGrouper(store)
    grouper.remember([user("hi")], "conv-1")
    grouper.remember([], "conv-1")
    assert len(store) == 0
    grouper.remember([user("hi"), bot("hello")], "conv-1")
    assert len(store) == 1


def test_store_keys_are_hex_digests_revealing_no_content() -> None:
    """The store holds 32-hex-character keys and conversation ids, nothing of the messages."""
    store = MemoryStore()
    grouper = ConversationGrouper(store)
    grouper.remember([user("my secret plan"), bot("noted")], "conv-1")
    ((key, entry),) = store._data.items()
    assert len(key) == 32
    assert set(key) <= set("0123456789abcdef")
    assert entry.value == "conv-1"
    assert "secret" not in repr(store._data)


def test_groupers_sharing_store_and_secret_continue_each_other() -> None:
    """Two groupers (replicas) with one store and one secret match; another secret does not."""
    store = MemoryStore()
    a = ConversationGrouper(store, secret="s3cret", mode="peek")
    b = ConversationGrouper(store, secret=b"s3cret", mode="peek")
    other = ConversationGrouper(store, secret="other", mode="peek")
    a.remember([user("hi"), bot("hello")], "conv-1")
    request = [user("hi"), bot("hello"), user("x")]
    assert b.resolve(request).conversation_id == "conv-1"
    assert other.resolve(request).grouping == "auto-new"


def test_model_parameters_are_not_part_of_the_history() -> None:
    """Only messages are hashed: extra request fields in a message dict do not matter."""
    grouper = ConversationGrouper()
    grouper.remember([user("hi"), bot("hello")], "conv-1")
    request = [{"role": "user", "content": "hi", "id": "msg_1"}, bot("hello"), user("x")]
    assert grouper.resolve(request).conversation_id == "conv-1"


def test_sixteen_threads_resolving_one_turn_get_it_exactly_once() -> None:
    """Concurrent resolves of the same continuation: exactly one matches in consume mode."""
    grouper = ConversationGrouper()
    grouper.remember([user("hi"), bot("hello")], "conv-1")
    request = [user("hi"), bot("hello"), user("x")]
    barrier = threading.Barrier(16)
    results: list[Resolution] = []

    def worker() -> None:
        barrier.wait()
        results.append(grouper.resolve(request))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    matched = [r for r in results if r.grouping == "auto-matched"]
    assert len(results) == 16
    assert [r.conversation_id for r in matched] == ["conv-1"]


def test_resolution_is_frozen() -> None:
    """Resolution is an immutable value."""
    resolution = Resolution("c", "auto-new")
    with pytest.raises(AttributeError):
        resolution.conversation_id = "d"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"ttl": 0}, ValueError, "ttl must be a positive"),
        ({"ttl": -1.5}, ValueError, "ttl must be a positive"),
        ({"ttl": float("inf")}, ValueError, "finite"),
        ({"ttl": "60"}, TypeError, "ttl must be a number"),
        ({"ttl": True}, TypeError, "ttl must be a number"),
        ({"mode": "drop"}, ValueError, "mode must be 'consume' or 'peek'"),
        ({"secret": 42}, TypeError, "secret must be bytes, str or None"),
        ({"secret": ""}, ValueError, "secret must not be empty"),
        ({"store": object()}, TypeError, "claim\\(\\), peek\\(\\) and put\\(\\)"),
    ],
)
def test_invalid_arguments_are_rejected_clearly(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    """Bad constructor arguments raise TypeError/ValueError naming the argument."""
    store = kwargs.pop("store", None)
    with pytest.raises(error, match=match):
        ConversationGrouper(store, **kwargs)


def test_invalid_call_arguments_are_rejected_clearly() -> None:
    """agent_id/tenant must be str or None; conversation_id a non-empty str."""
    grouper = ConversationGrouper()
    with pytest.raises(TypeError, match="agent_id must be a str or None"):
        grouper.resolve([], agent_id=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tenant must be a str or None"):
        grouper.remember([], "c", tenant=b"t")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="conversation_id must be a str"):
        grouper.remember([], None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="conversation_id must not be empty"):
        grouper.remember([], "")


class BrokenStore:
    """A store whose every call fails."""

    def claim(self, keys: Sequence[str]) -> StoreHit | None:
        raise ConnectionError("store down")

    def peek(self, keys: Sequence[str]) -> StoreHit | None:
        raise ConnectionError("store down")

    def put(self, key: str, value: str, ttl: float) -> None:
        raise ConnectionError("store down")


def test_store_failure_gives_a_new_conversation_and_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failing store never fails the call: resolve() is auto-new and the failure is logged."""
    grouper = ConversationGrouper(BrokenStore(), secret="s")
    with caplog.at_level(logging.WARNING, logger="convtrack"):
        resolution = grouper.resolve([user("hi"), bot("hello"), user("x")])
        grouper.remember([user("hi"), bot("hello")], "conv-1")
    assert resolution.grouping == "auto-new"
    messages = [r.getMessage() for r in caplog.records if r.name == "convtrack"]
    assert any("store lookup" in m for m in messages)
    assert any("store put" in m for m in messages)


@pytest.mark.parametrize("hit", [StoreHit(5, "c"), (0, ""), (0, None), "conv", (True, "c")])
def test_an_invalid_store_answer_gives_a_new_conversation(
    hit: object, caplog: pytest.LogCaptureFixture
) -> None:
    """A store answer that is not a valid hit for these keys is logged and ignored."""

    class OddStore(BrokenStore):
        def claim(self, keys: Sequence[str]) -> Any:
            return hit

    grouper = ConversationGrouper(OddStore(), secret="s")
    with caplog.at_level(logging.WARNING, logger="convtrack"):
        assert grouper.resolve([user("hi"), bot("hello"), user("x")]).grouping == "auto-new"
    assert any("store lookup" in r.getMessage() for r in caplog.records)


def test_unhashable_input_gives_a_new_conversation_and_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """messages that cannot be iterated are logged and give auto-new, never an exception."""
    grouper = ConversationGrouper()
    with caplog.at_level(logging.WARNING, logger="convtrack"):
        assert grouper.resolve(42).grouping == "auto-new"  # type: ignore[arg-type]
        grouper.remember(42, "conv-1")  # type: ignore[arg-type]
    assert any("hashing a message history" in r.getMessage() for r in caplog.records)


def test_junk_messages_are_grouped_without_error() -> None:
    """Messages of unknown shapes still hash deterministically and match across turns."""
    grouper = ConversationGrouper()
    junk: list[Any] = [None, 3, b"raw", object, {"weird": {1, 2}}, user("hi"), bot("hello")]
    grouper.remember(junk, "conv-1")
    assert grouper.resolve([*junk, user("x")]).conversation_id == "conv-1"


class AsyncMemoryStore:
    """An AsyncStore over a MemoryStore."""

    def __init__(self) -> None:
        self.inner = MemoryStore()

    async def claim(self, keys: Sequence[str]) -> StoreHit | None:
        return self.inner.claim(keys)

    async def peek(self, keys: Sequence[str]) -> StoreHit | None:
        return self.inner.peek(keys)

    async def put(self, key: str, value: str, ttl: float) -> None:
        self.inner.put(key, value, ttl)


async def test_aresolve_and_aremember_work_with_an_async_store() -> None:
    """The async API groups turns over an AsyncStore."""
    grouper = ConversationGrouper(AsyncMemoryStore())
    first = await grouper.aresolve([user("hi")])
    await grouper.aremember([user("hi"), bot("hello")], first.conversation_id)
    second = await grouper.aresolve([user("hi"), bot("hello"), user("x")])
    assert (second.conversation_id, second.grouping) == (first.conversation_id, "auto-matched")


async def test_aresolve_and_aremember_work_with_a_sync_store() -> None:
    """The async API also accepts a synchronous Store."""
    grouper = ConversationGrouper(mode="peek")
    await grouper.aremember([user("hi"), bot("hello")], "conv-1")
    assert (await grouper.aresolve([user("hi"), bot("hello"), user("x")])).conversation_id == (
        "conv-1"
    )


async def test_async_store_failure_gives_a_new_conversation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failing async store is logged; aresolve() returns auto-new and aremember() returns."""

    class BrokenAsyncStore(AsyncMemoryStore):
        async def claim(self, keys: Sequence[str]) -> StoreHit | None:
            raise TimeoutError("slow")

        async def put(self, key: str, value: str, ttl: float) -> None:
            raise TimeoutError("slow")

    grouper = ConversationGrouper(BrokenAsyncStore(), secret="s")
    with caplog.at_level(logging.WARNING, logger="convtrack"):
        assert (await grouper.aresolve([user("hi"), bot("a"), user("b")])).grouping == "auto-new"
        await grouper.aremember([user("hi"), bot("a")], "conv-1")
    assert len([r for r in caplog.records if r.name == "convtrack"]) == 2


def test_an_async_store_used_from_sync_methods_is_logged_not_awaited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """resolve()/remember() over an AsyncStore log the misuse and never leak a coroutine."""
    store = AsyncMemoryStore()
    grouper = ConversationGrouper(store, secret="s")
    with caplog.at_level(logging.WARNING, logger="convtrack"):
        grouper.remember([user("hi"), bot("hello")], "conv-1")
        assert grouper.resolve([user("hi"), bot("hello"), user("x")]).grouping == "auto-new"
    assert len(store.inner) == 0
    assert any("aresolve" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
