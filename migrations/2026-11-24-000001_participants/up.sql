-- Participant identity, live donation changes and provider release (spec
-- donation.md §3.5, §2.9 WatchMyDonation, §5.10).

-- Pseudonymous participants: only the SHA-256 of the participant link's
-- token, nothing about the person (§3.5).
CREATE TABLE participants (
    id BIGSERIAL PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    create_time TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The participant a donation belongs to, once known (after the first
-- successful sign-in, §3.5).
ALTER TABLE donations
    ADD COLUMN participant_id BIGINT REFERENCES participants (id) ON DELETE SET NULL;
CREATE INDEX donations_participant ON donations (participant_id, id) WHERE participant_id IS NOT NULL;

-- `NOTIFY donation_changed, '<donation id>'` whenever a donation or one of
-- its types changes or goes, for WatchMyDonation. PostgreSQL folds equal
-- notifications of one transaction into one, so a batch of row updates
-- wakes each watcher once, at commit.
CREATE FUNCTION steward_notify_donation_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed INTEGER;
BEGIN
    IF TG_TABLE_NAME = 'donations' THEN
        changed := CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END;
    ELSE
        changed := CASE WHEN TG_OP = 'DELETE' THEN OLD.donation_id ELSE NEW.donation_id END;
    END IF;
    PERFORM pg_notify('donation_changed', changed::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER donations_notify_changed AFTER INSERT OR UPDATE OR DELETE ON donations
    FOR EACH ROW EXECUTE FUNCTION steward_notify_donation_changed();
CREATE TRIGGER donation_types_notify_changed AFTER INSERT OR UPDATE OR DELETE ON donation_types
    FOR EACH ROW EXECUTE FUNCTION steward_notify_donation_changed();

-- Giving provider access back (§5.10; the spec's `pending_revocations`).
-- Deleting a donation moves its grant's sealed tokens here in the deleting
-- transaction, because the grant row goes with the donation. The tokens stay
-- sealed with the keyring (not the donation's data key, which is destroyed);
-- their associated data names `donation_id`. No FK: the record outlives the
-- donation, whose id is never reused. The tokens are destroyed as soon as
-- access is released or the release is abandoned; the row stays as the
-- answer to "was access released" (codes and times only).
CREATE TABLE provider_releases (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    donation_id INTEGER NOT NULL UNIQUE,
    provider TEXT NOT NULL CHECK (provider IN ('google_portability', 'tiktok_portability')),
    key_id TEXT NOT NULL,
    access_token_sealed BYTEA,
    access_expires_at TIMESTAMPTZ,
    refresh_token_sealed BYTEA,
    -- Provider export jobs still running at deletion, cancelled first.
    cancel_job_ids TEXT[] NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'released', 'abandoned')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- The last failure's class and code (never a provider body).
    last_error TEXT CHECK (length(last_error) <= 200),
    released_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT provider_releases_tokens_only_while_pending CHECK (
        state = 'pending' OR (access_token_sealed IS NULL AND refresh_token_sealed IS NULL)
    ),
    CONSTRAINT provider_releases_released_at CHECK ((state = 'released') = (released_at IS NOT NULL))
);
CREATE INDEX provider_releases_pending ON provider_releases (created_at) WHERE state = 'pending';
CREATE TRIGGER provider_releases_updated_at BEFORE UPDATE ON provider_releases
    FOR EACH ROW EXECUTE FUNCTION steward_set_updated_at();
