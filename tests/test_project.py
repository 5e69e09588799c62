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


def test_shipped_labelled_questions_cite_the_handbook_verbatim():
    import json
    import re

    handbook = " ".join(p.read_text() for p in (ROOT / "demo" / "handbook").rglob("*.md"))
    flat = re.sub(r"\s+", " ", handbook)
    questions = [json.loads(line) for line in (ROOT / "demo" / "eval" / "handbook-questions.jsonl").open()]
    assert len(questions) >= 40
    assert len({q["question"] for q in questions}) == len(questions)
    for question in questions:
        assert question["evidence"] in flat, question


def test_production_settings_pass_check_deploy():
    import os
    import subprocess
    import sys

    env = dict(
        os.environ,
        DEBUG="0",
        HTTPS="1",
        SECRET_KEY="k7#Qz!v9@Lm2$Wp8^Rt5&Yx1*Bn4(Hd6)Jf3_Gs0+Ce7=Ua2-Vo9~Ki5",
        ALLOWED_HOSTS="ask.example.com",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_unknown_answer_mode_stops_the_start_with_a_message():
    import os
    import subprocess
    import sys

    env = dict(os.environ, DEBUG="1", ANSWER_MODE="creative")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "ANSWER_MODE must be auto, extractive or generative" in result.stderr


def test_knowledge_never_imports_chat():
    """The knowledge base is used by the chat, never the other way: chat passes in what knowledge needs."""
    import ast

    importing = []
    for path in (ROOT / "knowledge").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            if any(name == "chat" or name.startswith("chat.") for name in names):
                importing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert importing == []


def test_python_and_the_page_build_no_urls_by_hand():
    """URLs come from reverse() and {% url %} (the script reads them from data attributes)."""
    import re

    script = (ROOT / "chat" / "static" / "chat" / "chat.js").read_text()
    assert not re.search(r"""["'](/c/|/m/|/login/|/documents/)""", script)
    for package in ("chat", "knowledge"):
        for path in (ROOT / package).rglob("*.py"):
            assert not re.search(r"""f?["']/(c|m|login|documents)/""", path.read_text()), path


def test_the_api_routes_leave_the_site_s_own_pages_alone(client, django_user_model):
    user = django_user_model.objects.create_user("probe", password="pw-probe-123")
    client.force_login(user)
    assert client.get("/").status_code == 200, "the chat page, not the API's root"
    assert client.get("/search/").status_code == 200 and client.get("/tokens/").status_code == 200
    assert client.get("/api/schema").json()["openapi"].startswith("3.")
