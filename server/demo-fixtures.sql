INSERT INTO users (id, email, role, status) VALUES
    ('admin', 'admin@example.com', 'admin', 'active'),
    ('alice', 'alice@example.com', 'user', 'active'),
    ('bob', 'bob@example.com', 'user', 'suspended');

INSERT INTO service_status (service_name, status, response_time_ms, last_check_at, uptime_percentage) VALUES
    ('jellyfin', 'up', 42, '2026-01-01T00:00:00.000Z', 99.9),
    ('plex', 'up', 57, '2026-01-01T00:00:00.000Z', 99.5),
    ('sonarr', 'degraded', 830, '2026-01-01T00:00:00.000Z', 97.2);

INSERT INTO notifications (id, user_id, title, message, type, created_at, read_at) VALUES
    ('n-welcome', 'alice', 'Welcome', 'Your dashboard is ready.', 'info', '2026-01-01T00:00:00.000Z', NULL);
