"""Importing: the core never imports Starlette; without it the viewer says how to get it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import convtrack.viewer


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False
    )


def test_all_is_sorted_and_complete() -> None:
    """convtrack.viewer exports create_app, and __all__ is sorted."""
    assert convtrack.viewer.__all__ == sorted(convtrack.viewer.__all__) == ["create_app"]
    names = {n for n in vars(convtrack.viewer) if n.isidentifier() and not n.startswith("_")}
    assert names - {"annotations"} == set(convtrack.viewer.__all__)


def test_core_and_cli_do_not_import_starlette_or_uvicorn() -> None:
    """`import convtrack` and the CLI module leave Starlette and uvicorn unimported."""
    result = _python(
        """
        import sys
        import convtrack, convtrack.cli
        convtrack.cli.build_parser()
        print(sorted(m for m in ("starlette", "uvicorn") if m in sys.modules))
        """
    )
    assert result.stdout.strip() == "[]", result.stderr


BLOCK_STARLETTE = """
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name == "starlette" or name.startswith("starlette."):
                raise ImportError(f"No module named {name!r}")
            return None
    sys.meta_path.insert(0, Block())
"""


def test_without_starlette_the_error_names_the_extra() -> None:
    """Without Starlette, importing the viewer fails with the pip command to fix it."""
    result = _python(
        BLOCK_STARLETTE
        + """
    try:
        import convtrack.viewer
    except ImportError as exc:
        print(exc)
    """
    )
    assert result.stdout.strip() == (
        "the convtrack viewer needs Starlette: pip install 'convtrack[ui]'"
    ), result.stderr


def test_without_starlette_convtrack_ui_is_a_one_line_error() -> None:
    """`convtrack ui` without the extra exits with one line naming it."""
    result = _python(
        BLOCK_STARLETTE
        + """
    from convtrack.cli import main
    main(["ui", "--db", "whatever.db"])
    """
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "convtrack: the convtrack viewer needs Starlette: pip install 'convtrack[ui]'"
    )
