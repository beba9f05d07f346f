FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker ./worker
COPY sandbox ./sandbox
COPY mappings ./mappings
# flower: the optional dashboard service in docker-compose.yml
RUN pip install --no-cache-dir . "flower>=2,<3"
ENV CRMSYNC_MAP=/app/mappings/default.yaml
# never run as root inside the container
RUN useradd --create-home --uid 10001 crmsync && mkdir -p /certs && chown crmsync /certs
USER crmsync
ENTRYPOINT ["crmsync"]
