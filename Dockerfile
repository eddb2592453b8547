# Engagement worker / simulator image (docker-compose.yml, deploy/k8s/).
# The wheel, built in a stage of its own: it carries the schemas (streams/schemas links to schemas/).
FROM python:3.11-slim AS wheel
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY schemas ./schemas
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Dependencies first (the pinned list in pyproject.toml), so code edits do not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
        > requirements.txt \
    && pip install -r requirements.txt
# Then the service itself: a normal install of the wheel, no source tree in the image.
COPY --from=wheel /wheels /wheels
RUN pip install --no-deps /wheels/*.whl \
    && useradd --system --uid 10001 --home-dir /app engagement

USER engagement
ENV ENGAGEMENT_WEB_HOST=0.0.0.0 \
    ENGAGEMENT_WEB_PORT=6066
EXPOSE 6066
CMD ["engagement", "worker"]
