"""The README and .env.example stay true to the code; the compose file stays valid."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
_ENV_READ = re.compile(r'env_(?:str|bool|int|float|list|path)\(\s*"([A-Z0-9_]+)"|os\.environ\.get\("([A-Z0-9_]+)"')


def _variables_read_by_the_code() -> set[str]:
    names: set[str] = set()
    for folder in ("portal", "assistant", "ingestion"):
        for path in (ROOT / folder).rglob("*.py"):
            for match in _ENV_READ.finditer(path.read_text()):
                names.add(match.group(1) or match.group(2))
    return names


def test_every_setting_is_documented_in_env_example_and_readme() -> None:
    names = _variables_read_by_the_code()
    assert {"DATABASE_URL", "LLM_MODEL_PATH", "CELERY_BROKER_URL"} <= names
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^([A-Z0-9_]+)=", example, re.MULTILINE))
    assert names - documented == set(), "add these to .env.example"
    assert {n for n in names if f"`{n}`" not in readme} == set(), "add these to the README's table"


def test_compose_file_defines_the_production_services() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "beat", "db", "redis", "qdrant", "llm"} <= set(services)
    for name in ("web", "worker", "beat", "db", "redis", "qdrant", "llm"):
        assert "healthcheck" in services[name], name
    assert services["web"]["environment"]["LLM_BASE_URL"].startswith("http://llm:")
    assert set(compose["volumes"]) >= {"pgdata", "redisdata", "qdrantdata", "index"}
    text = (ROOT / "docker-compose.yml").read_text()
    assert not re.search(r"(PASSWORD|SECRET)[A-Z_]*:\s*[\"']?\w", text.replace("${POSTGRES_PASSWORD", ""))


def test_beat_schedules_the_nightly_reingestion() -> None:
    from portal.celery import app

    app.loader.import_default_modules()  # what a worker does at start: autodiscover tasks
    entry = app.conf.beat_schedule["nightly-reingest"]
    assert entry["task"] == "ingestion.tasks.ingest_nightly"
    assert "ingestion.tasks.ingest_nightly" in app.tasks
    assert (entry["schedule"].hour, entry["schedule"].minute) == ({2}, {30})  # INGEST_NIGHTLY_AT default


def test_nightly_time_is_parsed_strictly() -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "INGEST_NIGHTLY_AT": "25:00", "DJANGO_SETTINGS_MODULE": "portal.settings"}
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode != 0 and "INGEST_NIGHTLY_AT must be a time of day" in out.stderr
