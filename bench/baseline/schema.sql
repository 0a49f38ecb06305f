-- The baseline's data set: a booking domain cut down to what the baseline's four requests touch.
-- psql variables (bench/lib/pg.sh load sets them): :n_services, :n_slots, :n_booked, :n_users.
-- Every service gets n_slots / n_services slots, one every four hours from 2025-01-01 (UTC).
SET client_min_messages = warning;

DROP TABLE IF EXISTS bookings, slots, services, members CASCADE;

CREATE TABLE services (
    id        integer PRIMARY KEY,
    name      text NOT NULL,
    minutes   integer NOT NULL
);

CREATE TABLE members (
    id    integer PRIMARY KEY,
    email text NOT NULL UNIQUE
);

CREATE TABLE slots (
    id         bigint PRIMARY KEY,
    service_id integer NOT NULL REFERENCES services (id),
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    seats      integer NOT NULL DEFAULT 1
);

-- One booking per slot: a second INSERT for the same slot does nothing (the 409 of the baseline).
CREATE TABLE bookings (
    id         bigserial PRIMARY KEY,
    slot_id    bigint NOT NULL UNIQUE REFERENCES slots (id),
    member_id  integer NOT NULL REFERENCES members (id),
    status     text NOT NULL DEFAULT 'booked',
    created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO services SELECT s, 'service ' || s, 30 + 15 * (s % 4) FROM generate_series(1, :n_services) s;
INSERT INTO members SELECT m, 'member' || m || '@bench.invalid' FROM generate_series(1, :n_users) m;

INSERT INTO slots (id, service_id, starts_at, ends_at)
SELECT g,
       1 + (g - 1) % :n_services,
       timestamptz '2025-01-01 00:00+00' + ((g - 1) / :n_services) * interval '4 hours',
       timestamptz '2025-01-01 00:45+00' + ((g - 1) / :n_services) * interval '4 hours'
FROM generate_series(1, :n_slots) g;

-- A fixed scatter of pre-booked slots, made before the "reset" cut-off, so that a reset keeps them.
INSERT INTO bookings (slot_id, member_id, created_at)
SELECT 1 + (g::bigint * 7919 * 7919) % :n_slots, 1 + g % :n_users, timestamptz '2024-12-01 00:00+00'
FROM generate_series(1, :n_booked) g
ON CONFLICT DO NOTHING;

CREATE INDEX slots_service_starts_idx ON slots (service_id, starts_at);
CREATE INDEX bookings_member_idx ON bookings (member_id, created_at);

VACUUM ANALYZE;
SELECT count(*) AS slots, (SELECT count(*) FROM bookings) AS prebooked FROM slots;
