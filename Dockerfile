# CPU-only image of the playground.
#   docker build -t playground . && docker run -p 8000:8000 playground
# Limits and paths can be overridden with PLAYGROUND_<NAME> (see app/settings.py), e.g.
#   docker run -e PLAYGROUND_TORCH_THREADS=2 ...  (match the container's CPU quota: by default
#   PyTorch starts one thread per host core it can see, which oversubscribes a limited container)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /srv/playground

# 1. The CPU build of the pinned torch, from PyTorch's CPU wheel index (~200 MB, no CUDA). It
#    installs as 2.13.0+cpu, which satisfies the pin torch==2.13.0 in constraints.txt (keep the
#    two equal), so the next step keeps it instead of pulling the multi-GB CUDA build from PyPI.
#    Without its dependencies: the next step installs them at their pinned versions.
RUN pip install --no-deps --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# 2. The other dependencies, at the exact versions of constraints.txt, from pyproject.toml only
#    (an empty stand-in package), so that this layer stays cached while the code changes. The
#    runtime and the cluster extra (compose.cluster.yaml runs Ray workers from this image).
COPY pyproject.toml README.md constraints.txt ./
RUN mkdir app && touch app/__init__.py \
    && pip install -c constraints.txt '.[cluster]' \
    && rm -rf app build ./*.egg-info

# 3. The code. `pip install --no-deps .` replaces the stand-in; the app is run from this
#    directory, where static/, templates/ and models/ sit beside app/ (the paths are also set
#    explicitly below, so they do not depend on which copy of `app` gets imported).
COPY app ./app
RUN pip install --no-deps . && rm -rf build ./*.egg-info
COPY static ./static
COPY templates ./templates
COPY models ./models
ENV PLAYGROUND_STATIC_DIR=/srv/playground/static \
    PLAYGROUND_TEMPLATES_DIR=/srv/playground/templates \
    PLAYGROUND_DATA_DIR=/srv/playground/data \
    PLAYGROUND_MODELS_DIR=/srv/playground/models

# 4. Real MNIST, the sequence lab's data (names, series, Python source) and the kernel lab's
#    photos, fetched and hash-checked at build time (the running app downloads nothing).
COPY scripts/get_mnist.py scripts/get_sequences.py scripts/get_photos.py ./scripts/
RUN mkdir -p data && python scripts/get_mnist.py --cache data/mnist.npz \
    && python scripts/get_sequences.py --out data/sequences \
    && python scripts/get_photos.py --out data/photos

# Runs as an unprivileged user; the code stays owned by root, read-only to the app. data/ is
# its own: run records, uploaded datasets and saved models (mount a volume there to keep them).
RUN useradd --create-home --uid 10001 --user-group playground && chown -R playground data
USER playground
VOLUME /srv/playground/data

EXPOSE 8000
# urlopen raises on connection errors and on HTTP status ≥ 400, so the exit status says it all.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health', timeout=3)"]
CMD ["uvicorn", "app.main:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
