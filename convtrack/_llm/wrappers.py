"""The wrapt wrappers of an SDK's methods: record the call, hand back what it returned.

A stream comes back as its observing proxy (`stream`), a `with_raw_response` /
`with_streaming_response` response as its own (`raw`), an answer as it is, once recorded.
"""

from __future__ import annotations

from typing import Any

from convtrack import _config
from convtrack._handle import RunHandle

from . import raw
from .call import Endpoint, abegin, begin
from .stream import Wrapper, observe


class Switch:
    """Whether an integration is instrumented: wrappers an SDK kept after `uninstrument()`
    (e.g. `with_raw_response` methods bound while instrumented) check it and pass through."""

    on = False


def sync_wrapper(endpoint: Endpoint, switch: Switch) -> Wrapper:
    """The wrapt wrapper of a sync SDK method calling `endpoint`."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not switch.on or _config.current is None:
            return wrapped(*args, **kwargs)
        call = begin(endpoint, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        token = call.run.activate()
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            RunHandle.deactivate(token)
        proxy = observe(call, result)
        if proxy is not None:
            return proxy
        if isinstance(result, endpoint.raw_types):  # with_raw_response, with_streaming_response
            return raw.settle(call, result)
        call.complete(result)
        return result

    return wrapper


def async_wrapper(endpoint: Endpoint, switch: Switch) -> Wrapper:
    """The wrapt wrapper of an async SDK method calling `endpoint`."""

    async def wrapper(
        wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if not switch.on or _config.current is None:
            return await wrapped(*args, **kwargs)
        call = await abegin(endpoint, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        token = call.run.activate()
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            RunHandle.deactivate(token)
        proxy = observe(call, result)
        if proxy is not None:
            return proxy
        if isinstance(result, endpoint.raw_types):
            return await raw.asettle(call, result)
        await call.acomplete(result)
        return result

    return wrapper
