# syntax=docker/dockerfile:1
# Build: install the locked runtime dependencies and build the postcode gazetteer (needs the PyPI registry).
FROM python:3.11-slim AS build
WORKDIR /app
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
COPY requirements-bootstrap.txt requirements.lock pyproject.toml README.md ./
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --quiet --require-hashes -r requirements-bootstrap.txt \
 && /opt/venv/bin/uv pip sync --quiet --require-hashes --python /opt/venv/bin/python requirements.lock
COPY service_finder ./service_finder
COPY data ./data
RUN /opt/venv/bin/uv pip install --quiet --no-deps --no-build-isolation --python /opt/venv/bin/python . \
 && /opt/venv/bin/service-finder gazetteer build --output data/gazetteer/england.npz \
 && rm -rf var/cache

# Run: no compilers, no build cache, a non-root user; the same entry point as `make run`.
FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app finder
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=finder /app/data /app/data
WORKDIR /app
RUN mkdir -p /app/var && chown finder /app/var
USER finder
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SERVICE_FINDER_DATABASE_URL=sqlite:////app/var/service-finder.sqlite3 \
    SERVICE_FINDER_GAZETTEER_PATH=/app/data/gazetteer/england.npz
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["service-finder", "serve", "--host", "0.0.0.0", "--port", "8000"]
