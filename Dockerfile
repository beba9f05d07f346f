FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY worker ./worker
COPY sandbox ./sandbox
COPY mappings ./mappings
# constraints.txt pins every package (and the build tools) to what CI tested; the shipped maps are
# package data, so crmsync finds them from any directory. flower: the optional dashboard service in
# docker-compose.yml.
RUN PIP_CONSTRAINT=/app/constraints.txt pip install --no-cache-dir '.[web,sandbox]' "flower>=2,<3"
# never run as root inside the container
RUN useradd --create-home --uid 10001 crmsync && mkdir -p /certs && chown crmsync /certs
USER crmsync
ENTRYPOINT ["crmsync"]
