# One image for the five services; docker-compose.yml picks the service with
# `command: ["fsm", "serve", "<service>"]`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 fsm \
    && useradd --system --uid 10001 --gid fsm --home-dir /app --shell /usr/sbin/nologin fsm

WORKDIR /app

# The CJK font embedded in the Chinese service reports (PDF).
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml policy.yaml ./
COPY fsm ./fsm
COPY contracts ./contracts
COPY servicekit ./servicekit
COPY services ./services
# Migrations ship inside each service package; policy.yaml in /app is the default policy file.
# The evidence folder exists in the image so the compose volume mounted there starts owned by fsm.
RUN pip install --no-cache-dir . \
    && mkdir -p /app/var/fieldwork/evidence \
    && chown -R fsm:fsm /app/var

USER fsm

EXPOSE 8001-8005

CMD ["fsm", "--help"]
