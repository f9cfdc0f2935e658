"""Text that is safe to show: control and format characters escaped, never interpreted."""

from __future__ import annotations

import unicodedata

# Control (C0, DEL, C1), format (bidi overrides, zero-width), line and paragraph separators.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def is_unsafe(char: str) -> bool:
    """Whether `char` could move a terminal's cursor, reorder text or hide itself."""
    return unicodedata.category(char) in UNSAFE_CATEGORIES


def has_unsafe(text: str) -> bool:
    """Whether `text` holds any character `is_unsafe()` refuses."""
    return not text.isprintable() and any(is_unsafe(char) for char in text)


def printable(text: str) -> str:
    """`text` with every unsafe character written as an escape (`\\x1b`, `\\u202e`).

    Example:
        >>> printable("hi\\x1b]0;owned\\x07")
        'hi\\\\x1b]0;owned\\\\x07'
    """
    if text.isprintable():
        return text
    return "".join(_escape(char) if is_unsafe(char) else char for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
