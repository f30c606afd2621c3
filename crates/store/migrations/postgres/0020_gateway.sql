-- gateway: upstream instances registered at runtime (POST /api/gateway/services/{id}/instances),
-- kept here so every stateless node routes to the same instances. Instances from services.toml
-- and DNS discovery are not stored.
CREATE TABLE gateway_instances (
    id           TEXT   PRIMARY KEY,
    service_id   TEXT   NOT NULL,
    url          TEXT   NOT NULL,
    health_path  TEXT   NOT NULL,
    created_by   BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX gateway_instances_service_url ON gateway_instances (service_id, url);
