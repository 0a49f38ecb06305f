"""An S3 API for the suite (moto in server mode, in a thread), and an app that stores documents in it."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from app.core.api import create_app
from app.core.settings import Settings
from app.main import BACKGROUND, ROUTERS
from app.services.documents.dependencies import Stores
from tests.storage.servers import ACCESS_KEY_ID, SECRET_ACCESS_KEY, create_bucket, s3_server


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def s3_settings(settings: Settings, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The suite's settings with a bucket of the module's own and a DATA_DIR of its own."""
    return settings.model_copy(
        update={
            "data_dir": tmp_path_factory.mktemp("s3-app"),
            "storage_url": f"s3://{create_bucket(s3_endpoint)}/queueless/docs",
            "storage_s3_endpoint": s3_endpoint,
            "storage_s3_region": "eu-west-3",
            "storage_s3_access_key_id": ACCESS_KEY_ID,
            "storage_s3_secret_access_key": SECRET_ACCESS_KEY,
        }
    )


@pytest.fixture(scope="module")
async def s3_app(s3_settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(s3_settings, ROUTERS, BACKGROUND)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def s3_stores(s3_app: FastAPI) -> Stores:
    stores: Stores = s3_app.state.document_stores
    return stores


@pytest.fixture
async def s3_client(s3_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=s3_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as client:
        yield client
