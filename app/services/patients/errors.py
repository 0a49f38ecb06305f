from app.core.errors import Conflict, InvalidInput, NotFound


class PatientNotFound(NotFound):
    default_detail = "No such patient."


class ClinicNotFound(NotFound):
    default_detail = "No such clinic."


class MrnTaken(Conflict):
    code = "mrn_taken"
    title = "MRN taken"
    default_detail = "Another patient of this clinic has this MRN."


class NationalIdTaken(Conflict):
    code = "national_id_taken"
    title = "National id taken"
    default_detail = "Another patient of this clinic has this national id."


class UserAlreadyLinked(Conflict):
    code = "user_already_linked"
    title = "Account already linked"
    default_detail = "This account is already linked to a patient of this clinic."


class PatientArchived(Conflict):
    code = "patient_archived"
    title = "Patient archived"
    default_detail = "The patient is archived: no new entries, amendments or bookings."


class PatientUserNotFound(InvalidInput):
    code = "user_not_found"
    default_detail = "No account has this id."


class InvalidDoctor(InvalidInput):
    code = "invalid_doctor"
    default_detail = "The assigned doctor must be a member of this clinic with the clinical role `doctor`."
