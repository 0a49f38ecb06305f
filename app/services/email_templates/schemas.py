import uuid
from typing import Annotated

from pydantic import ConfigDict, StringConstraints

from app.core.schemas import InputSchema, Schema

TemplateSubject = Annotated[str, StringConstraints(min_length=1, max_length=300)]
TemplateBody = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class EmailTemplateIn(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "subject": "We got your request [#$ticket_reference]",
                    "body": 'Hello $full_name,\n\nThanks for writing about "$ticket_subject".\n\n$organization_name',
                }
            ]
        }
    )

    subject: TemplateSubject
    body: TemplateBody


class EmailTemplatePreviewIn(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"body": "Hello $full_name, about $ticket_subject"}]})

    subject: TemplateSubject | None = None
    body: TemplateBody | None = None
    ticket_id: uuid.UUID | None = None


class EmailTemplateRead(Schema):
    key: str
    subject: str
    body: str
    placeholders: list[str]
    customized: bool


class EmailTemplatePreview(Schema):
    subject: str
    body: str
