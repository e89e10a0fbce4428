# One image for every Mass Payout process (api, workers, ingestor, projections, supervisor);
# compose.yaml picks the command. Engines come from DATABASE_URL / REDIS_URL / RPC_URL.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/app/.venv PATH=/app/.venv/bin:$PATH
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY domain domain
COPY projections projections
COPY api api
COPY chain chain
COPY app app
COPY runtime runtime
COPY devtools devtools
COPY mass_payout mass_payout
COPY bench bench
RUN uv sync --frozen --no-dev
USER nobody
ENTRYPOINT ["mass-payout"]
