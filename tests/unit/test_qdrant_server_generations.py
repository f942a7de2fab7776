"""The Qdrant server adapter in generations (collections behind an alias), through qdrant-client's local mode.

The same behaviours as tests/unit/test_edge_generations.py: switch, rollback, pruning, validation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.lexical import document_vector, query_vector
from assistant.qdrant_server import ALIAS, QdrantServerIndex, client_from_url
from assistant.types import IndexPoint
from assistant.vector_index import HybridQuery, IndexBuildError, IndexUnavailable, VectorIndex


def _point(n: int, text: str, *, status: str = "published", language: str = "en") -> IndexPoint:
    dense = tuple(1.0 if i == n % 4 else 0.0 for i in range(4))
    return IndexPoint(n, dense, document_vector(text, "en"), {"status": status, "language": language, "text": text})


def _query(text: str, **kwargs: object) -> HybridQuery:
    fields: dict[str, object] = {
        "dense": ((1.0, 0.0, 0.0, 0.0),),
        "sparse": query_vector(text),
        "dense_limit": 10,
        "sparse_limit": 10,
        "limit": 5,
        "rrf_k": 60,
        "must": (("status", "published"),),
    }
    return HybridQuery(**{**fields, **kwargs})  # type: ignore[arg-type]


@pytest.fixture
def index() -> Iterator[QdrantServerIndex]:
    server = QdrantServerIndex.from_url("local::memory:")
    yield server
    server.close()


def test_the_server_adapter_is_a_vector_index(index: QdrantServerIndex) -> None:
    satisfied: VectorIndex = index  # mypy checks the protocol; this line keeps the check in the tests
    assert satisfied.current_generation() is None and satisfied.generations() == []


def test_alias_follows_the_switch_and_rollback(index: QdrantServerIndex) -> None:
    first, _ = index.build_generation([_point(1, "birth declaration")], dim=4)
    assert first == "guichet_gen_000001" and index.current_generation() == first
    assert [h.payload["text"] for h in index.hybrid_search(_query("birth"))] == ["birth declaration"]
    second, count = index.build_generation([_point(2, "tax class"), _point(3, "tax card")], dim=4)
    assert count == 2 and index.count() == 2 and index.live_points() == (second, 2)
    index.activate(first)
    assert index.count() == 1 and index.current_generation() == first
    assert index.generations() == [first, second]
    with pytest.raises(IndexUnavailable):
        index.activate("guichet_gen_999999")


def test_old_generations_are_pruned(index: QdrantServerIndex) -> None:
    names = [index.build_generation([_point(1, f"text {i}")], dim=4)[0] for i in range(5)]
    assert index.generations() == names[-3:]


def test_a_build_that_fails_midway_leaves_the_alias_and_no_collection(index: QdrantServerIndex) -> None:
    live, _ = index.build_generation([_point(1, "birth declaration")], dim=4)

    def broken() -> Iterator[IndexPoint]:
        yield _point(2, "tax class")
        raise OSError("connection lost while writing the generation")

    with pytest.raises(OSError, match="connection lost"):
        index.build_generation(broken(), dim=4)
    assert index.current_generation() == live
    assert index.generations() == [live]  # the half-built collection is gone
    assert [h.payload["text"] for h in index.hybrid_search(_query("birth"))] == ["birth declaration"]


def test_a_generation_whose_smoke_query_finds_nothing_is_not_switched_to(index: QdrantServerIndex) -> None:
    live, _ = index.build_generation([_point(1, "birth declaration")], dim=4)
    draft = _point(5, "tax", status="draft")
    with pytest.raises(IndexBuildError, match="smoke query"):
        index.build_generation([draft], dim=4, smoke=[(0.0, 1.0, 0.0, 0.0)])
    assert index.current_generation() == live and index.generations() == [live]


def test_no_generation_yet_is_reported_as_unavailable(index: QdrantServerIndex) -> None:
    with pytest.raises(IndexUnavailable, match="not been indexed"):
        index.hybrid_search(_query("birth"))
    with pytest.raises(IndexUnavailable):
        index.live_points()


def test_search_filters_and_returns_dense_vectors(index: QdrantServerIndex) -> None:
    index.build_generation(
        [
            _point(1, "tax class", language="en"),
            _point(5, "tax class", language="fr"),
            _point(9, "tax", status="draft"),
        ],
        dim=4,
    )
    hits = index.hybrid_search(_query("tax class", dense_languages=("en", "fr")))
    assert sorted(h.point_id for h in hits) == [1, 5]  # the draft never comes back
    assert all(h.dense == (0.0, 1.0, 0.0, 0.0) for h in hits)
    only_fr = index.hybrid_search(_query("tax", must=(("status", "published"), ("language", "fr"))))
    assert [h.point_id for h in only_fr] == [5]


@pytest.mark.parametrize("backend", ["edge", "server"])
def test_weighted_rrf_lets_the_lexical_list_outweigh_the_dense_one(backend: str, tmp_path: Path) -> None:
    """Both backends weigh the fused lists alike (the server adapter sends the same RRF weights)."""
    from assistant.vector_index import EdgeIndex

    index: VectorIndex = EdgeIndex(tmp_path) if backend == "edge" else QdrantServerIndex.from_url("local::memory:")
    try:
        # Point 4 is the only dense candidate (dense_limit=1); point 2 the only lexical match.
        index.build_generation([_point(4, "birth declaration"), _point(2, "unemployment benefit")], dim=4)
        light = index.hybrid_search(_query("unemployment", dense_limit=1, lexical_weight=0.5))
        heavy = index.hybrid_search(_query("unemployment", dense_limit=1, lexical_weight=3.0))
        assert [h.point_id for h in light] == [4, 2]
        assert [h.point_id for h in heavy] == [2, 4]
    finally:
        index.close()


def test_local_folder_survives_a_reopen(tmp_path: Path) -> None:
    url = f"local:{tmp_path / 'qdrant'}"
    first = QdrantServerIndex.from_url(url)
    name, _ = first.build_generation([_point(1, "birth declaration")], dim=4)
    first.close()
    again = QdrantServerIndex(client_from_url(url))
    try:
        assert again.live_points() == (name, 1)
        aliases = again._client.get_aliases().aliases
        assert [(a.alias_name, a.collection_name) for a in aliases] == [(ALIAS, name)]
    finally:
        again.close()


@pytest.mark.django_db  # `index status` lists the last ingestion runs
def test_index_command_works_with_the_server_adapter(tmp_path: Path, settings: object) -> None:
    from io import StringIO

    from django.core.management import call_command

    from assistant.vector_index import get_index

    settings.QDRANT_URL = f"local:{tmp_path / 'qdrant'}"  # type: ignore[attr-defined]
    index = get_index()
    try:
        assert isinstance(index, QdrantServerIndex)
        first, _ = index.build_generation([_point(1, "one")], dim=4)
        second, _ = index.build_generation([_point(2, "two")], dim=4)
        out = StringIO()
        call_command("index", "rollback", stdout=out)
        assert index.current_generation() == first and f"{second} -> {first}" in out.getvalue()
        status = StringIO()
        call_command("index", "status", stdout=status)
        assert f"* {first}" in status.getvalue() and "live: guichet_gen_000001, 1 points" in status.getvalue()
    finally:
        from assistant import vector_index

        index.close()
        vector_index._INDEXES.pop(settings.QDRANT_URL, None)  # type: ignore[attr-defined]


def test_cluster_settings_reach_each_new_collection() -> None:
    """QDRANT_SHARDS / QDRANT_REPLICAS reach each new collection (local mode ignores them: the call is recorded)."""
    server = QdrantServerIndex.from_url("local::memory:", shards=3, replicas=2)
    client = server._client
    created: list[dict[str, object]] = []
    real_create = client.create_collection

    def recording_create(**kwargs: object) -> bool:
        created.append(kwargs)
        return real_create(**kwargs)  # type: ignore[arg-type]

    client.create_collection = recording_create  # type: ignore[method-assign]
    try:
        name, count = server.build_generation([_point(1, "birth declaration")], dim=4)
        assert count == 1 and server.current_generation() == name
        assert [(c["shard_number"], c["replication_factor"]) for c in created] == [(3, 2)]
    finally:
        server.close()
