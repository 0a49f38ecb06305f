"""The hand-written demo: a city hall, a clinic and a property developer.

Pure data. Dates of closures are days relative to the day of the first seeding, so a fresh demo
always has a closure behind it and one ahead.
"""

from dataclasses import dataclass, field
from datetime import time

WEEKDAYS = (0, 1, 2, 3, 4)  # Monday to Friday
Ranges = tuple[tuple[time, time], ...]


@dataclass(frozen=True)
class StaffSpec:
    email: str  # the local part; the domain is the demo domain
    full_name: str
    role: str
    title: str
    department: str | None


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    department: str
    description: str
    duration: int
    capacity: int
    requirements: tuple[tuple[str, bool], ...]  # (name, mandatory)
    hours: tuple[tuple[tuple[int, ...], Ranges], ...]  # (weekdays, ranges)
    slot_minutes: int | None = None
    min_notice_minutes: int = 60
    max_days_ahead: int = 60


@dataclass(frozen=True)
class ClosureSpec:
    first_day: int  # relative to the seeding day
    last_day: int
    reason: str


@dataclass(frozen=True)
class OrganizationSpec:
    key: str  # e-mail local part of the organization: the marker of the demo
    name: str
    kind: str
    timezone: str
    address: str
    phone: str
    departments: tuple[str, ...]
    staff: tuple[StaffSpec, ...]
    services: tuple[ServiceSpec, ...]
    closures: tuple[ClosureSpec, ...] = field(default=())


def _t(value: str) -> time:
    return time.fromisoformat(value)


OFFICE: Ranges = ((_t("08:00"), _t("12:00")), (_t("13:00"), _t("16:00")))
OFFICE_LATE: Ranges = ((_t("08:00"), _t("12:00")), (_t("13:00"), _t("18:00")))
SURGERY: Ranges = ((_t("08:00"), _t("12:30")), (_t("14:00"), _t("18:00")))
SALES: Ranges = ((_t("10:00"), _t("13:00")), (_t("14:00"), _t("18:00")))

CITY_HALL = OrganizationSpec(
    key="cityhall",
    name="Riverton City Hall",
    kind="government",
    timezone="Europe/Berlin",
    address="1 Market Square, Riverton",
    phone="+49 30 1234 0000",
    departments=("Civil Registry", "Permits and Licensing", "Tax Office"),
    staff=(
        StaffSpec("mayor.office", "Margaret Holloway", "owner", "city manager", None),
        StaffSpec("registry.head", "Daniel Okafor", "manager", "head of civil registry", "Civil Registry"),
        StaffSpec("sofia.marquez", "Sofia Marquez", "staff", "officer", "Civil Registry"),
        StaffSpec("jonas.berg", "Jonas Berg", "staff", "officer", "Permits and Licensing"),
        StaffSpec("priya.nair", "Priya Nair", "staff", "clerk", "Tax Office"),
    ),
    services=(
        ServiceSpec(
            "Passport application",
            "Civil Registry",
            "Apply for a new passport. Bring the documents listed; fingerprints are taken at the counter.",
            20,
            2,
            (("Current passport or ID card", True), ("Biometric photo", True), ("Birth certificate", False)),
            (((0, 1, 2, 4), OFFICE), ((3,), OFFICE_LATE)),
        ),
        ServiceSpec(
            "ID card renewal",
            "Civil Registry",
            "Renew an identity card that expires within three months.",
            15,
            2,
            (("Current ID card", True), ("Biometric photo", True)),
            ((WEEKDAYS, OFFICE),),
        ),
        ServiceSpec(
            "Birth certificate copy",
            "Civil Registry",
            "Certified copy of a birth registered in Riverton.",
            10,
            1,
            (("Photo ID", True),),
            ((WEEKDAYS, OFFICE),),
        ),
        ServiceSpec(
            "Building permit consultation",
            "Permits and Licensing",
            "Talk a project through with a planning officer before filing.",
            45,
            1,
            (("Site plan", True), ("Proof of ownership", True), ("Architect's drawings", False)),
            (((1, 3), ((_t("09:00"), _t("12:00")), (_t("13:00"), _t("15:00")))),),
            slot_minutes=60,
            min_notice_minutes=24 * 60,
        ),
        ServiceSpec(
            "Resident parking permit",
            "Permits and Licensing",
            "Permit for one vehicle registered at a Riverton address.",
            10,
            2,
            (("Vehicle registration", True), ("Proof of address", True)),
            ((WEEKDAYS, OFFICE),),
        ),
        ServiceSpec(
            "Property tax consultation",
            "Tax Office",
            "Questions about an assessment notice or a payment plan.",
            30,
            1,
            (("Tax assessment notice", True),),
            (((0, 2, 4), OFFICE),),
        ),
    ),
    closures=(
        ClosureSpec(-40, -40, "Public holiday"),
        ClosureSpec(12, 12, "Staff training day"),
    ),
)

CLINIC = OrganizationSpec(
    key="clinic",
    name="Lakeside Family Clinic",
    kind="clinic",
    timezone="Europe/Berlin",
    address="22 Lake Road, Riverton",
    phone="+49 30 5550 1200",
    departments=("General Practice", "Paediatrics", "Laboratory"),
    staff=(
        StaffSpec("helena.brandt", "Dr. Helena Brandt", "owner", "medical director", None),
        StaffSpec("tom.fischer", "Tom Fischer", "manager", "practice manager", None),
        StaffSpec("amir.haddad", "Dr. Amir Haddad", "staff", "doctor", "General Practice"),
        StaffSpec("lena.vogel", "Dr. Lena Vogel", "staff", "doctor", "Paediatrics"),
        StaffSpec("marta.kowalski", "Marta Kowalski", "staff", "nurse", "Laboratory"),
    ),
    services=(
        ServiceSpec(
            "GP consultation",
            "General Practice",
            "A 15-minute appointment with a general practitioner.",
            15,
            1,
            (("Health insurance card", True),),
            ((WEEKDAYS, SURGERY), ((5,), ((_t("09:00"), _t("12:00")),))),
            min_notice_minutes=30,
            max_days_ahead=30,
        ),
        ServiceSpec(
            "Paediatric check-up",
            "Paediatrics",
            "Routine check-up for children up to 16.",
            30,
            1,
            (("Health insurance card", True), ("Vaccination record", True)),
            ((WEEKDAYS, SURGERY),),
        ),
        ServiceSpec(
            "Blood test",
            "Laboratory",
            "Blood sampling; come fasting unless told otherwise.",
            10,
            3,
            (("Referral", True), ("Health insurance card", True)),
            ((WEEKDAYS, ((_t("07:30"), _t("10:30")),)),),
            min_notice_minutes=0,
        ),
        ServiceSpec(
            "Flu vaccination",
            "General Practice",
            "Seasonal flu shot.",
            10,
            2,
            (("Health insurance card", True), ("Vaccination record", False)),
            (((1, 3), ((_t("14:00"), _t("17:00")),)),),
        ),
    ),
    closures=(ClosureSpec(-15, -14, "Practice closed for renovation"), ClosureSpec(20, 20, "Team training")),
)

DEVELOPER = OrganizationSpec(
    key="harbourview",
    name="Harbourview Developments",
    kind="property",
    timezone="Europe/London",
    address="Unit 4, Quayside, Riverton",
    phone="+44 20 7946 0321",
    departments=("Sales", "Customer Care"),
    staff=(
        StaffSpec("richard.lane", "Richard Lane", "owner", "managing director", None),
        StaffSpec("chloe.bennett", "Chloe Bennett", "manager", "sales manager", "Sales"),
        StaffSpec("oliver.grant", "Oliver Grant", "staff", "sales agent", "Sales"),
        StaffSpec("aisha.khan", "Aisha Khan", "staff", "handover coordinator", "Customer Care"),
    ),
    services=(
        ServiceSpec(
            "Show flat viewing",
            "Sales",
            "A guided tour of the show flat at Harbourview Quay.",
            45,
            4,
            (),
            (((1, 2, 3, 4, 5), SALES),),
            slot_minutes=60,
            min_notice_minutes=120,
        ),
        ServiceSpec(
            "Reservation and contract signing",
            "Sales",
            "Reserve a unit and sign the sale contract.",
            60,
            1,
            (("Photo ID", True), ("Proof of funds", True), ("Signed reservation form", True)),
            (((1, 2, 3, 4, 5), SALES),),
            min_notice_minutes=24 * 60,
        ),
        ServiceSpec(
            "Key handover",
            "Customer Care",
            "Collect the keys of a completed home.",
            30,
            1,
            (("Photo ID", True), ("Completion statement", True)),
            ((WEEKDAYS, ((_t("09:00"), _t("12:00")), (_t("13:00"), _t("17:00")))),),
        ),
    ),
    closures=(ClosureSpec(-60, -58, "Site inspection"), ClosureSpec(7, 7, "Bank holiday")),
)

ORGANIZATIONS = (CITY_HALL, CLINIC, DEVELOPER)
N_SERVICES = sum(len(o.services) for o in ORGANIZATIONS)

FIRST_NAMES = (
    "Anna", "Ben", "Clara", "David", "Elif", "Felix", "Grace", "Hugo", "Ines", "Jamal", "Katarina", "Liam",
    "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Samir", "Tessa", "Umar", "Vera", "William", "Xenia",
    "Yusuf", "Zoe", "Aiko", "Bruno", "Chiara", "Dmitri", "Emma", "Farah", "Goran", "Hana", "Ivan", "Julia",
    "Kofi", "Lucia", "Mateo", "Nadia",
)  # fmt: skip
LAST_NAMES = (
    "Adler", "Baker", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Horvat", "Ivanova", "Jensen", "Kaya",
    "Larsen", "Meyer", "Novak", "Okoro", "Petrov", "Quinn", "Rossi", "Schmidt", "Tanaka", "Usman", "Varga",
    "Weber", "Xu", "Yilmaz", "Zimmermann", "Almeida", "Brennan", "Chen", "Demir", "Evans", "Fontaine",
    "Gruber", "Haas", "Ibrahim", "Jovanovic", "Keller", "Lindqvist", "Moreau", "Nowak",
)  # fmt: skip

# Services of the generated "service points" (`--services` above the hand-written ones): one
# range 08:00-20:00 every day in UTC on an hourly grid, so that benchmarks can aim at real slots.
POINT_SERVICES = (
    ("Residence registration", 20),
    ("Driving licence exchange", 30),
    ("Document pick-up", 15),
    ("Consultation", 45),
    ("Vaccination", 15),
    ("Follow-up visit", 30),
    ("Viewing", 60),
    ("Contract signing", 60),
    ("Key collection", 20),
    ("Advice session", 45),
)
