FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker ./worker
COPY sandbox ./sandbox
COPY mappings ./mappings
RUN pip install --no-cache-dir .
ENV CRMSYNC_MAP=/app/mappings/default.yaml
ENTRYPOINT ["crmsync"]
