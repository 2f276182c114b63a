-- The count and the idempotency keys, as Profesor keeps them in PostgreSQL.
CREATE TABLE IF NOT EXISTS conteo (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    total BIGINT NOT NULL
);
INSERT INTO conteo (id, total) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS claves (
    orden BIGSERIAL PRIMARY KEY,
    clave TEXT NOT NULL UNIQUE,
    total BIGINT NOT NULL,
    cantidad BIGINT NOT NULL
);
