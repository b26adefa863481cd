# oms-bot: slim Python, a non-root user, installed from pyproject.toml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OMSBOT_PORT=3000 \
    OMSBOT_DATABASE_URL=sqlite:////data/oms-bot.db

RUN useradd --create-home --uid 10001 omsbot && mkdir /data && chown omsbot /data
WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
RUN pip install .

USER omsbot
VOLUME ["/data"]
EXPOSE 3000

# /healthz answers as soon as the process serves HTTP, in HTTP and Socket Mode alike.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('OMSBOT_PORT', '3000'), timeout=4)" || exit 1

CMD ["oms-bot", "run"]
