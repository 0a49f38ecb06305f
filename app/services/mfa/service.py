"""TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, one step either side) and recovery codes.

The algorithm is pyotp's; what is ours is the bookkeeping in PostgreSQL. A TOTP code is accepted
by a conditional UPDATE that moves `user_totp.last_step` forward, so of two logins racing with one
code exactly one moves it; a recovery code is spent by an UPDATE that sets `used_at` only while it
is NULL. Secrets are sealed with SECRET_KEY, so a database backup alone does not hold them.
"""

import base64
import hashlib
import hmac
import re
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import pyotp
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.audit import service as audit_service
from app.services.mfa.errors import MfaAlreadyEnabled, MfaNotEnabled, MfaNotEnrolled
from app.services.mfa.models import RecoveryCode, UserTotp
from app.services.users.models import User

ISSUER = "Queueless"
STEP_SECONDS = 30
PENDING_FOR = timedelta(minutes=15)
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no l, o, 0, 1
_TOTP_CODE = re.compile(r"^\d{6}$")
_SEALED = re.compile(r"^v1:([A-Za-z0-9_-]+=*)$")


def now() -> float:
    """The time TOTP steps are counted from; tests replace it to stand at a step's edge."""
    return time.time()


class CodeKind(StrEnum):
    totp = "totp"
    recovery = "recovery"


# --- sealing ------------------------------------------------------------------------------------


def _pad(secret_key: str, user_id: uuid.UUID, nonce: bytes) -> bytes:
    key = hashlib.sha256(b"queueless-totp-seal:" + secret_key.encode()).digest()
    return hmac.new(key, user_id.bytes + nonce, hashlib.sha256).digest()


def seal(secret: str, *, secret_key: str, user_id: uuid.UUID) -> str:
    """The base32 secret XOR a keystream drawn from SECRET_KEY, the user and a fresh nonce."""
    raw = base64.b32decode(secret)
    nonce = secrets.token_bytes(16)
    sealed = bytes(a ^ b for a, b in zip(raw, _pad(secret_key, user_id, nonce), strict=False))
    return "v1:" + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(value: str, *, secret_key: str, user_id: uuid.UUID) -> str:
    match = _SEALED.match(value)
    if match is None:
        raise ValueError("not a sealed TOTP secret")
    data = base64.urlsafe_b64decode(match[1])
    nonce, sealed = data[:16], data[16:]
    raw = bytes(a ^ b for a, b in zip(sealed, _pad(secret_key, user_id, nonce), strict=False))
    return base64.b32encode(raw).decode()


# --- enrolment ----------------------------------------------------------------------------------


def provisioning_uri(secret: str, *, email: str) -> str:
    """`otpauth://totp/Queueless:<email>?secret=...&issuer=Queueless`."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


async def enrol(session: AsyncSession, *, user: User, secret_key: str) -> str:
    """A new secret (160 bits, base32), pending for 15 minutes; a new call replaces it."""
    if user.mfa_enabled:
        raise MfaAlreadyEnabled()
    secret = pyotp.random_base32(32)
    sealed = seal(secret, secret_key=secret_key, user_id=user.id)
    expires = datetime.now(UTC) + PENDING_FOR
    await session.execute(
        pg_insert(UserTotp)
        .values(user_id=user.id, pending_secret=sealed, pending_expires_at=expires)
        .on_conflict_do_update(
            index_elements=[UserTotp.user_id], set_={"pending_secret": sealed, "pending_expires_at": expires}
        )
    )
    return secret


def _matching_step(secret: str, code: str) -> int | None:
    """The latest step among the previous, current and next whose code is `code`."""
    totp = pyotp.TOTP(secret)
    current = int(now() // STEP_SECONDS)
    found = None
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


async def confirm(session: AsyncSession, *, user: User, code: str, secret_key: str) -> list[str] | None:
    """Turn MFA on with a code of the pending secret; its recovery codes, or None for a wrong code."""
    if user.mfa_enabled:
        raise MfaAlreadyEnabled()
    row = await session.scalar(
        select(UserTotp).where(UserTotp.user_id == user.id, UserTotp.pending_expires_at > func.now()).with_for_update()
    )
    if row is None or row.pending_secret is None:
        raise MfaNotEnrolled()
    secret = unseal(row.pending_secret, secret_key=secret_key, user_id=user.id)
    step = _matching_step(secret, code.strip()) if _TOTP_CODE.match(code.strip()) else None
    if step is None:
        return None
    row.secret, row.last_step = row.pending_secret, step
    row.pending_secret = row.pending_expires_at = None
    user.mfa_enabled_at = datetime.now(UTC)
    await session.flush()
    codes = await _new_recovery_codes(session, user=user)
    await audit_service.record_about_user(session, action="mfa.enabled", user_id=user.id)
    return codes


# --- checking codes -----------------------------------------------------------------------------


async def check_code(session: AsyncSession, *, user: User, code: str, secret_key: str) -> CodeKind | None:
    """Accept `code` (a TOTP code or an unused recovery code) once: it is spent here. None when it
    is wrong, too old, or already used."""
    text = code.strip()
    if _TOTP_CODE.match(text):
        return CodeKind.totp if await _accept_totp(session, user=user, code=text, secret_key=secret_key) else None
    if await _spend_recovery_code(session, user=user, code=text):
        await audit_service.record_about_user(session, action="mfa.recovery_code_used", user_id=user.id)
        return CodeKind.recovery
    return None


async def _accept_totp(session: AsyncSession, *, user: User, code: str, secret_key: str) -> bool:
    sealed = await session.scalar(select(UserTotp.secret).where(UserTotp.user_id == user.id))
    if sealed is None:
        return False
    step = _matching_step(unseal(sealed, secret_key=secret_key, user_id=user.id), code)
    if step is None:
        return False
    moved = await session.scalar(
        update(UserTotp)
        .where(UserTotp.user_id == user.id, or_(UserTotp.last_step.is_(None), UserTotp.last_step < step))
        .values(last_step=step)
        .returning(UserTotp.user_id)
    )
    return moved is not None


def _normalise_recovery_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code).lower()


def _recovery_digest(code: str) -> bytes:
    return hashlib.sha256(_normalise_recovery_code(code).encode()).digest()


async def _spend_recovery_code(session: AsyncSession, *, user: User, code: str) -> bool:
    if len(_normalise_recovery_code(code)) != 10:
        return False
    spent = await session.scalar(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_digest == _recovery_digest(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=func.now())
        .returning(RecoveryCode.id)
    )
    return spent is not None


async def _new_recovery_codes(session: AsyncSession, *, user: User) -> list[str]:
    """Ten new codes `xxxxx-xxxxx`; the old ones die."""
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        text = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{text[:5]}-{text[5:]}")
    await session.execute(
        insert(RecoveryCode),
        [{"id": uuid.uuid4(), "user_id": user.id, "code_digest": _recovery_digest(code)} for code in codes],
    )
    return codes


# --- after enrolment ----------------------------------------------------------------------------


async def status(session: AsyncSession, *, user: User) -> tuple[bool, datetime | None, int]:
    left = await session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    return user.mfa_enabled, user.mfa_enabled_at, int(left or 0) if user.mfa_enabled else 0


def require_enabled(user: User) -> None:
    if not user.mfa_enabled:
        raise MfaNotEnabled()


async def regenerate_recovery_codes(session: AsyncSession, *, user: User) -> list[str]:
    """New codes for a user whose password and code were checked."""
    require_enabled(user)
    codes = await _new_recovery_codes(session, user=user)
    await audit_service.record_about_user(session, action="mfa.recovery_codes_regenerated", user_id=user.id)
    return codes


async def remove(session: AsyncSession, *, user: User, actor: audit_service.Actor, action: str) -> None:
    """Turn MFA off (`mfa.disabled` by the user, `mfa.reset` by an administrator)."""
    require_enabled(user)
    await session.execute(delete(UserTotp).where(UserTotp.user_id == user.id))
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    user.mfa_enabled_at = None
    await session.flush()
    await audit_service.record_about_user(session, action=action, user_id=user.id, actor=actor)
