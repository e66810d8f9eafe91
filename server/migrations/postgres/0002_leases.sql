-- Which process does a job only one process of a cluster may do (the Uptime Kuma poll), and
-- until when: it renews the lease while it lives; another takes it over once it expires.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
