"""The demo company: three people in different groups and the handbook in demo/handbook/.

Idempotent: a second run creates nothing new. Files under a folder named after a group
are visible only to that group; demo/handbook/versions.toml links the policy versions.
"""

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files import File

from knowledge.documents import document_create
from knowledge.folders import folder_files
from knowledge.manifest import manifest_apply, manifest_read
from knowledge.models import Document
from knowledge.records import records_import

HANDBOOK_DIR = Path(settings.BASE_DIR) / "demo" / "handbook"
LEAVE_BALANCES = Path(settings.BASE_DIR) / "demo" / "records" / "leave-balances.csv"
RESTRICTED_FOLDERS = {"managers": "managers"}


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    groups: tuple[str, ...]
    superuser: bool = False


DEMO_USERS = (
    DemoUser("admin", "admin-demo-pass", (), superuser=True),
    DemoUser("alice", "alice-demo-pass", ("managers",)),
    DemoUser("bob", "bob-demo-pass", ("engineering",)),
)


def demo_seed(handbook_dir: Path = HANDBOOK_DIR) -> list[Document]:
    users = _ensure_users()
    versions = manifest_read(handbook_dir)
    created, documents = [], {}
    for path in folder_files(handbook_dir):
        relative = path.relative_to(handbook_dir).as_posix()
        existing = Document.objects.filter(original_name=path.name).first()
        if existing is not None:
            documents[relative] = existing
            continue
        group_name = RESTRICTED_FOLDERS.get(path.parent.name)
        with path.open("rb") as handle:
            documents[relative] = document_create(
                file=File(handle, name=path.name),
                title=_title(path),
                visibility=Document.Visibility.GROUPS if group_name else Document.Visibility.EVERYONE,
                groups=[Group.objects.get(name=group_name)] if group_name else None,
                uploaded_by=users["admin"],
                source_path=relative,
            )
        created.append(documents[relative])
    manifest_apply(versions, documents)
    if not Document.objects.filter(source_path__startswith="records/").exists():
        records_import(LEAVE_BALANCES.read_bytes(), kind="Leave balance", schedule=True)
    return created


def demo_users() -> dict:
    """The demo people by name (created if missing), for an evaluation that asks as them."""
    return _ensure_users()


def _ensure_users() -> dict:
    User = get_user_model()
    users = {}
    for demo in DEMO_USERS:
        user = User.objects.filter(username=demo.username).first()
        if user is None:
            user = User(username=demo.username, is_staff=demo.superuser, is_superuser=demo.superuser)
            user.set_password(demo.password)
            user.save()
        for name in demo.groups:
            user.groups.add(Group.objects.get_or_create(name=name)[0])
        users[demo.username] = user
    Group.objects.get_or_create(name="managers")
    return users


def _title(path: Path) -> str:
    if path.suffix.lower() in {".md", ".markdown"}:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return path.stem.replace("-", " ").capitalize()
