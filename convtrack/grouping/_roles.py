"""Role names: the one table of what each message role or message type means."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# LangChain message types (serialised `type`, or the chunk class names) and their roles.
LANGCHAIN_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "human": "user",
        "ai": "assistant",
        "system": "system",
        "tool": "tool",
        "function": "function",
        "HumanMessageChunk": "user",
        "AIMessageChunk": "assistant",
        "SystemMessageChunk": "system",
        "ToolMessageChunk": "tool",
        "FunctionMessageChunk": "function",
    }
)
# Roles spelled otherwise by some APIs (LangChain's, Gemini's `model`) and their usual name.
ROLE_ALIASES: Mapping[str, str] = MappingProxyType(
    {"human": "user", "ai": "assistant", "model": "assistant"}
)


def role_name(role: str) -> str:
    """The usual name of a role or LangChain message type (`human` -> `user`, ...)."""
    return ROLE_ALIASES.get(role) or LANGCHAIN_TYPES.get(role) or role
