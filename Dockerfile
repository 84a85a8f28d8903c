# One image for every Fovea service; the command picks the service
# (docker-compose.yml). DCMTK's echoscu is the DIMSE services' health check; the
# fonts are those the EMR's printable report embeds (names in any script).
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends dcmtk fonts-dejavu-core fonts-droid-fallback \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml setup.cfg README.md ./
COPY imaging_common ./imaging_common
COPY pacs_scp ./pacs_scp
COPY worklist ./worklist
COPY modality_scu ./modality_scu
COPY emr ./emr
COPY ai_node ./ai_node
RUN pip install --no-cache-dir '.[ai,postgres]'

# The AI node's model registry (models/<name>/<version>/) and the network files.
COPY models ./models
COPY configs ./configs

# The services run unprivileged; /data is each container's volume (a named
# volume starts with this folder's owner).
RUN useradd --system --uid 10001 --home-dir /data fovea \
    && mkdir -p /data && chown fovea:fovea /data
USER fovea

ENV FOVEA_CONFIG=/app/configs/network.toml \
    FOVEA_DATA_DIR=/data \
    FOVEA_MODEL_REGISTRY=/app/models \
    FOVEA_BIND=0.0.0.0 \
    FOVEA_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
VOLUME /data
