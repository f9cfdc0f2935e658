"""Which span attribute names carry the conversation, the user and the agent.

Several conventions name the same thing differently: OpenTelemetry GenAI
(`gen_ai.conversation.id`), OpenInference and the OTel session conventions (`session.id`,
`user.id`), Traceloop/OpenLLMetry association properties, Langfuse. A name is given either as a
preset, as a name this module knows, or in a mapping `{name: "conversation_id" | "user_id" |
"agent_id"}` for any other name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, NamedTuple, TypeAlias

Field = Literal["conversation_id", "user_id", "agent_id"]
AttributeNames: TypeAlias = "str | Iterable[str] | Mapping[str, str]"

FIELDS: tuple[Field, ...] = ("conversation_id", "user_id", "agent_id")

KNOWN: Mapping[str, Field] = {
    "gen_ai.conversation.id": "conversation_id",
    "session.id": "conversation_id",
    "traceloop.association.properties.conversation_id": "conversation_id",
    "langfuse.session.id": "conversation_id",
    "user.id": "user_id",
    "enduser.id": "user_id",
    "traceloop.association.properties.user_id": "user_id",
    "langfuse.user.id": "user_id",
    "gen_ai.agent.id": "agent_id",
    "traceloop.association.properties.agent_id": "agent_id",
}

PRESETS: Mapping[str, tuple[str, ...]] = {
    "gen_ai": ("gen_ai.conversation.id", "user.id"),
    "openinference": ("session.id", "user.id"),
    "traceloop": (
        "traceloop.association.properties.conversation_id",
        "traceloop.association.properties.user_id",
    ),
    "langfuse": ("langfuse.session.id", "langfuse.user.id"),
}

DEFAULT: tuple[str, ...] = ("gen_ai.conversation.id", "session.id", "user.id")


class Names(NamedTuple):
    """The attribute names to write, by what they carry."""

    conversation: tuple[str, ...]
    user: tuple[str, ...]
    agent: tuple[str, ...]


def parse(attributes: AttributeNames) -> Names:
    """Resolve presets, known names and `{name: field}` mappings into `Names`.

    Raises:
        TypeError: `attributes` is not a str, an iterable of str or a mapping.
        ValueError: an unknown name outside a mapping, or an unknown field in a mapping.
    """
    pairs: list[tuple[str, str]] = []
    if isinstance(attributes, Mapping):
        pairs.extend((str(name), str(field)) for name, field in attributes.items())
    elif isinstance(attributes, str):
        pairs.extend(_expand(attributes))
    elif isinstance(attributes, Iterable):
        for item in attributes:
            if not isinstance(item, str):
                raise TypeError(f"attribute names must be str, got {type(item).__name__}")
            pairs.extend(_expand(item))
    else:
        raise TypeError(
            "attributes must be names or presets (e.g. ('gen_ai', 'openinference')) or a "
            f"mapping {{name: 'conversation_id'|'user_id'|'agent_id'}}, got {attributes!r}"
        )
    by_field: dict[str, list[str]] = {field: [] for field in FIELDS}
    for name, field in pairs:
        if not name:
            raise ValueError("an attribute name must be a non-empty string")
        if field not in by_field:
            raise ValueError(f"attribute {name!r}: unknown field {field!r}; one of {FIELDS}")
        if name not in by_field[field]:
            by_field[field].append(name)
    return Names(
        tuple(by_field["conversation_id"]), tuple(by_field["user_id"]), tuple(by_field["agent_id"])
    )


def _expand(item: str) -> list[tuple[str, str]]:
    preset = PRESETS.get(item)
    if preset is not None:
        return [(name, KNOWN[name]) for name in preset]
    field = KNOWN.get(item)
    if field is None:
        raise ValueError(
            f"unknown attribute name {item!r}: use a preset ({', '.join(sorted(PRESETS))}), a "
            f"known name ({', '.join(sorted(KNOWN))}), or a mapping {{{item!r}: 'conversation_id'}}"
        )
    return [(item, field)]
