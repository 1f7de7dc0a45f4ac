# Playcorder env-worker: runs environments (Atari via ale-py, Procgen, MuJoCo, robosuite, RoboDesk, NetHack,
# PettingZoo, Gymnasium), streams JPEG frames and records steps to JetStream; health and metrics on port 8010. MuJoCo
# (and robosuite, RoboDesk) render on the CPU through EGL (Mesa's llvmpipe, the same as `make run` on a Debian
# host); Procgen's libenv.so links libGL and GLib; NetHack's terminal is drawn with DejaVu Sans Mono.
# Build with the repository root as context: docker build -f deploy/docker/env-worker.Dockerfile -t playcorder-env-worker .
# Runs as UID 10001 on a read-only root: only /tmp must be writable (an emptyDir; HOME points there).

# --- the Python packages, built from shared/ and services/env-worker/ into a venv (pins: constraints.txt)
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY constraints.txt ./
COPY requirements-nodeps.txt ./
COPY shared/ shared/
COPY services/env-worker/ services/env-worker/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt "./shared[server,gym]" ./services/env-worker \
 && /opt/venv/bin/pip install --no-cache-dir --no-deps -c constraints.txt -r requirements-nodeps.txt

# --- the image: the venv, the GL runtime (libGL, EGL + Mesa's software renderer, GLib), tini as PID 1; no compiler,
# no test dependency
FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="playcorder-env-worker" \
      org.opencontainers.image.description="Playcorder env-worker: runs Atari, Procgen, MuJoCo, robosuite, RoboDesk, NetHack, PettingZoo and Gymnasium environments"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini libgl1 libegl1 libegl-mesa0 libgl1-mesa-dri \
      libglib2.0-0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 playcorder \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin playcorder
COPY --from=build /opt/venv /opt/venv
COPY deploy/docker/healthcheck.py /opt/playcorder/healthcheck.py
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MUJOCO_GL=egl \
    PYOPENGL_PLATFORM=egl \
    WORKER_HOST=0.0.0.0 \
    WORKER_PORT=8010
USER 10001:10001
EXPOSE 8010
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "/opt/playcorder/healthcheck.py", "WORKER_PORT"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["python", "-m", "playcorder_env_worker"]
