-- Column names follow the original application's schema, so the server can later point at it.
CREATE TABLE IF NOT EXISTS users (
    id     TEXT PRIMARY KEY NOT NULL,
    email  TEXT NOT NULL UNIQUE,
    role   TEXT NOT NULL CHECK (role IN ('admin', 'user')),
    status TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS notifications (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    message    TEXT NOT NULL,
    type       TEXT NOT NULL DEFAULT 'info',
    created_at TEXT NOT NULL,
    read_at    TEXT
);

CREATE INDEX IF NOT EXISTS notifications_user_created
    ON notifications (user_id, created_at DESC);

CREATE TABLE IF NOT EXISTS service_status (
    service_name       TEXT PRIMARY KEY NOT NULL,
    status             TEXT NOT NULL,
    response_time_ms   INTEGER,
    last_check_at      TEXT NOT NULL,
    uptime_percentage  REAL
);
