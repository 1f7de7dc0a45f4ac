# Playcorder recorder: the JetStream consumer that stores recorded chunks in S3 and episodes in PostgreSQL; health
# and metrics on port 8020.
# Build with the repository root as context: docker build -f deploy/docker/recorder.Dockerfile -t playcorder-recorder .
# Runs as UID 10001 on a read-only root: only /tmp must be writable (an emptyDir; HOME points there).

# --- the Python packages, built from shared/ and services/recorder/ into a venv (pins: constraints.txt)
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY constraints.txt ./
COPY shared/ shared/
COPY services/recorder/ services/recorder/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt "./shared[server]" ./services/recorder

# --- the image: the venv, tini as PID 1; no compiler, no test dependency
FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="playcorder-recorder" \
      org.opencontainers.image.description="Playcorder recorder: JetStream consumer storing episodes in S3 and PostgreSQL"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 playcorder \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin playcorder
COPY --from=build /opt/venv /opt/venv
COPY deploy/docker/healthcheck.py /opt/playcorder/healthcheck.py
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    RECORDER_HOST=0.0.0.0 \
    RECORDER_PORT=8020
USER 10001:10001
EXPOSE 8020
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "/opt/playcorder/healthcheck.py", "RECORDER_PORT"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["python", "-m", "playcorder_recorder"]
