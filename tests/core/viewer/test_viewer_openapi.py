"""The viewer's HTTP API: runs search, one run, and the OpenAPI description it serves,
checked by schemathesis against a real `convtrack ui` server."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from viewer_support import chat_run, export, make_run

from convtrack import RunKind

# schemathesis needs Python >= 3.11 (requirements-dev.txt installs it there only)
schemathesis = pytest.importorskip("schemathesis", reason="schemathesis needs Python >= 3.11")
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402
from schemathesis.specs.openapi.schemas import OpenApiSchema  # noqa: E402


@pytest.fixture(scope="module")
def viewer_url(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`convtrack ui` on a free loopback port over a copy of the demo store; its base URL."""
    db = tmp_path_factory.mktemp("openapi") / "demo.db"
    shutil.copyfile(demo_template, db)
    command = [sys.executable, "-m", "convtrack.cli", "ui", "--db", str(db), "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "convtrack viewer on http://127.0.0.1:" in line, line
        yield line.split(" on ", 1)[1].split()[0]
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


@pytest.fixture(scope="module")
def api_schema(viewer_url: str) -> OpenApiSchema:
    """The API's description, loaded by schemathesis from where the server serves it."""
    return schemathesis.openapi.from_url(viewer_url + "api/openapi.json")


ENDPOINTS = [
    "/api/conversations",
    "/api/conversations/{conversation_id}",
    "/api/feedback",
    "/api/runs",
    "/api/runs/{run_id}",
]
OPERATIONS = [(path, "POST" if path == "/api/feedback" else "GET") for path in ENDPOINTS]


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_every_answer_matches_the_description(
    api_schema: OpenApiSchema, path: str, method: str
) -> None:
    """For requests generated from the description, no server error, and every answer's
    status, content type and body are those the description gives."""
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case: schemathesis.Case) -> None:
        # a cursor is made by the server: a generated one is rightly refused with a 400
        forged = [positive_data_acceptance] if "before" in (case.query or {}) else []
        case.call_and_validate(excluded_checks=forged)

    check()


def test_the_description_names_every_endpoint(viewer_url: str) -> None:
    """`/api/openapi.json` describes the conversations, runs and feedback endpoints; only
    feedback is written."""
    document = httpx.get(viewer_url + "api/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == set(ENDPOINTS)
    assert {path: set(ops) for path, ops in document["paths"].items()} == {
        path: {method.lower()} for path, method in OPERATIONS
    }


async def test_runs_search_filters_and_pages(client: httpx.AsyncClient, demo_db: Path) -> None:
    """`/api/runs` filters by conversation, kind, status, model, metadata and text, and pages
    by cursor; `/api/runs/{id}` names the run's conversation."""
    parent = make_run("conv-api", kind=RunKind.CHAIN, name="turn", metadata={"customer": 77})
    calls = [
        chat_run("conv-api", [{"role": "user", "content": f"ask {n}"}], f"reply {n}", parent=parent)
        for n in range(3)
    ]
    failed = make_run(
        "conv-api", kind=RunKind.TOOL, name="lookup", parent=parent, status="error", error="Boom"
    )
    export(demo_db, parent, *calls, failed)
    page = (
        await client.get("/api/runs", params={"conversation_id": "conv-api", "limit": 2})
    ).json()
    following = await client.get(
        "/api/runs", params={"conversation_id": "conv-api", "before": page["next_cursor"]}
    )
    ids = [r["run_id"] for r in page["runs"] + following.json()["runs"]]
    assert sorted(ids) == sorted(r.run_id for r in [parent, *calls, failed])
    assert len(set(ids)) == 5

    async def only(**params: str) -> list[str]:
        answer = await client.get("/api/runs", params=params)
        assert answer.status_code == 200, answer.text
        return [r["run_id"] for r in answer.json()["runs"]]

    assert await only(conversation_id="conv-api", kind="tool") == [failed.run_id]
    assert await only(status="error", text="boom") == [failed.run_id]
    assert await only(metadata="customer=77") == [parent.run_id]
    assert await only(conversation_id="conv-api", text="reply 1") == [calls[1].run_id]
    one = (await client.get(f"/api/runs/{calls[0].run_id}")).json()
    assert one["conversation_id"] == "conv-api"
    assert one["outputs"] == {"role": "assistant", "content": "reply 0"}


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/runs?kind=robot", 400, "kind"),
        ("/api/runs?limit=100000", 400, "limit"),
        ("/api/runs?metadata=novalue", 400, "metadata"),
        ("/api/runs?before=forged.cursor", 400, "cursor"),
        ("/api/runs?before=forged.%C3%A9", 400, "cursor"),
        ("/api/conversations?before=forged.%C3%A9", 400, "cursor"),
        ("/api/runs?colour=red", 400, "unknown parameter"),
        ("/api/runs/no-such-run", 404, "no run"),
        ("/api/runs/..%2F..%2Fetc%2Fpasswd", 404, "no run"),
    ],
)
async def test_runs_api_errors_are_clear(
    client: httpx.AsyncClient, path: str, status: int, message: str
) -> None:
    """A parameter the runs API cannot use is a 400, an unknown run a 404, each saying why."""
    answer = await client.get(path)
    assert answer.status_code == status
    assert message in answer.json()["error"]


def test_the_described_ids_are_the_ids_the_server_takes() -> None:
    """An id or key must hold a character that is not space to Python (`str.isspace()`, as the
    server checks): its pattern says so in ECMAScript's terms too, where `\\S` takes U+001C-
    U+001F and U+0085 for text (schemathesis once sent `"\\x1d"` as a valid id)."""
    import re

    from convtrack.viewer._openapi import _NOT_BLANK

    pattern = re.compile(_NOT_BLANK)
    ecma_space = set("\t\n\v\f\r \xa0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff")
    ecma_space |= {chr(c) for c in range(0x2000, 0x200B)}
    for char in [chr(c) for c in range(0x3001)] + ["\ufeff", "x"]:
        assert (pattern.search(char) is not None) is not char.isspace(), repr(char)
        # the same pattern read as ECMAScript: its class leaves out ECMAScript's space
        ecma = (char not in ecma_space and char not in "\x1c\x1d\x1e\x1f\x85") or char == "\ufeff"
        assert ecma is not char.isspace(), repr(char)
