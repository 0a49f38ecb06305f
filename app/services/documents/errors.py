from app.core.errors import (
    AppError,
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    UnsupportedMediaType,
)


class DocumentNotFound(NotFound):
    default_detail = "No such document."


class QuotaExceeded(PayloadTooLarge):
    code = "quota_exceeded"
    title = "Storage quota exceeded"
    default_detail = "This upload would take you past your document storage quota; delete documents first."


class InvalidAppointment(InvalidInput):
    code = "invalid_appointment"
    title = "Invalid appointment"
    default_detail = "appointment_id must name one of your own appointments."


class InvalidTicket(InvalidInput):
    code = "invalid_ticket"
    title = "Invalid ticket"
    default_detail = "ticket_id must name a ticket you opened or one of your organization's."


class InvalidRequirement(InvalidInput):
    code = "invalid_requirement"
    title = "Invalid requirement"
    default_detail = "requirement_id must be one of the requirements of the appointment's service."


class RequirementNeedsAppointment(InvalidInput):
    code = "requirement_needs_appointment"
    title = "Requirement without appointment"
    default_detail = "A requirement_id needs the appointment_id it belongs to."


class NoteRequired(InvalidInput):
    code = "note_required"
    title = "Note required"
    default_detail = "A rejection needs a note telling the citizen what to fix."


class AlreadyReviewed(Conflict):
    code = "already_reviewed"
    title = "Already reviewed"
    default_detail = "Only a pending document can be reviewed."


class RequirementApproved(Conflict):
    code = "requirement_approved"
    title = "Requirement already approved"
    default_detail = "The document for this requirement is approved; no other upload is needed."


class NotPending(Conflict):
    code = "document_not_pending"
    title = "Document not pending"
    default_detail = "Only a pending document can be deleted."


class NotOwner(PermissionDenied):
    default_detail = "Only the owner may delete a document."


class ContentMissing(NotFound):
    code = "content_missing"
    default_detail = "The document's content is not available."


class ContentReplaced(AppError):
    status_code = 410
    code = "document_replaced"
    title = "Document replaced"
    default_detail = "A later upload replaced this document; its file is no longer kept."


class UnsupportedDocumentType(UnsupportedMediaType):
    default_detail = "Only PDF, PNG, JPEG and WebP documents are accepted (decided from the content)."
