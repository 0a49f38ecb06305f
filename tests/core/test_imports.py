"""The import direction of pyproject.toml's import-linter contracts, checked in the suite."""

import subprocess
import sys
from pathlib import Path

from sqlalchemy import String, Uuid

from app.services.appointments import queries
from app.services.documents.models import Document, DocumentStatus

ROOT = Path(__file__).resolve().parents[2]


def test_imports_follow_the_contracts() -> None:
    """Core imports no feature; features import one way only (see `[tool.importlinter]`)."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_appointment_body_reads_the_documents_columns_as_the_model_declares_them() -> None:
    """`appointments` names the `documents` columns it reads (it may not import the feature)."""
    assert queries.DOCUMENTS.name == Document.__tablename__
    for column in queries.DOCUMENTS.c:
        declared = Document.__table__.c[column.name]
        assert isinstance(declared.type, Uuid if isinstance(column.type, Uuid) else String)
    assert queries.DOCUMENT_REPLACED == DocumentStatus.replaced.value
