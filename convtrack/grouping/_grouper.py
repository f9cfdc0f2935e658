"""ConversationGrouper: which conversation a chat request continues, from its history alone."""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from convtrack._context import new_conversation_id
from convtrack._guard import report
from convtrack.grouping._hashing import KeyMaker, PrefixKeys, history_key, prefix_keys
from convtrack.grouping._secret import secret_key
from convtrack.grouping._store import AsyncStore, MemoryStore, Store, StoreHit

_MODES = ("consume", "peek")


@dataclass(frozen=True, slots=True)
class Resolution:
    """The conversation a request belongs to, as automatic grouping decided it.

    Attributes:
        conversation_id: the conversation (an existing one, or a new uuid7).
        grouping: ``"auto-matched"`` (the history continues a known conversation)
            or ``"auto-new"``.
        branch_of: peek mode only: the conversation whose turn this request
            repeats (a regenerated or retried turn), else None.
        matched_length: how many of the request's messages (not counting
            ``system``) the matched history covers, else None.
    """

    conversation_id: str
    grouping: Literal["auto-matched", "auto-new"]
    branch_of: str | None = None
    matched_length: int | None = None


class ConversationGrouper:
    """Groups successive chat calls into conversations by their message history.

    Call ``resolve()`` before a chat call and ``remember()`` after it. Safe to
    share between threads (and, with a shared store and ``secret``, between
    replicas of an app).

    Args:
        store: a ``Store`` or ``AsyncStore`` (default: a new ``MemoryStore``).
        ttl: seconds a remembered history stays matchable (positive).
        secret: the HMAC key for store keys, bytes or str; default: the environment
            variable ``CONVTRACK_GROUPING_SECRET``, else random per process. Replicas
            sharing a store must share the secret: a store shared between processes
            (``store.shared`` is true, as for ``RedisStore``) with neither raises.
        mode: ``"consume"`` (a matched history is used once: a regenerated turn
            starts a new conversation) or ``"peek"`` (it stays: a regenerated turn
            stays in its conversation, with ``branch_of`` set).

    Raises:
        TypeError, ValueError: for invalid arguments, or a shared store with no secret.
    """

    def __init__(
        self,
        store: Store | AsyncStore | None = None,
        *,
        ttl: float = 3600.0,
        secret: bytes | str | None = None,
        mode: Literal["consume", "peek"] = "consume",
    ) -> None:
        if store is None:
            store = MemoryStore()
        else:
            missing = [m for m in ("claim", "peek", "put") if not callable(getattr(store, m, None))]
            if missing:
                raise TypeError(
                    f"store must have claim(), peek() and put() methods; "
                    f"{type(store).__name__} lacks {', '.join(missing)}"
                )
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
            raise TypeError(f"ttl must be a number of seconds, got {type(ttl).__name__}")
        if not (math.isfinite(ttl) and ttl > 0):
            raise ValueError(f"ttl must be a positive, finite number of seconds, got {ttl!r}")
        if mode not in _MODES:
            raise ValueError(f"mode must be 'consume' or 'peek', got {mode!r}")
        key = secret_key(store, secret)
        if not key:
            raise ValueError("secret must not be empty")
        self._store: Any = store
        self._ttl = float(ttl)
        self._mode = mode
        self._keys = KeyMaker(key)
        # A MemoryStore reads keys longest first and stops at the first hit (nearly always
        # the first key): compute the others only if read. Other stores (RedisStore) send
        # all the keys in one round trip: compute them all in one pass.
        self._lazy_keys = isinstance(store, MemoryStore)

    @property
    def store(self) -> Store | AsyncStore:
        """The store holding history hashes."""
        store: Store | AsyncStore = self._store
        return store

    @property
    def ttl(self) -> float:
        """Seconds a remembered history stays matchable."""
        return self._ttl

    @property
    def mode(self) -> Literal["consume", "peek"]:
        """``"consume"`` or ``"peek"``."""
        return self._mode

    def __repr__(self) -> str:
        return f"ConversationGrouper({self._store!r}, ttl={self._ttl}, mode={self._mode!r})"

    def resolve(
        self,
        messages: Iterable[Any],
        *,
        agent_id: str | None = None,
        system: object = None,
        tenant: str | None = None,
    ) -> Resolution:
        """Decide the conversation of a chat request, before the call.

        Args:
            messages: the request's messages (dicts, SDK objects, LangChain messages).
            agent_id: the agent; histories only match within one agent.
            system: an Anthropic-style ``system`` parameter (counts as the first message).
            tenant: an optional further scope (e.g. an organisation).

        Returns:
            The matched conversation (``auto-matched``) or a new one (``auto-new``).
            Never raises on store or hashing trouble: that is logged and gives ``auto-new``.
        """
        keys = self._prefix_keys(messages, system, agent_id, tenant)
        if keys is None:
            return _new()
        try:
            hit = self._lookup(keys)
            if inspect.isawaitable(hit):
                _close(hit)
                raise TypeError("an async store needs aresolve(), not resolve()")
        except Exception as exc:
            report("grouping: store lookup", exc)
            return _new()
        return self._resolution(hit, keys)

    async def aresolve(
        self,
        messages: Iterable[Any],
        *,
        agent_id: str | None = None,
        system: object = None,
        tenant: str | None = None,
    ) -> Resolution:
        """Like ``resolve()``, awaiting an ``AsyncStore``.

        A sync ``Store`` works too; it is called directly (``MemoryStore`` never
        blocks; for a network store, use its async variant).
        """
        keys = self._prefix_keys(messages, system, agent_id, tenant)
        if keys is None:
            return _new()
        try:
            hit = self._lookup(keys)
            if inspect.isawaitable(hit):
                hit = await hit
        except Exception as exc:
            report("grouping: store lookup", exc)
            return _new()
        return self._resolution(hit, keys)

    def remember(
        self,
        history: Iterable[Any],
        conversation_id: str,
        *,
        agent_id: str | None = None,
        system: object = None,
        tenant: str | None = None,
    ) -> None:
        """Record a finished call, so that the next turn finds its conversation.

        Args:
            history: the request's messages followed by the answer (an assistant
                message); a history not ending with one is not stored.
            conversation_id: the conversation the call belonged to.
            agent_id, system, tenant: as given to ``resolve()``.

        Store or hashing trouble is logged, never raised.
        """
        key = self._history_key(history, conversation_id, system, agent_id, tenant)
        if key is None:
            return
        try:
            done = self._store.put(key, conversation_id, self._ttl)
            if inspect.isawaitable(done):
                _close(done)
                raise TypeError("an async store needs aremember(), not remember()")
        except Exception as exc:
            report("grouping: store put", exc)

    async def aremember(
        self,
        history: Iterable[Any],
        conversation_id: str,
        *,
        agent_id: str | None = None,
        system: object = None,
        tenant: str | None = None,
    ) -> None:
        """Like ``remember()``, awaiting an ``AsyncStore`` (a sync ``Store`` works too)."""
        key = self._history_key(history, conversation_id, system, agent_id, tenant)
        if key is None:
            return
        try:
            done = self._store.put(key, conversation_id, self._ttl)
            if inspect.isawaitable(done):
                await done
        except Exception as exc:
            report("grouping: store put", exc)

    def _prefix_keys(
        self, messages: Iterable[Any], system: object, agent_id: str | None, tenant: str | None
    ) -> PrefixKeys | None:
        _check_scope(agent_id, tenant)
        try:
            keys = prefix_keys(self._keys, messages, system, agent_id, tenant, lazy=self._lazy_keys)
        except Exception as exc:
            report("grouping: hashing a message history", exc)
            return None
        return keys if len(keys) else None

    def _history_key(
        self,
        history: Iterable[Any],
        conversation_id: object,
        system: object,
        agent_id: str | None,
        tenant: str | None,
    ) -> str | None:
        _check_scope(agent_id, tenant)
        if not isinstance(conversation_id, str):
            raise TypeError(f"conversation_id must be a str, got {type(conversation_id).__name__}")
        if not conversation_id:
            raise ValueError("conversation_id must not be empty")
        try:
            return history_key(self._keys, history, system, agent_id, tenant)
        except Exception as exc:
            report("grouping: hashing a message history", exc)
            return None

    def _lookup(self, keys: PrefixKeys) -> Any:
        if self._mode == "consume":
            return self._store.claim(keys)
        return self._store.peek(keys)

    def _resolution(self, hit: object, keys: PrefixKeys) -> Resolution:
        if hit is None:
            return _new()
        if not (
            isinstance(hit, tuple)
            and len(hit) >= 2
            and type(hit[0]) is int
            and 0 <= hit[0] < len(keys)
            and isinstance(hit[1], str)
            and hit[1]
        ):
            report("grouping: store lookup", TypeError(f"invalid store hit: {hit!r}"))
            return _new()
        hit = StoreHit(hit[0], hit[1], len(hit) > 2 and bool(hit[2]))
        branch_of = hit.value if self._mode == "peek" and hit.seen else None
        return Resolution(hit.value, "auto-matched", branch_of, keys.lengths[hit.position])


def _new() -> Resolution:
    return Resolution(new_conversation_id(), "auto-new")


def _check_scope(agent_id: object, tenant: object) -> None:
    if agent_id is not None and not isinstance(agent_id, str):
        raise TypeError(f"agent_id must be a str or None, got {type(agent_id).__name__}")
    if tenant is not None and not isinstance(tenant, str):
        raise TypeError(f"tenant must be a str or None, got {type(tenant).__name__}")


def _close(awaitable: object) -> None:
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()
