# syntax=docker/dockerfile:1
# Production image: expects DATABASE_URL and SECRET_KEY (ENVIRONMENT=production refuses to start without them).
FROM python:3.12-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
COPY pyproject.toml uv.lock .python-version README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY app ./app
COPY migrations ./migrations
COPY alembic.ini ./
RUN uv sync --locked --no-dev

FROM python:3.12-slim
RUN useradd --create-home --uid 10001 queueless
WORKDIR /app
COPY --from=build --chown=queueless:queueless /app /app
ENV PATH="/app/.venv/bin:$PATH" ENVIRONMENT=production DATA_DIR=/app/.data PYTHONUNBUFFERED=1
USER queueless
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=2).status == 200 else 1)"
CMD ["queueless", "serve", "--host", "0.0.0.0", "--port", "8000"]
