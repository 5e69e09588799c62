"""The APIs' OpenAPI schema against the live server (schemathesis), and the README's examples as written."""

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.contrib.auth.models import User

from knowledge.tokens import token_create

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
LEAVE = "# Leave\n\n## Entitlement\n\nFull-time employees receive 25 days of paid annual leave per calendar year."


def schemathesis(url: str, token: str, *options: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{url}/api/schema", "-H", f"Authorization: Bearer {token}",
        "--max-examples", "5", "--seed", "1", "--no-color", *options,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_the_schema_and_its_docs_page_are_served_without_a_cdn(api_server):
    schema = httpx.get(f"{api_server.url}/api/schema").json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/ask", "/api/search", "/api/documents", "/api/documents/{document_id}", "/v1/chat/completions"} <= set(
        schema["paths"]
    )
    assert schema["paths"]["/api/ask"]["post"]["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "question"
    ]
    page = httpx.get(f"{api_server.url}/api/docs").text
    assert "/static/ninja/swagger-ui-bundle.js" in page and "cdn" not in page.lower()


def test_schemathesis_finds_no_server_error_and_no_response_off_the_schema(people, ingest, api_server):
    ingest("leave.md", LEAVE)
    asking = schemathesis(
        api_server.url,
        token_create(user=people.bob),
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        "--exclude-path-regex", "/api/documents",
    )  # fmt: skip
    assert asking.returncode == 0, asking.stdout[-4000:]
    assert "passed" in asking.stdout
    staff = User.objects.create_superuser("root", password="pw-root-123")
    # Daphne (Twisted) answers a multipart body it cannot read with a bare 400 before the product sees it,
    # so the uploads are held to no server error and documented status codes only.
    uploads = schemathesis(
        api_server.url,
        token_create(user=staff, scopes=["documents"]),
        "--checks", "not_a_server_error,status_code_conformance",
        "--include-path-regex", "/api/documents",
    )  # fmt: skip
    assert uploads.returncode == 0, uploads.stdout[-4000:]


def test_the_readme_examples_run_as_written(people, ingest, api_server):
    ingest("leave.md", LEAVE)
    readme = (ROOT / "README.md").read_text()
    token = token_create(user=people.bob)
    curl = re.search(r"```sh\n(  curl -s http://127\.0\.0\.1:8000/api/ask.*?)\n  ```", readme, re.DOTALL).group(1)
    command = curl.replace("http://127.0.0.1:8000", api_server.url).replace("\\\n", " ")
    out = subprocess.run(["bash", "-c", command], env={"TOKEN": token, "PATH": "/usr/bin:/bin"}, capture_output=True)
    assert b'"status": "complete"' in out.stdout, out.stdout + out.stderr

    python = re.search(r"```python\n(  import openai.*?)\n  ```", readme, re.DOTALL).group(1)
    code = "\n".join(line.removeprefix("  ") for line in python.splitlines())
    code = code.replace("http://127.0.0.1:8000", api_server.url)
    out = subprocess.run(
        [sys.executable, "-c", f"TOKEN = {token!r}\n{code}"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert out.returncode == 0 and "25 days" in out.stdout and "'document_title': 'Leave'" in out.stdout, out.stderr
