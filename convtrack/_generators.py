"""Wrap generator functions so that each step of the generator runs inside some state.

`conversation()` and `trace()` decorate generators with these: the generator's code sees the
conversation (or current run) while it runs; its consumer never does between yields.
Values sent, exceptions thrown, close() and return values pass through unchanged, and the
wrapper is itself a generator (async generator) function.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, NamedTuple


class Hooks(NamedTuple):
    """What to do around each step, and once at the end."""

    enter: Callable[[], Any]  # before each step; returns a token for `leave`
    leave: Callable[[Any], object]  # after each step, even when it raised
    # at the end: (error or None, items yielded, closed by the consumer)
    finish: Callable[[BaseException | None, int, bool], None] | None = None


Prepare = Callable[[tuple[Any, ...], dict[str, Any]], Hooks]


def _end(hooks: Hooks, error: BaseException | None, count: int, closed: bool) -> None:
    if hooks.finish is not None:
        hooks.finish(error, count, closed)


def wrap_generator(
    fn: Callable[..., Generator[Any, Any, Any]], prepare: Prepare
) -> Callable[..., Any]:
    """A generator function running `fn`'s generator step by step inside `prepare(args)`'s hooks."""

    def gen_wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        hooks = prepare(args, kwargs)
        enter, leave = hooks.enter, hooks.leave
        gen = fn(*args, **kwargs)
        count = 0
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            token = enter()
            try:
                item = gen.throw(to_throw) if to_throw is not None else gen.send(to_send)
            except StopIteration as stop:
                _end(hooks, None, count, False)
                return stop.value
            except BaseException as exc:
                _end(hooks, exc, count, False)
                raise
            finally:
                leave(token)
                to_throw = None
            count += 1
            try:
                to_send = yield item
            except GeneratorExit:
                token = enter()
                try:
                    gen.close()
                finally:
                    leave(token)
                _end(hooks, None, count, True)
                raise
            except BaseException as exc:
                to_throw = exc

    return gen_wrapper


def wrap_async_generator(
    fn: Callable[..., AsyncGenerator[Any, Any]], prepare: Prepare
) -> Callable[..., Any]:
    """`wrap_generator()` for async generator functions."""

    async def async_gen_wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        hooks = prepare(args, kwargs)
        enter, leave = hooks.enter, hooks.leave
        agen = fn(*args, **kwargs)
        count = 0
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            token = enter()
            try:
                item = await (
                    agen.athrow(to_throw) if to_throw is not None else agen.asend(to_send)
                )
            except StopAsyncIteration:
                _end(hooks, None, count, False)
                return
            except BaseException as exc:
                _end(hooks, exc, count, False)
                raise
            finally:
                leave(token)
                to_throw = None
            count += 1
            try:
                to_send = yield item
            except GeneratorExit:
                token = enter()
                try:
                    await agen.aclose()
                finally:
                    leave(token)
                _end(hooks, None, count, True)
                raise
            except BaseException as exc:
                to_throw = exc

    return async_gen_wrapper
