"""The file's kind from its content, checked against its extension: a mismatch is an error, not a guess."""

import io
import zipfile
from pathlib import PurePath

from django.conf import settings

from knowledge.parsing.blocks import UnreadableDocument

EXTENSIONS = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
    ".xlsx": "xlsx",
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".csv": "csv",
}
SUPPORTED_DESCRIPTION = "PDF, Word (.docx), PowerPoint (.pptx), Excel (.xlsx), CSV, HTML, Markdown or plain text"
_ZIP_KINDS = {"word/document.xml": "docx", "ppt/presentation.xml": "pptx", "xl/workbook.xml": "xlsx"}
_LEGACY_OFFICE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_NAMES = {
    "pdf": "a PDF",
    "docx": "a Word document",
    "pptx": "a PowerPoint presentation",
    "xlsx": "an Excel workbook",
    "zip": "a ZIP archive",
    "legacy-office": "a legacy Office file (.doc/.xls/.ppt)",
    "binary": "binary data",
    "text": "text",
}


def detect_kind(filename: str, data: bytes) -> str:
    if not data:
        raise UnreadableDocument("The file is empty.")
    extension = PurePath(filename).suffix.lower()
    expected = EXTENSIONS.get(extension)
    if expected is None:
        shown = extension or "without an extension"
        raise UnreadableDocument(f"Unsupported file type ({shown}). Upload {SUPPORTED_DESCRIPTION}.")
    found = _sniff(data)
    if expected in {"pdf", "docx", "pptx", "xlsx"}:
        if found != expected:
            raise UnreadableDocument(f"The file is named {extension} but its content is {_NAMES[found]}.")
    elif found != "text":
        raise UnreadableDocument(f"The file is named {extension} but its content is {_NAMES[found]}, not text.")
    elif expected == "html" and not data.lstrip()[:1] == b"<":
        raise UnreadableDocument(f"The file is named {extension} but does not start with HTML markup.")
    return expected


def _sniff(data: bytes) -> str:
    head = data.lstrip()[:8]
    if head.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(_LEGACY_OFFICE):
        return "legacy-office"
    if data.startswith(b"PK\x03\x04"):
        try:
            names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
        except zipfile.BadZipFile:
            return "binary"
        return next((kind for member, kind in _ZIP_KINDS.items() if member in names), "zip")
    if b"\x00" in data[:8192]:
        return "binary"
    return "text"


def open_office_zip(data: bytes) -> zipfile.ZipFile:
    """Refuse archives that would expand past the limit before any parser unpacks them."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UnreadableDocument("The file is damaged: its ZIP container cannot be read.") from None
    members = archive.infolist()
    expanded = sum(member.file_size for member in members)
    if len(members) > settings.MAX_ARCHIVE_MEMBERS or expanded > settings.MAX_UNPACKED_BYTES:
        raise UnreadableDocument(
            f"The file would unpack to {expanded // 1_000_000} MB in {len(members)} parts, over the limit of "
            f"{settings.MAX_UNPACKED_BYTES // 1_000_000} MB; it looks like a decompression bomb."
        )
    return archive
