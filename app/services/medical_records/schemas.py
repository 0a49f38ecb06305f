"""Entries and their typed `data`: one model per kind, unknown fields refused, every value bounded.

Vital signs are JSON numbers in the unit their name carries (no conversion); the bounds are the
plausible ranges of an adult or child in a clinic, inclusive.
"""

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, model_validator

from app.core.schemas import AwareDatetime, InputSchema, Schema
from app.services.medical_records.models import AccessAction, AuthorRole, EntryKind, ReaderRole

Label = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Sentence = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=32)]
NoteText = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]


def _whole(low: int, high: int) -> Any:
    return Annotated[int, Field(ge=low, le=high, strict=True)]


def _measure(low: float, high: float) -> Any:
    return Annotated[float, Field(ge=low, le=high, allow_inf_nan=False, strict=True)]


class EntryData(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DiagnosisData(EntryData):
    description: Sentence
    code: Code | None = Field(default=None, description="e.g. an ICD-10 code")
    status: Literal["active", "resolved", "refuted"]
    onset_date: date | None = None


class AllergyData(EntryData):
    substance: Label
    reaction: Sentence | None = None
    severity: Literal["mild", "moderate", "severe"] | None = None


class MedicationData(EntryData):
    name: Label
    dose: Short | None = None
    route: Short | None = None
    frequency: Short | None = None
    start_date: date | None = None
    end_date: date | None = None

    @model_validator(mode="after")
    def _end_after_start(self) -> Self:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date may not come before start_date")
        return self


class NoteData(EntryData):
    text: NoteText


class VitalSignsData(EntryData):
    systolic_mmhg: _whole(40, 300) | None = None  # type: ignore[valid-type]
    diastolic_mmhg: _whole(20, 200) | None = None  # type: ignore[valid-type]
    heart_rate_bpm: _whole(20, 300) | None = None  # type: ignore[valid-type]
    respiratory_rate_bpm: _whole(4, 80) | None = None  # type: ignore[valid-type]
    spo2_percent: _whole(50, 100) | None = None  # type: ignore[valid-type]
    temperature_c: _measure(30, 45) | None = None  # type: ignore[valid-type]
    weight_kg: _measure(0.2, 500) | None = None  # type: ignore[valid-type]
    height_cm: _measure(20, 280) | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.model_fields_set or all(getattr(self, name) is None for name in self.model_fields_set):
            raise ValueError("give at least one measurement")
        if (self.systolic_mmhg is None) != (self.diastolic_mmhg is None):
            raise ValueError("blood pressure needs both systolic_mmhg and diastolic_mmhg")
        if self.systolic_mmhg is not None and self.diastolic_mmhg is not None:
            if self.diastolic_mmhg >= self.systolic_mmhg:
                raise ValueError("diastolic_mmhg must be below systolic_mmhg")
        return self


DATA_MODELS: dict[EntryKind, type[EntryData]] = {
    EntryKind.diagnosis: DiagnosisData,
    EntryKind.allergy: AllergyData,
    EntryKind.medication: MedicationData,
    EntryKind.note: NoteData,
    EntryKind.vital_signs: VitalSignsData,
}
_ADAPTERS = {kind: TypeAdapter(model) for kind, model in DATA_MODELS.items()}


def parse_data(kind: EntryKind, raw: dict[str, Any]) -> EntryData:
    """`raw` as the kind's model; raises pydantic's ValidationError (the route makes it a 422)."""
    parsed: EntryData = _ADAPTERS[kind].validate_python(raw)
    return parsed


def stored(data: EntryData) -> dict[str, Any]:
    """What goes into the JSONB column: the given fields only, dates as `YYYY-MM-DD`."""
    return data.model_dump(mode="json", exclude_none=True)


class _EntryCreateBase(InputSchema):
    confidential: bool = Field(default=False, description="Hidden from the patient's own view")
    effective_at: AwareDatetime | None = Field(default=None, description="When it was true; now when omitted")


class DiagnosisCreate(_EntryCreateBase):
    kind: Literal["diagnosis"]
    data: DiagnosisData


class AllergyCreate(_EntryCreateBase):
    kind: Literal["allergy"]
    data: AllergyData


class MedicationCreate(_EntryCreateBase):
    kind: Literal["medication"]
    data: MedicationData


class NoteCreate(_EntryCreateBase):
    kind: Literal["note"]
    data: NoteData


class VitalSignsCreate(_EntryCreateBase):
    kind: Literal["vital_signs"]
    data: VitalSignsData


ENTRY_EXAMPLES: list[dict[str, Any]] = [
    {
        "kind": "vital_signs",
        "data": {"systolic_mmhg": 128, "diastolic_mmhg": 82, "heart_rate_bpm": 72, "temperature_c": 36.8},
        "effective_at": "2026-12-07T09:40:00+01:00",
    },
    {
        "kind": "diagnosis",
        "data": {"description": "Essential hypertension", "code": "I10", "status": "active"},
        "confidential": False,
    },
    {"kind": "allergy", "data": {"substance": "Penicillin", "reaction": "Rash", "severity": "moderate"}},
    {"kind": "medication", "data": {"name": "Amlodipine", "dose": "5 mg", "frequency": "once daily"}},
    {"kind": "note", "data": {"text": "Follow-up in four weeks."}, "confidential": True},
]

EntryCreate = Annotated[
    DiagnosisCreate | AllergyCreate | MedicationCreate | NoteCreate | VitalSignsCreate,
    Field(discriminator="kind", json_schema_extra={"examples": ENTRY_EXAMPLES}),
]


class EntryAmend(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "data": {"systolic_mmhg": 132, "diastolic_mmhg": 84},
                    "reason": "Transcription error: the cuff reading was 132/84",
                }
            ]
        }
    )

    data: dict[str, Any] = Field(
        max_length=20, description="The whole new `data`, of the entry's kind (`kind` never changes)"
    )
    reason: Sentence
    confidential: bool | None = Field(default=None, description="Kept from the amended version when omitted")
    effective_at: AwareDatetime | None = Field(default=None, description="Kept from the amended version when omitted")


class EntryRead(Schema):
    id: uuid.UUID
    patient_id: uuid.UUID
    kind: EntryKind
    data: dict[str, Any]
    confidential: bool
    effective_at: datetime
    author_id: uuid.UUID | None
    author_name: str
    author_role: AuthorRole
    version: int
    supersedes_id: uuid.UUID | None
    superseded_by_id: uuid.UUID | None
    amendment_reason: str | None
    created_at: datetime


class AccessLogRead(Schema):
    id: uuid.UUID
    patient_id: uuid.UUID
    actor_id: uuid.UUID | None
    actor_name: str
    actor_role: ReaderRole
    action: AccessAction
    entry_id: uuid.UUID | None
    request_id: str | None
    at: datetime
