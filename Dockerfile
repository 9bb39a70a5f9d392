# motion-grpc server image: a wheel built in one stage, installed into a slim non-root runtime in the next.
#
#   docker build -t motion-grpc .
#   docker run -p 50051:50051 -e MOTION_REDIS_URL=redis://redis:6379/0 motion-grpc
#
# The default command serves examples/counter.py as /app/app.py; serve your own
# app by copying it over /app/app.py in an image built FROM this one, or by
# mounting it and naming it: `docker run ... motion-grpc /apps/mine.py --host 0.0.0.0 ...`.
# Without MOTION_REDIS_URL the server keeps its state in an embedded Redis under
# /var/lib/motion/.motion (mount a volume there to keep it).
#
# It listens on all interfaces with `--insecure`: plaintext, no authentication,
# for a mesh whose sidecars do mTLS. Anywhere else, give TLS and API keys instead
# (see `motion-grpc serve --help`) and point the health check at them with
# MOTION_CLI_TLS=1 / MOTION_CLI_CA_CERT=/path/ca.pem (and, with --tls-client-ca,
# MOTION_CLI_CERT / MOTION_CLI_KEY: a client certificate for the check).
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY motion_grpc ./motion_grpc
RUN python3 -m venv /opt/build \
    && /opt/build/bin/pip install --no-cache-dir "build>=1.2,<2" \
    && /opt/build/bin/python -m build --wheel --outdir /dist .

FROM ${PYTHON_IMAGE}
RUN useradd --no-log-init --uid 10001 --user-group --home-dir /var/lib/motion --create-home motion
COPY --from=build /dist/ /tmp/dist/
RUN python3 -m venv /opt/motion \
    && /opt/motion/bin/pip install --no-cache-dir /tmp/dist/*.whl \
    && rm -rf /tmp/dist
COPY examples/counter.py /app/app.py
ENV PATH=/opt/motion/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MOTION_TARGET=127.0.0.1:50051
USER 10001:10001
WORKDIR /var/lib/motion
EXPOSE 50051
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["motion-grpc", "health", "--timeout", "3"]
ENTRYPOINT ["motion-grpc", "serve"]
CMD ["/app/app.py", "--host", "0.0.0.0", "--port", "50051", "--insecure"]
