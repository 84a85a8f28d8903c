# One image for every Fovea service; the command picks the service.
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends dcmtk \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml setup.cfg README.md ./
COPY imaging_common ./imaging_common
COPY pacs_scp ./pacs_scp
COPY worklist ./worklist
COPY modality_scu ./modality_scu
COPY emr ./emr
COPY ai_node ./ai_node
COPY configs ./configs
RUN pip install --no-cache-dir '.[postgres]'

ENV FOVEA_CONFIG=/app/configs/network.toml \
    FOVEA_DATA_DIR=/data \
    FOVEA_BIND=0.0.0.0 \
    FOVEA_LOG_FORMAT=json
VOLUME /data
