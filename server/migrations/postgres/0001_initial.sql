-- The SQLite schema (../sqlite/) in PostgreSQL's types, with the same answers: text columns
-- that are sorted on compare bytewise (COLLATE "C", as SQLite does) whatever the database's
-- locale; timestamps stay ISO-8601 text, so both stores return the same strings; the uptime is
-- a double, as SQLite's REAL is.
CREATE TABLE IF NOT EXISTS users (
    id     TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    email  TEXT NOT NULL UNIQUE,
    role   TEXT NOT NULL CHECK (lower(role) IN ('admin', 'user')),
    status TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS notifications (
    id         TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    message    TEXT NOT NULL,
    type       TEXT NOT NULL DEFAULT 'info',
    created_at TEXT COLLATE "C" NOT NULL,
    read_at    TEXT
);

CREATE INDEX IF NOT EXISTS notifications_user_created
    ON notifications (user_id, created_at DESC);

CREATE TABLE IF NOT EXISTS service_status (
    service_name       TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    status             TEXT NOT NULL,
    response_time_ms   BIGINT,
    last_check_at      TEXT NOT NULL,
    uptime_percentage  DOUBLE PRECISION
);
