-- The sandbox providers' state (spec donation.md §6.1, §6.2): what the fake
-- Google (and later TikTok) issued and was asked, in PostgreSQL so the
-- sandbox works across replicas and each test database is isolated. Nothing
-- here is participant data: the fake account is generated from the scenario.
-- Codes and tokens are stored as SHA-256, as a real provider would.

-- One consent decision: the scopes it granted, the scenario it bound (spec
-- §6.3; every code, token, job and archive of the grant inherits it) and the
-- counters the failure modes of §6.6 are staged against.
CREATE TABLE sandbox_grants (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider TEXT NOT NULL CHECK (provider IN ('google', 'tiktok')),
    client_id TEXT NOT NULL,
    -- The scenario in its query syntax (`Scenario::to_query`).
    scenario TEXT NOT NULL,
    -- Granted scopes: Google resource groups (`myactivity.youtube`).
    scopes TEXT[] NOT NULL,
    -- Portability API calls made with the grant's access tokens.
    api_calls INTEGER NOT NULL DEFAULT 0,
    -- Archive downloads of the grant's jobs.
    downloads INTEGER NOT NULL DEFAULT 0,
    -- Set by `authorization:reset` or a staged revocation: every token of the
    -- grant is dead and refreshing answers `invalid_grant`.
    revoked_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Authorization codes: single use, bound to the redirect URI and the PKCE
-- challenge of the authorization request.
CREATE TABLE sandbox_codes (
    code_hash BYTEA PRIMARY KEY CHECK (length(code_hash) = 32),
    grant_id BIGINT NOT NULL REFERENCES sandbox_grants (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ
);

CREATE TABLE sandbox_tokens (
    token_hash BYTEA PRIMARY KEY CHECK (length(token_hash) = 32),
    grant_id BIGINT NOT NULL REFERENCES sandbox_grants (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    -- NULL: never expires (refresh tokens).
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX sandbox_tokens_grant ON sandbox_tokens (grant_id);

-- Archive jobs (`portabilityArchive:initiate`, `archiveJobs/{id}:retry`).
CREATE TABLE sandbox_jobs (
    id TEXT PRIMARY KEY,
    grant_id BIGINT NOT NULL REFERENCES sandbox_grants (id) ON DELETE CASCADE,
    resources TEXT[] NOT NULL,
    -- `startTime` / `endTime` of the initiate call.
    start_time TIMESTAMPTZ,
    end_time TIMESTAMPTZ,
    -- 0 for an initiated job, n for the n-th `:retry` of it.
    generation INTEGER NOT NULL DEFAULT 0 CHECK (generation >= 0),
    state TEXT NOT NULL DEFAULT 'IN_PROGRESS' CHECK (state IN ('IN_PROGRESS', 'COMPLETE', 'FAILED', 'CANCELLED')),
    polls INTEGER NOT NULL DEFAULT 0,
    -- The export's "now": dates the archive, so every download of a part is
    -- byte-identical.
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX sandbox_jobs_grant ON sandbox_jobs (grant_id);

-- Sizes of generated parts, recorded once known (needed for Range answers).
CREATE TABLE sandbox_parts (
    job_id TEXT NOT NULL REFERENCES sandbox_jobs (id) ON DELETE CASCADE,
    part INTEGER NOT NULL CHECK (part >= 0),
    bytes BIGINT NOT NULL CHECK (bytes >= 0),
    PRIMARY KEY (job_id, part)
);

-- Every call the sandbox received (`GET /sandbox/_calls`), secrets redacted
-- before they are written.
CREATE TABLE sandbox_calls (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    provider TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    query JSONB,
    body JSONB,
    -- The scheme of the Authorization header (`Bearer <redacted>`), if any.
    auth_header TEXT,
    status INTEGER NOT NULL
);
