# CPU-only image of the playground.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/playground

# The CPU build of the pinned torch first, from PyTorch's CPU wheel index; the pin in
# pyproject.toml (torch==2.13.0) is then already satisfied, so no CUDA build is pulled.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install .

COPY static ./static
COPY templates ./templates
COPY models ./models

RUN useradd --create-home --uid 10001 playground
USER playground
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health', timeout=2)"
CMD ["uvicorn", "app.main:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
