"""The OpenAPI 3.1 description of the viewer's JSON API, served at `/api/openapi.json`."""

from __future__ import annotations

from typing import Any

from ..sinks._query import STATUSES
from ..sinks._run_search import RUN_KINDS
from ._params import DEFAULT_LIMIT, MAX_LIMIT

_TEXT = {"type": "string"}
_MAYBE_TEXT = {"type": ["string", "null"]}
_TIME = {"type": "string", "description": "ISO 8601, UTC"}
_COUNT = {"type": "integer", "minimum": 0}
_ANY: dict[str, Any] = {}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "required": sorted(properties), "properties": properties, **extra}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or _TEXT,
    }


_SINCE = "ISO 8601 time (naive: UTC) or a span back from now: 15m, 2h, 7d"
_TIME_TEXT = {
    "type": "string",
    "pattern": r"^(\d{1,5}[smhdwSMHDW]|[1-9]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])"
    r"(T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-](0\d|1[0-3]):[0-5]\d)?)?)$",
}
_METADATA = _query(
    "metadata",
    "key=value: only where the key has this value (repeat for more)",
    {"type": "array", "items": {"type": "string", "pattern": "^[^=]{1,200}=", "maxLength": 500}},
)
_LIMIT = _query(
    "limit",
    f"page size (default {DEFAULT_LIMIT})",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
)
_STATUS = _query("status", "error: with a failed run; ok: without", {"enum": list(STATUSES)})
_PAGE_CURSOR = {
    "type": ["string", "null"],
    "description": "pass as `before` for the next page (null: no more)",
}

# Holds a character that is not space to Python's `str.isspace()`, as the server checks it
# (ECMAScript's `\S` takes U+001C-U+001F and U+0085 for text and U+FEFF for space).
_NOT_BLANK = r"[^\s\x1c-\x1f\x85]|\ufeff"
_ID = {"type": "string", "minLength": 1, "maxLength": 512, "pattern": _NOT_BLANK}
_FEEDBACK: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "conversation_id": _ID,
        "run_id": _ID,
        "key": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": _NOT_BLANK},
        "score": {"type": ["number", "null"]},
        "value": _ANY,
        "comment": {"type": ["string", "null"]},
    },
    "required": ["key"],
    "anyOf": [{"required": ["conversation_id"]}, {"required": ["run_id"]}],
}
_ERROR_RESPONSE = {
    "description": "refused, with the reason",
    "content": {"application/json": {"schema": _object({"error": _TEXT})}},
}

SUMMARY = _object(
    {
        "conversation_id": _TEXT,
        "user_id": _MAYBE_TEXT,
        "agent_id": _MAYBE_TEXT,
        "first_at": _TIME,
        "last_at": _TIME,
        "run_count": _COUNT,
        "llm_count": _COUNT,
        "inferred": {"type": "boolean"},
        "input_tokens": _COUNT,
        "output_tokens": _COUNT,
        "cost": {"type": ["number", "null"], "description": "US dollars"},
        "error_count": _COUNT,
        "first_input": _MAYBE_TEXT,
        "last_output": _MAYBE_TEXT,
        "tools": {"type": "array", "items": _TEXT},
        "metadata": {"type": "object"},
    }
)
TOKENS = {
    "type": ["object", "null"],
    "required": ["input", "output", "total"],
    "properties": {"input": _COUNT, "output": _COUNT, "total": _COUNT},
}
RUN = _object(
    {
        "run_id": _TEXT,
        "parent_run_id": _MAYBE_TEXT,
        "root_run_id": _TEXT,
        "conversation_id": _MAYBE_TEXT,
        "user_id": _MAYBE_TEXT,
        "agent_id": _MAYBE_TEXT,
        "kind": {"enum": list(RUN_KINDS)},
        "name": _TEXT,
        "source": _TEXT,
        "grouping": _TEXT,
        "started_at": _TIME,
        "ended_at": _TIME,
        "status": {"enum": list(STATUSES)},
        "error": _MAYBE_TEXT,
        "model": _MAYBE_TEXT,
        "inputs": _ANY,
        "outputs": _ANY,
        "usage": _ANY,
        "metadata": {"type": "object"},
        "duration_ms": {"type": "number"},
        "tokens": TOKENS,
    }
)
RUN_NODE = {
    "allOf": [
        _ref("Run"),
        _object({"children": {"type": "array", "items": _ref("RunNode")}}),
    ]
}
MESSAGE = _object({"run_id": _TEXT, "role": _TEXT, "text": _TEXT})
CONVERSATION = _object(
    {
        "conversation_id": _TEXT,
        "summary": {"allOf": [_ref("ConversationSummary"), _object({"tokens": TOKENS})]},
        "runs": {"type": "array", "items": _ref("RunNode")},
        "turns": {
            "type": "array",
            "items": _object(
                {"root_run_id": _TEXT, "messages": {"type": "array", "items": _ref("Message")}}
            ),
        },
    }
)


def _answers(ok: str, description: str, *errors: int) -> dict[str, Any]:
    found: dict[str, Any] = {
        "200": {"description": description, "content": {"application/json": {"schema": _ref(ok)}}}
    }
    for status in errors:
        found[str(status)] = {
            "description": "a parameter it cannot use" if status == 400 else "no such thing",
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    return found


def openapi_document() -> dict[str, Any]:
    """The description of `/api/conversations`, `/api/conversations/{id}`, `/api/runs`,
    `/api/runs/{id}` and `POST /api/feedback`."""
    list_params = [
        _query("user_id", "only this user's conversations"),
        _query("agent_id", "only this agent's conversations"),
        _query("q", "only conversations whose id contains this"),
        _query("since", "last active at or after: " + _SINCE, _TIME_TEXT),
        _query("until", "last active before: " + _SINCE, _TIME_TEXT),
        _METADATA,
        _query("text", "only conversations whose messages contain this"),
        _STATUS,
        _query("before", "the `next_cursor` of the previous page"),
        _LIMIT,
    ]
    run_params = [
        _query("conversation_id", "only this conversation's runs"),
        _query("kind", "only runs of this kind", {"enum": list(RUN_KINDS)}),
        _query("status", "only failed (error) or successful (ok) runs", {"enum": list(STATUSES)}),
        _query("model", "only calls to this model"),
        _METADATA,
        _query("text", "only runs whose inputs, outputs, error or name contain this"),
        _query("since", "started at or after: " + _SINCE, _TIME_TEXT),
        _query("until", "started before: " + _SINCE, _TIME_TEXT),
        _query("before", "the `next_cursor` of the previous page"),
        _LIMIT,
    ]

    def path_id(name: str) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "convtrack viewer API",
            "version": "1",
            "description": "Read the conversations and runs of a convtrack store; record"
            " feedback on them.",
        },
        "paths": {
            "/api/conversations": {
                "get": {
                    "operationId": "searchConversations",
                    "summary": "Conversations, the most recently active first",
                    "parameters": list_params,
                    "responses": _answers("ConversationPage", "a page of conversations", 400),
                }
            },
            "/api/conversations/{conversation_id}": {
                "get": {
                    "operationId": "getConversation",
                    "summary": "One conversation: its summary, run tree and transcript",
                    "parameters": [path_id("conversation_id")],
                    "responses": _answers("Conversation", "the conversation", 404),
                }
            },
            "/api/runs": {
                "get": {
                    "operationId": "searchRuns",
                    "summary": "Runs, the most recently started first",
                    "parameters": run_params,
                    "responses": _answers("RunPage", "a page of runs", 400),
                }
            },
            "/api/feedback": {
                "post": {
                    "summary": "Record feedback on a conversation or a run",
                    "description": "From this machine only, unless the viewer was started with"
                    " --feedback-token (then with 'Authorization: Bearer TOKEN').",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _FEEDBACK}},
                    },
                    "responses": {
                        "201": {
                            "description": "recorded",
                            "content": {
                                "application/json": {
                                    "schema": _object(
                                        {"feedback_id": _TEXT, "conversation_id": _MAYBE_TEXT}
                                    )
                                }
                            },
                        },
                        "400": _ERROR_RESPONSE,
                        "401": _ERROR_RESPONSE,
                        "403": _ERROR_RESPONSE,
                        "413": _ERROR_RESPONSE,
                        "415": _ERROR_RESPONSE,
                        "501": _ERROR_RESPONSE,
                    },
                }
            },
            "/api/runs/{run_id}": {
                "get": {
                    "operationId": "getRun",
                    "summary": "One run, with its conversation_id",
                    "parameters": [path_id("run_id")],
                    "responses": _answers("Run", "the run", 404),
                }
            },
        },
        "components": {
            "schemas": {
                "ConversationSummary": SUMMARY,
                "ConversationPage": _object(
                    {
                        "db": _TEXT,
                        "limit": {"type": "integer"},
                        "conversations": {"type": "array", "items": _ref("ConversationSummary")},
                        "next_cursor": _PAGE_CURSOR,
                    }
                ),
                "Conversation": CONVERSATION,
                "Run": RUN,
                "RunNode": RUN_NODE,
                "RunPage": _object(
                    {
                        "limit": {"type": "integer"},
                        "runs": {"type": "array", "items": _ref("Run")},
                        "next_cursor": _PAGE_CURSOR,
                    }
                ),
                "Message": MESSAGE,
                "Error": _object({"error": _TEXT}),
            }
        },
    }
