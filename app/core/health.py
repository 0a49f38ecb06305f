from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def live() -> dict[str, str]:
    """The process is running."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "Database unreachable or migrations not at head"}})
async def ready(request: Request) -> JSONResponse:
    """The database answers and its schema is at the latest migration."""
    heads: set[str] = request.app.state.migration_heads
    try:
        async with request.app.state.engine.connect() as conn:
            current = set((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())
    except Exception:  # any failure to reach the database means "not ready", never a 500
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    if current != heads:
        return JSONResponse({"status": "unavailable", "database": "migrations pending"}, status_code=503)
    return JSONResponse({"status": "ok"})
