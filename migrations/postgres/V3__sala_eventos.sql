-- The sala's events (announcements, chat lines relayed by Docencios),
-- shared by every Profesor on this database: ids are the database's clock
-- in microseconds, taken one transaction at a time, so they grow in commit
-- order. Profesor prunes it to the newest events.
CREATE TABLE IF NOT EXISTS sala_eventos (
    id BIGINT PRIMARY KEY,
    tipo TEXT NOT NULL,
    datos TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sala_eventos_tipo ON sala_eventos (tipo, id);
