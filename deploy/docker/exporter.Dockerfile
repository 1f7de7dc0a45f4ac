# Playcorder exporter: builds datasets (RLDS, envlogger, Minari, LeRobot, d3rlpy) from stored episodes into S3; health and
# metrics on port 8030. Exports are built in EXPORT_WORKDIR=/tmp: size the /tmp emptyDir for the largest export
# being built (or mount a bigger volume and point EXPORT_WORKDIR at it).
# Build with the repository root as context: docker build -f deploy/docker/exporter.Dockerfile -t playcorder-exporter .
# Runs as UID 10001 on a read-only root: only /tmp must be writable (an emptyDir; HOME points there).

# --- the Python packages, built from shared/ and services/exporter/ into a venv (pins: constraints.txt)
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY constraints.txt ./
COPY shared/ shared/
COPY services/exporter/ services/exporter/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt "./shared[server,gym,processing]" ./services/exporter

# --- the image: the venv, GMP's C++ library (envlogger's Riegeli reader and writer link libgmpxx), tini as PID 1;
# no compiler, no test dependency
FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="playcorder-exporter" \
      org.opencontainers.image.description="Playcorder exporter: builds RLDS, envlogger, Minari, LeRobot and d3rlpy datasets into S3"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini libgmpxx4ldbl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 playcorder \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin playcorder
COPY --from=build /opt/venv /opt/venv
COPY deploy/docker/healthcheck.py /opt/playcorder/healthcheck.py
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    EXPORT_WORKDIR=/tmp \
    EXPORTER_HOST=0.0.0.0 \
    EXPORTER_PORT=8030
USER 10001:10001
EXPOSE 8030
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "/opt/playcorder/healthcheck.py", "EXPORTER_PORT"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["python", "-m", "playcorder_exporter"]
