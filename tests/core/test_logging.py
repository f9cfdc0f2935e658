"""convtrack.logging: the conversation on log records (stdlib and structlog)."""

from __future__ import annotations

import io
import logging

import structlog

import convtrack as ct
from convtrack.logging import ConversationLogFilter, add_conversation


def test_log_filter_adds_ids() -> None:
    """Records carry conversation_id and user_id (None outside a conversation)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ConversationLogFilter())
    handler.setFormatter(logging.Formatter("%(conversation_id)s %(user_id)s %(message)s"))
    log = logging.getLogger("test-convtrack-filter")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        log.info("outside")
        with ct.conversation("c-9", user_id="alice"):
            log.info("inside")
    finally:
        log.removeHandler(handler)
    assert stream.getvalue().splitlines() == ["None None outside", "c-9 alice inside"]


def test_structlog_processor() -> None:
    """The structlog processor adds the ids when set and keeps explicit values."""
    structlog.configure(
        processors=[add_conversation, structlog.processors.JSONRenderer()],
        logger_factory=structlog.ReturnLoggerFactory(),
    )
    try:
        log = structlog.get_logger()
        assert log.info("x") == '{"event": "x"}'
        with ct.conversation("c-1", user_id="bob"):
            assert log.info("y") == '{"event": "y", "conversation_id": "c-1", "user_id": "bob"}'
            assert '"conversation_id": "mine"' in log.info("z", conversation_id="mine")
    finally:
        structlog.reset_defaults()
