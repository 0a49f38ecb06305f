"""The signed token an appointment's QR code carries.

`QL<kid>.<BASE32(appointment uuid 16 bytes + HMAC-SHA256 truncated to 12 bytes)>`, 49 characters,
e.g. `QL1.5PZQ...`. It names the appointment and nothing else (no name, no time, no service), and
only the server can make one: the MAC covers the key id and the appointment id. Upper-case base32
keeps every character in QR's alphanumeric set, so the code stays small (version 4) at error
correction Q or better, which is what survives a phone photo.

Keys: the MAC key for key id `kid` is HMAC-SHA256(secret, "queueless/qr-code/" + kid), where the
secret is the server's `SECRET_KEY`. New codes use `QR_KEY_ID` with the current secret; to rotate
the secret without invalidating codes already handed out, keep the old one in `QR_RETIRED_KEYS`
(`{"1": "<old secret>"}`) and set a new `QR_KEY_ID`.
"""

import base64
import binascii
import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from app.services.qr.errors import InvalidCodeSignature

PREFIX = "QL"
MAC_BYTES = 12
TOKEN_LENGTH = len(PREFIX) + 2 + 45  # "QL" + kid + "." + base32 of 28 bytes without padding


def _derive(secret: str, kid: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), f"queueless/qr-code/{kid}".encode(), hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Keyring:
    current_kid: str
    keys: Mapping[str, bytes]

    @classmethod
    def build(cls, *, secret: str, kid: str, retired: Mapping[str, str]) -> "Keyring":
        keys = {old_kid: _derive(old_secret, old_kid) for old_kid, old_secret in retired.items()}
        keys[kid] = _derive(secret, kid)
        return cls(current_kid=kid, keys=keys)

    def _mac(self, kid: str, appointment_id: uuid.UUID) -> bytes:
        return hmac.new(self.keys[kid], kid.encode() + appointment_id.bytes, hashlib.sha256).digest()[:MAC_BYTES]

    def sign(self, appointment_id: uuid.UUID) -> str:
        kid = self.current_kid
        body = base64.b32encode(appointment_id.bytes + self._mac(kid, appointment_id)).decode().rstrip("=")
        return f"{PREFIX}{kid}.{body}"

    def verify(self, token: str) -> uuid.UUID:
        """The appointment id a genuine token names; InvalidCodeSignature for anything else."""
        text = token.strip().upper()
        if len(text) != TOKEN_LENGTH or not text.startswith(PREFIX) or text[3] != ".":
            raise InvalidCodeSignature("not a Queueless code")
        kid = text[2]
        if kid not in self.keys:
            raise InvalidCodeSignature("unknown key id")
        try:
            raw = base64.b32decode(text[4:] + "===")
        except (binascii.Error, ValueError) as exc:
            raise InvalidCodeSignature("malformed code") from exc
        if len(raw) != 16 + MAC_BYTES or base64.b32encode(raw).decode().rstrip("=") != text[4:]:
            raise InvalidCodeSignature("malformed code")  # the second test refuses non-canonical trailing bits
        appointment_id = uuid.UUID(bytes=raw[:16])
        if not hmac.compare_digest(raw[16:], self._mac(kid, appointment_id)):
            raise InvalidCodeSignature("bad signature")
        return appointment_id
