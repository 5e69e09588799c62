from pathlib import Path

import yaml
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


def test_models_and_migrations_agree(db):
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_compose_file_runs_web_and_worker_on_pgvector_and_redis():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"db", "redis", "web", "worker"} <= set(services)
    assert "pgvector" in services["db"]["image"]
    for name in ("web", "worker"):
        env = services[name]["environment"]
        for variable in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "LLM_BASE_URL"):
            assert variable in env, f"{name} lacks {variable}"


def test_env_example_lists_every_setting_read_from_the_environment():
    settings_text = (ROOT / "ragsite" / "settings.py").read_text()
    import re

    read = set(re.findall(r'(?:environ\.get|env_bool|env_int)\(\s*"([A-Z_]+)"', settings_text))
    listed = {
        line.split("=")[0].lstrip("# ") for line in (ROOT / ".env.example").read_text().splitlines() if "=" in line
    }
    assert read - listed == set()
