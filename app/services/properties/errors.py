"""The property vertical's errors about organizations, projects and units."""

from app.core.errors import Conflict, InvalidInput, NotFound


class WrongOrganizationKind(Conflict):
    code = "wrong_organization_kind"
    default_detail = "Only an organization of kind `property` has projects."


class ProjectNotFound(NotFound):
    default_detail = "No such project."


class UnitNotFound(NotFound):
    default_detail = "No such unit."


class ProjectTransition(Conflict):
    code = "invalid_transition"
    default_detail = "A project's status only moves forward, and it cannot be unpublished."


class MilestoneNotFound(NotFound):
    default_detail = "No such milestone."


class UnitCodeTaken(Conflict):
    code = "unit_code_taken"
    default_detail = "The project already has a unit with this code."


class UnknownCurrency(InvalidInput):
    default_detail = "`currency` must be an upper-case ISO 4217 code, e.g. EUR."
