"""What every framework app is checked for: one conversation per user, every model call
recorded once with its answer, the app's own results unchanged."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from convtrack import Run

USERS = ("ann", "bob")
# the turns of each user's chat, interleaved: a plain turn, a tool turn, a streamed turn
TURNS = ("plain", "tool", "stream")


def prompt(user: str, turn: int) -> str:
    """What `user` says on turn `turn`."""
    return f"{user} says {turn}"


def expected_answer(user: str, turn: int, kind: str) -> str:
    """The fake server's final answer to that turn (its tool echoes the query)."""
    if kind == "tool":
        return f"tool said: found {prompt(user, turn)}"
    return f"echo #{turn + 1}: {prompt(user, turn)}"


def llm_runs(runs: Iterable[Run], source: str = "openai") -> list[Run]:
    """The model calls one integration recorded."""
    return [run for run in runs if run.kind == "llm" and run.source == source]


def expected_results() -> dict[str, list[str]]:
    """What each user's app gets from the fake server, turn by turn, convtrack or not."""
    return {
        user: [expected_answer(user, turn, kind) for turn, kind in enumerate(TURNS)]
        for user in USERS
    }


def recorded_outputs(runs: Iterable[Run], requests: int) -> list[str]:
    """The outputs (as text) of the model calls: one per request the server answered, each
    ok, with an answer and its usage."""
    calls = llm_runs(runs)
    assert len(calls) == requests
    for run in calls:
        assert run.status == "ok", run.error
        assert run.outputs is not None
        assert run.usage is not None
    return [repr(run.outputs) for run in calls]


def check_model_calls(runs: Iterable[Run], requests: int) -> None:
    """Every request the server answered is one recorded call, with its answer: each turn's
    final answer is the output of one call, the tool turn's first call asked for the tool."""
    outputs = recorded_outputs(runs, requests)
    for user in USERS:
        for turn, kind in enumerate(TURNS):
            answer = expected_answer(user, turn, kind)
            assert len([text for text in outputs if answer in text]) == 1, answer
    assert len([text for text in outputs if "lookup" in text]) == len(USERS)


def conversations_of(
    runs: Sequence[Run], user_of: Callable[[Run], str | None]
) -> Mapping[str, set[str | None]]:
    """user -> the conversations of that user's runs (`user_of` says whose a run is)."""
    found: dict[str, set[str | None]] = {user: set() for user in USERS}
    for run in runs:
        user = user_of(run)
        if user is not None:
            found[user].add(run.conversation_id)
    return found


def check_one_conversation_per_user(
    found: Mapping[str, set[str | None]], ids: Mapping[str, str] | None
) -> None:
    """Each user's runs are one conversation (the app's id when it named one), not shared."""
    for user in USERS:
        assert len(found[user]) == 1, (user, found[user])
        (conversation,) = found[user]
        assert conversation is not None
        if ids is not None:
            assert conversation == ids[user]
    assert found[USERS[0]] != found[USERS[1]]


def text_of(run: Run) -> str:
    """Everything a run took in, as text (to tell whose it is)."""
    return repr(run.inputs)


def user_in(run: Run) -> str | None:
    """The user whose words the run's inputs carry (the model calls and agent steps)."""
    text = text_of(run)
    owners = [user for user in USERS if f"{user} says" in text]
    return owners[0] if len(owners) == 1 else None


def users_by_tree(runs: Sequence[Run]) -> Callable[[Run], str | None]:
    """`user_of` for runs in trees: a run is the user's whose words appear in its tree."""
    owner: dict[str, str] = {}
    for run in runs:
        user = user_in(run)
        if user is not None:
            owner.setdefault(run.root_run_id, user)
    return lambda run: owner.get(run.root_run_id)
