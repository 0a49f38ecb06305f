import uuid

from pydantic import Field

from app.core.schemas import Schema


class InboundSecretRead(Schema):
    secret: str = Field(description="Shown only here; send it as X-Inbound-Secret. A new one replaces the last.")


class RejectedAttachment(Schema):
    filename: str | None
    reason: str = Field(description="`unsupported_media_type`, `payload_too_large`, `quota_exceeded` or `no_account`")


class InboundResult(Schema):
    ticket_id: uuid.UUID
    message_id: int = Field(description="The chat message id of the thread")
    created: bool = Field(description="True when the e-mail opened a new ticket")
    document_ids: list[uuid.UUID] = Field(default_factory=list)
    rejected_attachments: list[RejectedAttachment] = Field(default_factory=list)
