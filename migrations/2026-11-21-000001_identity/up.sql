-- Identity core shared by all five services: users, service accounts, groups
-- (global roles are memberships of groups with the role's name) and API tokens.

-- Keeps updated_at honest without every UPDATE having to remember it.
CREATE FUNCTION steward_set_updated_at() RETURNS trigger AS $$
BEGIN
    IF NEW IS DISTINCT FROM OLD THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

-- Users and service accounts draw ids from one sequence, so an id names one
-- principal only (downstream services store it as the author of edits).
CREATE SEQUENCE principal_id_seq AS BIGINT;

CREATE TABLE users (
    id BIGINT PRIMARY KEY DEFAULT nextval('principal_id_seq'),
    email TEXT NOT NULL CHECK (email LIKE '%_@_%' AND email NOT ILIKE '%@service-account.dsg.local'),
    oidc_issuer TEXT,
    oidc_subject TEXT,
    name TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL DEFAULT '',
    picture_url TEXT NOT NULL DEFAULT '',
    is_active BOOLEAN NOT NULL DEFAULT true,
    read_only BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (oidc_issuer, oidc_subject)
);
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));
CREATE TRIGGER users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION steward_set_updated_at();

CREATE TABLE service_accounts (
    id BIGINT PRIMARY KEY DEFAULT nextval('principal_id_seq'),
    name TEXT NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_-]{1,255}$'),
    description TEXT NOT NULL DEFAULT '',
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_by_user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TRIGGER service_accounts_updated_at BEFORE UPDATE ON service_accounts
    FOR EACH ROW EXECUTE FUNCTION steward_set_updated_at();

CREATE TABLE groups (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255 AND position('/' IN name) = 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TRIGGER groups_updated_at BEFORE UPDATE ON groups
    FOR EACH ROW EXECUTE FUNCTION steward_set_updated_at();

-- Reserved groups: DatasetGateway's four, then one per global role.
INSERT INTO groups (name) VALUES
    ('admin'), ('sc'), ('team_lead'), ('user'),
    ('researcher'), ('developer'), ('scientist'), ('contributor');

CREATE TABLE group_memberships (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    is_admin BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX group_memberships_group ON group_memberships (group_id);

-- API tokens: only the SHA-256 of the token is stored; the plain text is shown once.
CREATE TABLE api_tokens (
    id BIGSERIAL PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    kind TEXT NOT NULL CHECK (kind IN ('login', 'api', 'long_lived', 'service_account')),
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    service_account_id BIGINT REFERENCES service_accounts (id) ON DELETE CASCADE,
    description TEXT NOT NULL DEFAULT '',
    expires_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    created_by_user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((user_id IS NULL) <> (service_account_id IS NULL))
);
CREATE INDEX api_tokens_user ON api_tokens (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX api_tokens_service_account ON api_tokens (service_account_id) WHERE service_account_id IS NOT NULL;
