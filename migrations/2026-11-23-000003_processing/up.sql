-- The first processing steps (spec donation.md §4.1, §4.2.5–4.2.6, §5.1–5.3,
-- §5.7): a donation's provider credentials, its export jobs and the parts
-- those jobs produced.

-- The credentials one sign-in gave a donation. Tokens are sealed with the
-- keyring (associated data names the grant's donation and the token kind), so
-- a database dump alone never yields provider access. A new sign-in replaces
-- the row; `released_at` is set once Steward gave the access back (§5.10).
CREATE TABLE provider_grants (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    donation_id INTEGER NOT NULL UNIQUE REFERENCES donations (id) ON DELETE CASCADE,
    provider TEXT NOT NULL CHECK (provider IN ('google_portability', 'tiktok_portability')),
    key_id TEXT NOT NULL,
    access_token_sealed BYTEA NOT NULL,
    access_expires_at TIMESTAMPTZ,
    refresh_token_sealed BYTEA,
    refresh_expires_at TIMESTAMPTZ,
    -- The provider's resources the participant granted (Google resource
    -- groups, i.e. scope suffixes).
    granted_resources TEXT[] NOT NULL DEFAULT '{}',
    -- Google's `accessType` from the first `initiate` (§4.2.4).
    access_type TEXT,
    released_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TRIGGER provider_grants_updated_at BEFORE UPDATE ON provider_grants
    FOR EACH ROW EXECUTE FUNCTION steward_set_updated_at();

-- One provider export per (donation, resource): a Google resource group or
-- TikTok's `activity` (§5.3). `job_id` is committed right after the
-- provider's answer; `start_export` skips resources that have one.
CREATE TABLE provider_exports (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    donation_id INTEGER NOT NULL REFERENCES donations (id) ON DELETE CASCADE,
    resource TEXT NOT NULL CHECK (length(resource) BETWEEN 1 AND 64),
    job_id TEXT CHECK (length(job_id) BETWEEN 1 AND 256),
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'in_progress', 'complete', 'failed', 'skipped')),
    reason_code TEXT,
    -- `:retry` calls made for this group (at most STEWARD_GOOGLE_JOB_RETRIES).
    retries INTEGER NOT NULL DEFAULT 0 CHECK (retries >= 0),
    -- State polls made, for the poll schedule.
    polls INTEGER NOT NULL DEFAULT 0 CHECK (polls >= 0),
    next_poll_at TIMESTAMPTZ,
    deadline_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (donation_id, resource)
);
-- schedule_due_polls: in-progress exports by due time.
CREATE INDEX provider_exports_due ON provider_exports (next_poll_at) WHERE state = 'in_progress';
CREATE TRIGGER provider_exports_updated_at BEFORE UPDATE ON provider_exports
    FOR EACH ROW EXECUTE FUNCTION steward_set_updated_at();

-- The parts of a completed export, in the provider's URL order. The signed
-- URLs are NOT stored: they are bearer secrets valid for hours, and Google
-- signs them anew on every state call (§4.2.6), so the download step polls the
-- state for a fresh URL of its part instead of keeping one at rest.
-- `object_key`, `bytes` and `sha256` are set when the download commits.
CREATE TABLE archive_parts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    export_id BIGINT NOT NULL REFERENCES provider_exports (id) ON DELETE CASCADE,
    part_no INTEGER NOT NULL CHECK (part_no >= 0),
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'stored', 'parsed', 'failed')),
    object_key TEXT,
    bytes BIGINT CHECK (bytes >= 0),
    sha256 BYTEA CHECK (length(sha256) = 32),
    deleted_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (export_id, part_no),
    CONSTRAINT archive_parts_stored_has_object CHECK (state = 'pending' OR state = 'failed' OR object_key IS NOT NULL)
);
CREATE TRIGGER archive_parts_updated_at BEFORE UPDATE ON archive_parts
    FOR EACH ROW EXECUTE FUNCTION steward_set_updated_at();
