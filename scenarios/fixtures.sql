-- Fixtures shared by every target (Rust server, Node original) and by the server's own tests.
-- Ids are stable so scenarios can name them; timestamps are fixed so transcripts are stable.
-- Plain SQL that SQLite and PostgreSQL both run. admin-2's role is upper case, as the upstream
-- schema writes roles: both servers compare roles without case (docs/compatibility.md).
-- Every insert skips rows that exist, so seeding an already seeded database changes nothing.
INSERT INTO users (id, email, role, status) VALUES
    ('admin-1', 'admin@example.com', 'admin', 'active'),
    ('admin-2', 'root@example.com', 'ADMIN', 'active'),
    ('user-1', 'alice@example.com', 'user', 'active'),
    ('user-2', 'bob@example.com', 'user', 'active'),
    ('user-3', 'carol@example.com', 'user', 'suspended')
ON CONFLICT DO NOTHING;

INSERT INTO service_status (service_name, status, response_time_ms, last_check_at, uptime_percentage) VALUES
    ('jellyfin', 'up', 42, '2026-01-01T00:00:00.000Z', 99.9),
    ('plex', 'up', 57, '2026-01-01T00:00:00.000Z', 99.5),
    ('sonarr', 'degraded', 830, '2026-01-01T00:00:00.000Z', 97.25)
ON CONFLICT DO NOTHING;

INSERT INTO notifications (id, user_id, title, message, type, created_at, read_at) VALUES
    ('n-alice-1', 'user-1', 'Download finished', 'Movie night is ready.', 'info', '2026-01-01T00:00:00.000Z', NULL),
    ('n-alice-2', 'user-1', 'Disk almost full', 'Media volume at 91%.', 'warning', '2026-01-02T00:00:00.000Z', NULL),
    ('n-bob-1', 'user-2', 'Request approved', 'Your request was approved.', 'info', '2026-01-01T00:00:00.000Z', NULL)
ON CONFLICT DO NOTHING;
