# Engagement worker / simulator image (docker-compose.yml, deploy/k8s/).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Dependencies first, so code edits do not reinstall them.
COPY pyproject.toml README.md* ./
COPY streams ./streams
COPY schemas ./schemas
# Editable: the code finds the JSON schemas next to the package (streams/../schemas),
# which a plain `pip install .` into site-packages would leave behind.
RUN pip install -e . \
    && useradd --system --uid 10001 --home-dir /app engagement

USER engagement
ENV ENGAGEMENT_WEB_HOST=0.0.0.0 \
    ENGAGEMENT_WEB_PORT=6066
EXPOSE 6066
CMD ["engagement", "worker"]
