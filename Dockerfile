FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY worker ./worker
COPY sandbox ./sandbox
COPY mappings ./mappings
# constraints.txt pins every package (and the build tools) to what CI tested; the shipped maps are
# package data, so crmsync finds them from any directory.
RUN PIP_CONSTRAINT=/app/constraints.txt pip install --no-cache-dir '.[web,sandbox]'
ENTRYPOINT ["crmsync"]
