-- The class list (/estudiantes); clave is the name in lower case, so that
-- names are unique without regard to case.
CREATE TABLE IF NOT EXISTS estudiantes (
    clave TEXT PRIMARY KEY,
    nombre TEXT NOT NULL,
    correo TEXT,
    seccion TEXT
);
