import base64
import uuid

import pytest

from app.services.qr.errors import InvalidCodeSignature
from app.services.qr.tokens import Keyring

SECRET = "s" * 48


def ring(kid: str = "1", secret: str = SECRET, retired: dict[str, str] | None = None) -> Keyring:
    return Keyring.build(secret=secret, kid=kid, retired=retired or {})


def test_token_round_trips_and_is_compact_without_personal_data() -> None:
    appointment_id = uuid.uuid4()
    token = ring().sign(appointment_id)
    assert token.startswith("QL1.")
    assert len(token) == 49
    # Only QR alphanumeric-mode characters: the code stays small.
    assert set(token) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    assert ring().verify(token) == appointment_id
    assert ring().verify(f"  {token.lower()}\n") == appointment_id  # scanners may change case or add a newline
    # The payload is the appointment id and the MAC, nothing else.
    raw = base64.b32decode(token[4:] + "===")
    assert raw[:16] == appointment_id.bytes
    assert len(raw) == 28


def test_every_altered_character_is_refused() -> None:
    token = ring().sign(uuid.uuid4())
    for position in range(len(token)):
        for replacement in "A7Z2.":
            altered = token[:position] + replacement + token[position + 1 :]
            if altered.upper() == token:
                continue
            with pytest.raises(InvalidCodeSignature):
                ring().verify(altered)


def test_forged_tokens_are_refused() -> None:
    appointment_id = uuid.uuid4()
    forged_with_other_secret = ring(secret="x" * 48).sign(appointment_id)
    with pytest.raises(InvalidCodeSignature):
        ring().verify(forged_with_other_secret)
    # Another appointment's id with this token's MAC.
    token = ring().sign(appointment_id)
    raw = base64.b32decode(token[4:] + "===")
    spliced = "QL1." + base64.b32encode(uuid.uuid4().bytes + raw[16:]).decode().rstrip("=")
    with pytest.raises(InvalidCodeSignature):
        ring().verify(spliced)
    for garbage in ("", "QL1.", "hello", "QL9." + token[4:], token + "A", "https://example.org"):
        with pytest.raises(InvalidCodeSignature):
            ring().verify(garbage)


def test_rotation_keeps_retired_keys_valid_and_unknown_ones_not() -> None:
    appointment_id = uuid.uuid4()
    old_token = ring("1", SECRET).sign(appointment_id)
    rotated = ring("2", "n" * 48, retired={"1": SECRET})
    new_token = rotated.sign(appointment_id)
    assert new_token.startswith("QL2.")
    assert rotated.verify(old_token) == appointment_id
    assert rotated.verify(new_token) == appointment_id
    with pytest.raises(InvalidCodeSignature):
        ring("2", "n" * 48).verify(old_token)  # the old key was dropped
