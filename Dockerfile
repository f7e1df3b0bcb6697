# Production image: `docker build -t sensay-hub .` then `docker run -p 8000:8000 -v sensay-data:/data sensay-hub`.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
WORKDIR /src
# The build backend and the dependencies come from requirements.lock alone (exact versions, sha256 hashes: see
# .ci/lock), so this layer stays cached while only the source changes, and installing the package itself needs
# no download.
COPY pyproject.toml requirements.lock ./
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes -r requirements.lock
COPY server ./server
COPY protocol ./protocol
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation . \
    && /opt/venv/bin/pip check

FROM python:3.11-slim
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid app --no-log-init --create-home --home-dir /home/app --shell /usr/sbin/nologin app \
    && mkdir /data \
    && chown app:app /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/data \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /home/app
VOLUME ["/data"]
EXPOSE 8000
# The first start initialises the embedded PostgreSQL in /data, hence the long start period.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]
CMD ["sensay-hub", "serve"]
