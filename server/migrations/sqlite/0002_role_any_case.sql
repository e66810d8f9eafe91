-- A role is compared case-insensitively (docs/compatibility.md), so the upstream schema's
-- upper-case 'ADMIN' and 'USER' are admitted too. SQLite cannot alter a CHECK constraint, so
-- `users` is rebuilt. sqlx runs this in a transaction with foreign keys on, where dropping
-- `users` would delete every notification (ON DELETE CASCADE); so `notifications` is rebuilt
-- first, referencing the new table, and the old tables are dropped with nothing pointing at
-- them. Renaming the new tables rewrites the reference.
CREATE TABLE users_new (
    id     TEXT PRIMARY KEY NOT NULL,
    email  TEXT NOT NULL UNIQUE,
    role   TEXT NOT NULL CHECK (lower(role) IN ('admin', 'user')),
    status TEXT NOT NULL
);
INSERT INTO users_new (id, email, role, status) SELECT id, email, role, status FROM users;

CREATE TABLE notifications_new (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users_new (id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    message    TEXT NOT NULL,
    type       TEXT NOT NULL DEFAULT 'info',
    created_at TEXT NOT NULL,
    read_at    TEXT
);
INSERT INTO notifications_new (id, user_id, title, message, type, created_at, read_at)
    SELECT id, user_id, title, message, type, created_at, read_at FROM notifications;

DROP TABLE notifications;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
ALTER TABLE notifications_new RENAME TO notifications;
CREATE INDEX notifications_user_created ON notifications (user_id, created_at DESC);
