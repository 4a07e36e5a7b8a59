# syntax=docker/dockerfile:1
# One image for the whole platform; the Helm chart picks the process with `command`:
#   python -m missiva_<service> serve | migrate | retention      python -m missiva_gateway
# Nothing secret is baked in: URLs come from the environment, keys from files mounted at run
# time (/var/run/secrets/missiva/). Build from the repository root: docker build -t missiva .

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir --disable-pip-version-check --root-user-action=ignore \
        "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Third-party dependencies first: this layer is rebuilt only when uv.lock changes. With
# --frozen uv installs from the lock without needing the members' pyproject.toml files.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --all-packages --no-dev --no-install-workspace
# Then the workspace packages (libs/*, services/*), installed in place with their SQL
# migrations beside them.
COPY pyproject.toml uv.lock ./
COPY libs ./libs
COPY services ./services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --all-packages --no-dev \
 && /app/.venv/bin/python -m compileall -q libs services

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 missiva \
 && useradd --system --uid 10001 --gid missiva --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin missiva
WORKDIR /app
# Owned by root and read-only to the service user: the code cannot rewrite itself.
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8080 9090 50051
CMD ["python", "-m", "missiva_gateway"]
