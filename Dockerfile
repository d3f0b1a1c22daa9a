# Buurtmunt's container image: the API and pages, served by `buurtmunt serve` on port 8000.
#
#   docker build -t buurtmunt .          # or, with no registry: --network host --build-arg BASE=…
#   docker run --rm -e BUURTMUNT_DATABASE_URL=… -v …/signing.key:/run/secrets/signing_key:ro \
#       buurtmunt buurtmunt db upgrade   # migrations are a step of their own; then the same
#                                        # without a command serves
#
# BASE is any Debian-like image with Python 3.11 at python3 and its venv module. The build
# stage installs the dependencies (a layer that changes only with them), then builds the
# wheel; the runtime stage installs that wheel next to the dependencies and runs as uid 10001.
# compose.yaml and docs/operations.md ("Deploy with compose") show a whole deployment.
ARG BASE=python:3.11-slim-bookworm

# The runtime requirements, taken from pyproject.toml: editing the test extra, ruff's or
# pytest's settings leaves the dependency layer below cached.
FROM ${BASE} AS requirements
COPY pyproject.toml /src/
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('/src/pyproject.toml', 'rb'))['project']['dependencies']))" > /src/requirements.txt

FROM ${BASE} AS build
COPY --from=requirements /src/requirements.txt /src/
RUN python3 -m venv /opt/buurtmunt \
    && /opt/buurtmunt/bin/pip install --no-cache-dir --disable-pip-version-check -r /src/requirements.txt \
    && python3 -m venv /opt/build \
    && /opt/build/bin/pip install --no-cache-dir --disable-pip-version-check "setuptools>=68" "wheel>=0.43"
# The source after the dependencies; .dockerignore lets in only pyproject.toml, README.md
# and the three packages.
COPY . /src/
RUN /opt/build/bin/pip wheel --no-cache-dir --disable-pip-version-check --no-deps \
    --no-build-isolation --wheel-dir /dist /src

# Settings that never change first, so that they stay cached whatever the source does (each
# instruction costs a copy of the image on storage drivers like vfs).
FROM ${BASE} AS runtime
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/buurtmunt/bin:$PATH \
    BUURTMUNT_LISTEN_HOST=0.0.0.0 \
    BUURTMUNT_LISTEN_PORT=8000 \
    BUURTMUNT_SIGNING_KEY_FILE=/run/secrets/signing_key
# The default SQLite database (var/buurtmunt.db) lands here; with PostgreSQL nothing is written.
WORKDIR /var/lib/buurtmunt
EXPOSE 8000
# No curl in slim images: Python asks /health on the port the server listens on.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('BUURTMUNT_LISTEN_PORT', '8000'), timeout=4)"]
CMD ["buurtmunt", "serve"]
COPY --from=build /opt/buurtmunt /opt/buurtmunt
COPY --from=build /dist /dist
RUN groupadd --gid 10001 buurtmunt \
    && useradd --no-log-init --uid 10001 --gid buurtmunt --home-dir /var/lib/buurtmunt \
        --no-create-home --shell /usr/sbin/nologin buurtmunt \
    && chown buurtmunt:buurtmunt /var/lib/buurtmunt \
    && pip install --no-cache-dir --no-deps --no-index /dist/*.whl \
    && rm -rf /dist
USER 10001:10001
