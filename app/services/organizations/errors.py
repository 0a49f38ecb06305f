from app.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied


class OrganizationNotFound(NotFound):
    default_detail = "No such organization."


class DepartmentNotFound(InvalidInput):
    code = "department_not_found"
    default_detail = "The department does not belong to this organization."


class InviteeNotFound(InvalidInput):
    code = "user_not_found"
    default_detail = "No account has this e-mail; the person must register first."


class RoleTooHigh(PermissionDenied):
    default_detail = "You cannot give or change a role above your own."


class LastOwner(Conflict):
    code = "last_owner"
    default_detail = "An organization keeps at least one owner."


class DepartmentExists(Conflict):
    code = "department_exists"
    default_detail = "The organization already has a department with this name."


class NotAClinic(InvalidInput):
    code = "not_a_clinic"
    default_detail = "Only members of a clinic can have a clinical role."


class OwnClinicalRole(PermissionDenied):
    default_detail = "Nobody can change their own clinical role."
