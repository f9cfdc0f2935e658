"""The convtrack_otel package: its public API and its missing-dependency message."""

from __future__ import annotations

import subprocess
import sys
import types

import convtrack_otel


def test_all_is_sorted_and_complete() -> None:
    """`__all__` is sorted and lists every public name the package defines or re-exports."""
    public = {
        name
        for name, value in vars(convtrack_otel).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }
    assert list(convtrack_otel.__all__) == sorted(convtrack_otel.__all__)
    assert public == set(convtrack_otel.__all__)


def test_missing_sdk_fails_at_import_with_the_fix() -> None:
    """Without opentelemetry-sdk, importing convtrack_otel says `pip install convtrack-otel`."""
    code = (
        "import sys; sys.modules['opentelemetry.sdk.trace'] = None\n"
        "try:\n    import convtrack_otel\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install convtrack-otel" in result.stdout
