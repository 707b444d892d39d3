# The image of the example operators: kopf-informers and Kopf in a virtual environment, the
# operators under /app/operators/, `kopf run` as the entrypoint. Build it from the repository:
#
#   docker build -t kopf-informers:0.1.0.dev0 .
#   docker run kopf-informers:0.1.0.dev0                                 # foo.py, all namespaces
#   docker run kopf-informers:0.1.0.dev0 --namespace=team-a /app/operators/foo.py
#   docker run kopf-informers:0.1.0.dev0 --all-namespaces /app/operators/cronjob.py
#
# The arguments (CMD) are `kopf run --standalone`'s: options, then the operator's file; the Helm
# charts in charts/ set them. Kopf's liveness endpoint is served on port 8080 by default here.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Build stage: a virtual environment with the package and its dependencies (wheels only).
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ONLY_BINARY=:all:
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY kopf_informers ./kopf_informers
# The project itself is built from source (setuptools, in pip's isolated build environment),
# with the `examples` extra the example operators import (croniter, for cronjob.py); every
# dependency must be a wheel: no compiler in this stage either.
RUN /opt/venv/bin/pip install --no-cache-dir --no-binary=kopf-informers ".[examples]" \
    && /opt/venv/bin/pip uninstall --yes pip

# Final stage: the same Python, the virtual environment, the operators; no pip, no build tools.
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 operator \
    && useradd --system --uid 10001 --gid operator --no-create-home --shell /usr/sbin/nologin operator
COPY --from=build /opt/venv /opt/venv
COPY operators /app/operators
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app
# Numeric, so that the kubelet can check runAsNonRoot.
USER 10001:10001
EXPOSE 8080 9090
ENTRYPOINT ["kopf", "run", "--standalone"]
CMD ["--liveness=http://0.0.0.0:8080/healthz", "--all-namespaces", "/app/operators/foo.py"]
