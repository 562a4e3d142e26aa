-- The participant side (spec donation.md §3.1, §3.4): visits behind the
-- `steward_visit` cookie, the donations a visit may act on, and the single-use
-- OAuth sign-in attempts. Also the version of the consent text a donation's
-- participant accepted. Participants themselves are in
-- 2026-11-24-000001_participants.

-- SHA-256 of the rendered consent text the participant accepted (spec §3.3).
ALTER TABLE donations ADD COLUMN terms_version BYTEA CHECK (length(terms_version) = 32);

-- A browser's visit: a server-side row keyed by the SHA-256 of the random id
-- in the cookie, so any replica serves any request. Idle and absolute
-- lifetimes are fixed when the visit opens (STEWARD_VISIT_IDLE_TTL,
-- STEWARD_VISIT_MAX_TTL).
CREATE TABLE visits (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cookie_hash BYTEA NOT NULL UNIQUE CHECK (length(cookie_hash) = 32),
    -- The participant this visit knows (participant link, pasted link, or
    -- created at the first sign-in).
    participant_id BIGINT REFERENCES participants (id) ON DELETE SET NULL,
    -- The donation the pages show.
    current_donation INTEGER REFERENCES donations (id) ON DELETE SET NULL,
    -- A donation link was opened in this visit (logout goes back to /donate/).
    donation_link_used BOOLEAN NOT NULL DEFAULT false,
    -- The participant token, sealed, only while the status page may still
    -- show it once (spec §3.5); cleared when the participant saved it.
    participant_token_sealed BYTEA,
    -- Secret the CSRF tokens of this visit's forms are derived from.
    csrf_secret BYTEA NOT NULL CHECK (length(csrf_secret) = 32),
    language TEXT CHECK (length(language) BETWEEN 1 AND 35),
    idle_ttl_seconds INTEGER NOT NULL CHECK (idle_ttl_seconds > 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    absolute_expires_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX visits_participant ON visits (participant_id) WHERE participant_id IS NOT NULL;
CREATE INDEX visits_absolute_expiry ON visits (absolute_expires_at);

-- The donations a visit may act on: the one whose link was opened, or all of
-- a participant's. Deleting a donation removes it from every visit.
CREATE TABLE visit_donations (
    visit_id BIGINT NOT NULL REFERENCES visits (id) ON DELETE CASCADE,
    donation_id INTEGER NOT NULL REFERENCES donations (id) ON DELETE CASCADE,
    added_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (visit_id, donation_id)
);
CREATE INDEX visit_donations_donation ON visit_donations (donation_id);

-- One provider sign-in (spec §3.4): the state travels to the provider and
-- back; only its SHA-256 is kept. The PKCE verifier is sealed with the
-- keyring. Consumed once, atomically, by the callback.
CREATE TABLE oauth_attempts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state_hash BYTEA NOT NULL UNIQUE CHECK (length(state_hash) = 32),
    provider TEXT NOT NULL CHECK (provider IN ('google_portability', 'tiktok_portability')),
    donation_id INTEGER NOT NULL REFERENCES donations (id) ON DELETE CASCADE,
    -- The visit that started it; a callback carrying another visit is refused.
    -- NULL once that visit is gone (then only a cookie-less callback completes).
    visit_id BIGINT REFERENCES visits (id) ON DELETE SET NULL,
    code_verifier_sealed BYTEA NOT NULL,
    -- The provider resources (Google resource groups) asked for.
    scopes TEXT[] NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    consumed_at TIMESTAMPTZ
);
CREATE INDEX oauth_attempts_donation ON oauth_attempts (donation_id);
CREATE INDEX oauth_attempts_expiry ON oauth_attempts (expires_at);
