-- One PostgreSQL database per Fovea service that keeps an SQLAlchemy index:
-- the PACS (pacs_scp), the EMR (emr) and the imaging station (modality_scu).
-- The worklist keeps no database and the AI node keeps Redis and files.
-- The postgres image runs this once, when its data volume is first created,
-- as POSTGRES_USER (fovea), who then owns the databases.
CREATE DATABASE pacs OWNER fovea;
CREATE DATABASE emr OWNER fovea;
CREATE DATABASE station OWNER fovea;
