"""The embedded index in generations: atomic switch, rollback, and readers in several processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.lexical import document_vector
from assistant.types import IndexPoint
from assistant.vector_index import EdgeIndex, HybridQuery


def _point(n: int, text: str) -> IndexPoint:
    dense = tuple(1.0 if i == n % 4 else 0.0 for i in range(4))
    return IndexPoint(n, dense, document_vector(text, "en"), {"status": "published", "text": text})


def _query(text: str) -> HybridQuery:
    from assistant.lexical import query_vector

    return HybridQuery(((1.0, 0.0, 0.0, 0.0),), query_vector(text), 10, 10, 5, 60, (("status", "published"),))


def test_reader_follows_the_switch_and_rollback(tmp_path: Path) -> None:
    writer, reader = EdgeIndex(tmp_path), EdgeIndex(tmp_path)
    first, _ = writer.build_generation([_point(1, "birth declaration")], dim=4)
    assert [h.payload["text"] for h in reader.hybrid_search(_query("birth"))] == ["birth declaration"]
    second, count = writer.build_generation([_point(2, "tax class"), _point(3, "tax card")], dim=4)
    assert count == 2 and reader.count() == 2  # picked up without reopening by hand
    writer.activate(first)
    assert reader.count() == 1 and reader.current_generation() == first
    assert writer.generations() == sorted([first, second])


def test_another_process_can_read_the_live_generation(tmp_path: Path) -> None:
    index = EdgeIndex(tmp_path)
    index.build_generation([_point(1, "birth declaration")], dim=4)
    assert index.count() == 1  # this process holds it open
    code = (
        "import sys; from pathlib import Path; from assistant.vector_index import EdgeIndex;"
        f"print(EdgeIndex(Path({str(tmp_path)!r})).count())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_old_generations_are_pruned(tmp_path: Path) -> None:
    index = EdgeIndex(tmp_path)
    names = [index.build_generation([_point(1, f"text {i}")], dim=4)[0] for i in range(5)]
    assert index.generations() == names[-3:]


@pytest.mark.django_db  # `index status` lists the last ingestion runs
def test_index_command_rolls_back_to_the_previous_generation(tmp_path: Path, settings: object) -> None:
    from io import StringIO

    from django.core.management import call_command

    settings.INDEX_DIR = tmp_path  # type: ignore[attr-defined]
    from assistant.vector_index import get_index

    index = get_index()
    first, _ = index.build_generation([_point(1, "one")], dim=4)
    second, _ = index.build_generation([_point(2, "two")], dim=4)
    out = StringIO()
    call_command("index", "rollback", stdout=out)
    assert index.current_generation() == first and f"{second} -> {first}" in out.getvalue()
    status = StringIO()
    call_command("index", "status", stdout=status)
    assert f"* {first}" in status.getvalue()


def test_a_build_that_fails_midway_leaves_the_live_generation_and_no_debris(tmp_path: Path) -> None:
    import pytest

    index = EdgeIndex(tmp_path)
    live, _ = index.build_generation([_point(1, "birth declaration")], dim=4)

    def broken() -> Iterator[IndexPoint]:
        yield _point(2, "tax class")
        raise OSError("disk full while writing the generation")

    with pytest.raises(OSError, match="disk full"):
        index.build_generation(broken(), dim=4)
    assert index.current_generation() == live
    assert index.generations() == [live]  # the half-built directory is gone
    assert [h.payload["text"] for h in index.hybrid_search(_query("birth"))] == ["birth declaration"]


def test_a_generation_whose_smoke_query_finds_nothing_is_not_switched_to(tmp_path: Path) -> None:
    import pytest

    from assistant.vector_index import IndexBuildError

    index = EdgeIndex(tmp_path)
    live, _ = index.build_generation([_point(1, "birth declaration")], dim=4)
    draft = IndexPoint(5, (0.0, 1.0, 0.0, 0.0), document_vector("tax", "en"), {"status": "draft", "text": "tax"})
    with pytest.raises(IndexBuildError, match="smoke query"):
        index.build_generation([draft], dim=4, smoke=[(0.0, 1.0, 0.0, 0.0)])
    assert index.current_generation() == live and index.generations() == [live]
