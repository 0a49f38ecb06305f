"""Password hashing and token signing.

Passwords: bcrypt reads only the first 72 bytes of its input, so a long passphrase would be
silently truncated. We pre-hash every password with SHA-256 (base64, 44 bytes) before bcrypt, as
Dropbox and passlib's `bcrypt_sha256` do: every character counts and any length up to the schema's
bound (256 characters) works. Hashing runs in a worker thread, never on the event loop.

Access tokens are JWTs (HS256 only) carrying `sub`, `sid` (the login session), `typ`, `iat`, `exp`,
`iss` and `aud`; every claim is required on decode because pyjwt verifies a claim only if present.
Refresh tokens are opaque random strings; only their SHA-256 is stored.
"""

import base64
import hashlib
import os
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import anyio
import anyio.to_thread
import bcrypt
import jwt

ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "sid", "typ"]

# A real hash of a random password, verified against when the e-mail is unknown so that a login
# takes as long for a missing account as for a wrong password.
_DUMMY_PASSWORD = secrets.token_urlsafe(16)


def _prehash(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def hash_password_sync(password: str, rounds: int) -> str:
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode("ascii")


def verify_password_sync(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(_prehash(password), password_hash.encode("ascii"))
    except ValueError:
        return False


_hash_limiter: anyio.CapacityLimiter | None = None


def _limiter() -> anyio.CapacityLimiter:
    """bcrypt is pure CPU: more parallel hashes than cores only starve the event loop's thread.

    One core is left to the loop, so requests that don't hash keep answering while logins queue.
    """
    global _hash_limiter
    if _hash_limiter is None:
        _hash_limiter = anyio.CapacityLimiter(max(1, (os.cpu_count() or 2) - 1))
    return _hash_limiter


async def _off_loop[T](function: Callable[..., T], *args: object) -> T:
    return await anyio.to_thread.run_sync(function, *args, limiter=_limiter())


async def hash_password(password: str, *, rounds: int) -> str:
    return await _off_loop(hash_password_sync, password, rounds)


async def verify_password(password: str, password_hash: str | None, *, rounds: int) -> bool:
    """Check `password`; with no hash (unknown account) spend the same time and answer False."""
    if password_hash is None:
        await _off_loop(hash_password_sync, _DUMMY_PASSWORD, rounds)
        return False
    return await _off_loop(verify_password_sync, password, password_hash)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID


class InvalidToken(Exception):
    pass


# Verified access tokens remembered per process (a dict lookup instead of an HMAC and two JSON
# decodes per request); a token is re-verified once its `exp` has passed, which then fails.
VERIFIED_TOKENS_KEPT = 4096


@dataclass(frozen=True, slots=True)
class TokenSigner:
    secret_key: str
    issuer: str
    audience: str
    access_ttl: timedelta
    _verified: dict[str, tuple[AccessClaims, float]] = field(default_factory=dict, compare=False, repr=False)

    def issue_access(self, *, user_id: uuid.UUID, session_id: uuid.UUID) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "sid": str(session_id),
            "typ": ACCESS_TOKEN_TYPE,
            "iat": now,
            "exp": now + self.access_ttl,
            "iss": self.issuer,
            "aud": self.audience,
        }
        return jwt.encode(claims, self.secret_key, algorithm=ALGORITHM)

    def verify_access(self, token: str) -> AccessClaims:
        remembered = self._verified.get(token)
        if remembered is not None and time.time() < remembered[1]:
            return remembered[0]
        try:
            claims = jwt.decode(
                token,
                self.secret_key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS},
            )
            if claims["typ"] != ACCESS_TOKEN_TYPE:
                raise InvalidToken("wrong token type")
            # pyjwt accepts a list `aud` that merely contains ours; a token for several audiences
            # is not one of ours.
            if claims["aud"] != self.audience:
                raise InvalidToken("wrong audience")
            verified = AccessClaims(user_id=uuid.UUID(claims["sub"]), session_id=uuid.UUID(claims["sid"]))
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken(str(exc)) from exc
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            self._verified.clear()
        self._verified[token] = (verified, float(claims["exp"]))
        return verified


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()
