-- OLTP schema of the travel-booking application: the CDC source.
-- Idempotent: safe to apply on every `make local-up` and by the AWS bootstrap.
-- REPLICA IDENTITY FULL on every table: the CDC relay needs the full before-image of updated and
-- deleted rows for Debezium's `before` field (the default identity would carry only the key).

CREATE TABLE IF NOT EXISTS users (
    user_id     text PRIMARY KEY,
    email       text NOT NULL UNIQUE,
    full_name   text NOT NULL,
    home_city   text NOT NULL,
    locale      text NOT NULL DEFAULT 'vi-VN',
    segment     text NOT NULL DEFAULT 'leisure'
                CHECK (segment IN ('leisure', 'business', 'family', 'budget', 'luxury')),
    device_type text NOT NULL DEFAULT 'mobile'
                CHECK (device_type IN ('mobile', 'desktop', 'tablet')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS bookings (
    booking_id  text PRIMARY KEY,
    user_id     text NOT NULL REFERENCES users (user_id),
    session_id  text,
    hotel_id    text NOT NULL,
    destination text NOT NULL,
    check_in    date NOT NULL,
    check_out   date NOT NULL CHECK (check_out > check_in),
    guests      integer NOT NULL CHECK (guests > 0),
    amount      numeric(12, 2) NOT NULL CHECK (amount >= 0),
    currency    char(3) NOT NULL DEFAULT 'VND',
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'confirmed', 'cancelled', 'completed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS bookings_user_id_idx ON bookings (user_id);

CREATE TABLE IF NOT EXISTS payments (
    payment_id  text PRIMARY KEY,
    booking_id  text NOT NULL REFERENCES bookings (booking_id),
    amount      numeric(12, 2) NOT NULL CHECK (amount >= 0),
    currency    char(3) NOT NULL DEFAULT 'VND',
    method      text NOT NULL CHECK (method IN ('card', 'wallet', 'bank_transfer', 'cash')),
    status      text NOT NULL DEFAULT 'authorized'
                CHECK (status IN ('authorized', 'captured', 'refunded', 'failed', 'voided')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS payments_booking_id_idx ON payments (booking_id);

CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'bookings', 'payments'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I_updated_at ON %I', t, t);
        EXECUTE format(
            'CREATE TRIGGER %I_updated_at BEFORE UPDATE ON %I '
            'FOR EACH ROW EXECUTE FUNCTION set_updated_at()', t, t);
        EXECUTE format('ALTER TABLE %I REPLICA IDENTITY FULL', t);
    END LOOP;
END $$;
