# Playcorder gateway: the REST API, the play WebSockets and the web app (frontend/, built here) on port 8000.
# Build with the repository root as context: docker build -f deploy/docker/gateway.Dockerfile -t playcorder-gateway .
# Runs as UID 10001 on a read-only root: only /tmp must be writable (an emptyDir; HOME points there).
# The same image runs the migrations: `playcorder db upgrade` (DATABASE_URL from the environment).

# --- the web app: npm ci + npm run build into /src/frontend/dist (node and node_modules stay in this stage)
FROM node:20-bookworm-slim AS web
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

# --- the Python packages, built from shared/ and services/gateway/ into a venv (pins: constraints.txt)
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY constraints.txt ./
COPY shared/ shared/
COPY services/gateway/ services/gateway/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt "./shared[server]" ./services/gateway

# --- the image: the venv, the built web app, tini as PID 1; no compiler, no test dependency, no node
FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="playcorder-gateway" \
      org.opencontainers.image.description="Playcorder gateway: REST API, play WebSockets and the web app"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 playcorder \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin playcorder
COPY --from=build /opt/venv /opt/venv
COPY --from=web /src/frontend/dist /opt/playcorder/frontend
COPY deploy/docker/healthcheck.py /opt/playcorder/healthcheck.py
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    FRONTEND_DIR=/opt/playcorder/frontend \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8000
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "/opt/playcorder/healthcheck.py", "GATEWAY_PORT"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["python", "-m", "playcorder_gateway"]
