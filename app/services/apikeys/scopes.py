"""The scopes an API key can hold. Each staff endpoint declares the one it needs
(`require_org_role(..., scope=Scope.appointments_read)`); `x:write` includes `x:read`.

A section that adds staff endpoints adds its scopes here.
"""

from enum import StrEnum


class Scope(StrEnum):
    appointments_read = "appointments:read"
    appointments_write = "appointments:write"
    documents_read = "documents:read"
    documents_write = "documents:write"
    catalog_write = "catalog:write"
    members_read = "members:read"
    insights_read = "insights:read"
    tickets_read = "tickets:read"
    tickets_write = "tickets:write"


def grants(held: frozenset[str], needed: str) -> bool:
    """Whether scopes `held` allow `needed` (`x:write` includes `x:read`)."""
    if needed in held:
        return True
    section, _, kind = needed.partition(":")
    return kind == "read" and f"{section}:write" in held
