"""The import direction of pyproject.toml's import-linter contracts, checked in the suite."""

import subprocess
import sys
from pathlib import Path

from sqlalchemy import String, Uuid
from sqlalchemy.dialects.postgresql import ARRAY

from app.services.appointments import queries
from app.services.chat.models import ChatMessage
from app.services.documents import service as documents_service
from app.services.documents.models import Document, DocumentStatus
from app.services.tickets.models import Ticket

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


def test_the_documents_access_rule_reads_the_ticket_and_message_columns_as_the_models_declare_them() -> None:
    """`documents` names the `tickets` and `chat_messages` columns it reads (it may import neither)."""
    for named, model in ((documents_service.TICKETS, Ticket), (documents_service.CHAT_MESSAGES, ChatMessage)):
        assert named.name == model.__tablename__
        for column in named.c:
            declared = model.__table__.c[column.name].type
            assert type(declared) is type(column.type), column.name
            if isinstance(column.type, ARRAY):
                assert type(declared.item_type) is type(column.type.item_type), column.name
