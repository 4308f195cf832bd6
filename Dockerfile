ARG BASE=python:3.12-slim
FROM ${BASE} AS build
# pixelagg container image: multi-stage, non-root, configured only through PIXELAGG_* variables.
#   docker build -t pixelagg .
#   docker run -p 8000:8000 -e PIXELAGG_ADMIN_TOKEN=... -e PIXELAGG_STORE_URL=redis://redis:6379/0 pixelagg
# BASE may be any Debian-like image with python3 (>= 3.11) and the venv module,
# e.g. the Debian bookworm base that scripts/container-test builds.

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The venv is built here and copied whole into the runtime stage; both stages use the
# same BASE, so its interpreter symlink (/usr/local/bin or /usr/bin python3) resolves there too.
RUN python3 -m venv /opt/pixelagg

WORKDIR /src
COPY pyproject.toml README.md ./
COPY pixelagg ./pixelagg
RUN /opt/pixelagg/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && wheel="$(ls /wheels/pixelagg-*.whl)" \
 && /opt/pixelagg/bin/pip install "${wheel}[fast,granian]" \
 && /opt/pixelagg/bin/pip uninstall -y pip setuptools \
 && /opt/pixelagg/bin/python -c "import pixelagg, uvloop, httptools, granian"


FROM ${BASE}

LABEL org.opencontainers.image.title="pixelagg" \
      org.opencontainers.image.description="Privacy-preserving, aggregate-only email open rates" \
      org.opencontainers.image.licenses="MIT"

ENV PATH=/opt/pixelagg/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIXELAGG_DATA_DIR=/data

RUN groupadd --gid 10001 pixelagg \
 && useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home \
            --shell /usr/sbin/nologin pixelagg \
 && mkdir -p /data \
 && chown 10001:10001 /data \
 && chmod 0700 /data

COPY --from=build /opt/pixelagg /opt/pixelagg

USER 10001:10001
WORKDIR /data
VOLUME /data
EXPOSE 8000

# No curl in slim images: probe with the venv's Python. Follows PIXELAGG_SERVER_PORT if set.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/opt/pixelagg/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PIXELAGG_SERVER_PORT', '8000'), timeout=4)"]

ENTRYPOINT ["pixelagg"]
CMD ["serve", "--host", "0.0.0.0"]
