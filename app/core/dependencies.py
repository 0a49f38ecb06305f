"""Request dependencies that know no feature: settings, the token signer and page parameters.

The signed-in user and the role gates live with the features that own them:
`app/services/auth/dependencies.py` and `app/services/organizations/dependencies.py`.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from app.core.security import TokenSigner
from app.core.settings import Settings


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_signer(request: Request) -> TokenSigner:
    signer: TokenSigner = request.app.state.signer
    return signer


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SignerDep = Annotated[TokenSigner, Depends(get_signer)]


@dataclass(frozen=True, slots=True)
class PageParams:
    page: int
    size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


async def get_page_params(
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> PageParams:
    return PageParams(page=page, size=size)


PageDep = Annotated[PageParams, Depends(get_page_params)]
