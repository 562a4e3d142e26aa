-- DatasetGateway's data model (spec authorization_dataset.md §2.2) on top of the
-- identity core: user profile extras, datasets with versions and buckets, one
-- grants table for users, groups and service accounts, terms of service,
-- services, service tables, public roots, the audit log and middleauth apps.
--
-- Access levels and grant sources are TEXT with CHECK constraints rather than
-- PostgreSQL enums, like api_tokens.kind: diesel maps TEXT without custom SQL
-- types, and the hierarchy (view < edit < manage < admin) lives in Rust.

-- SCIM ids are uuid5(namespace, "<Type>:<id>") (spec §2.1), assigned by a
-- trigger on every insert path. uuid-ossp is a trusted extension (PostgreSQL
-- 13+), shipped with the server in Debian's postgresql-contrib.
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";

CREATE FUNCTION steward_scim_id(kind TEXT, id BIGINT) RETURNS UUID AS $$
    SELECT uuid_generate_v5('6ba7b810-9dad-11d1-80b4-00c04fd430c8'::uuid, kind || ':' || id::text)
$$ LANGUAGE sql IMMUTABLE;

CREATE FUNCTION steward_assign_scim_id() RETURNS trigger AS $$
BEGIN
    IF NEW.scim_id IS NULL THEN
        NEW.scim_id := steward_scim_id(TG_ARGV[0], NEW.id);
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

ALTER TABLE users
    ADD COLUMN pi TEXT NOT NULL DEFAULT '',
    ADD COLUMN notes TEXT NOT NULL DEFAULT '',
    ADD COLUMN gdpr_consent BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN long_lived_generation INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN scim_id UUID,
    ADD COLUMN external_id TEXT UNIQUE;
UPDATE users SET scim_id = steward_scim_id('User', id);
ALTER TABLE users ALTER COLUMN scim_id SET NOT NULL, ADD UNIQUE (scim_id);
CREATE TRIGGER users_scim_id BEFORE INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION steward_assign_scim_id('User');

CREATE TABLE affiliations (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, name)
);

ALTER TABLE groups
    ADD COLUMN scim_id UUID,
    ADD COLUMN external_id TEXT UNIQUE;
UPDATE groups SET scim_id = steward_scim_id('Group', id);
ALTER TABLE groups ALTER COLUMN scim_id SET NOT NULL, ADD UNIQUE (scim_id);
CREATE TRIGGER groups_scim_id BEFORE INSERT ON groups
    FOR EACH ROW EXECUTE FUNCTION steward_assign_scim_id('Group');

CREATE TABLE services (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_-]{1,255}$'),
    display_name TEXT NOT NULL DEFAULT '',
    base_url TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TRIGGER services_updated_at BEFORE UPDATE ON services
    FOR EACH ROW EXECUTE FUNCTION steward_set_updated_at();

CREATE TABLE datasets (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_-]{1,255}$'),
    description TEXT NOT NULL DEFAULT '',
    -- The general TOS; its FK is added below, once tos_documents exists.
    tos_document_id BIGINT,
    access_mode TEXT NOT NULL DEFAULT 'closed' CHECK (access_mode IN ('closed', 'public')),
    scim_id UUID NOT NULL UNIQUE,
    external_id TEXT UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TRIGGER datasets_updated_at BEFORE UPDATE ON datasets
    FOR EACH ROW EXECUTE FUNCTION steward_set_updated_at();
CREATE TRIGGER datasets_scim_id BEFORE INSERT ON datasets
    FOR EACH ROW EXECUTE FUNCTION steward_assign_scim_id('Dataset');

CREATE TABLE dataset_buckets (
    id BIGSERIAL PRIMARY KEY,
    dataset_id BIGINT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (dataset_id, name),
    -- Target of dataset_version_buckets' same-dataset foreign key.
    UNIQUE (id, dataset_id)
);

CREATE TABLE dataset_versions (
    id BIGSERIAL PRIMARY KEY,
    dataset_id BIGINT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    version TEXT NOT NULL CHECK (length(version) BETWEEN 1 AND 255),
    prefix TEXT NOT NULL DEFAULT '',
    is_public BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (dataset_id, version),
    UNIQUE (id, dataset_id)
);
CREATE TRIGGER dataset_versions_updated_at BEFORE UPDATE ON dataset_versions
    FOR EACH ROW EXECUTE FUNCTION steward_set_updated_at();

-- A version's buckets; the composite foreign keys make "both belong to the same
-- dataset" a constraint rather than a check every writer must remember.
CREATE TABLE dataset_version_buckets (
    version_id BIGINT NOT NULL,
    bucket_id BIGINT NOT NULL,
    dataset_id BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (version_id, bucket_id),
    FOREIGN KEY (version_id, dataset_id) REFERENCES dataset_versions (id, dataset_id) ON DELETE CASCADE,
    FOREIGN KEY (bucket_id, dataset_id) REFERENCES dataset_buckets (id, dataset_id) ON DELETE CASCADE
);

CREATE TABLE tos_documents (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    text TEXT NOT NULL,
    text_sha256 BYTEA NOT NULL DEFAULT '\x'::bytea,
    dataset_id BIGINT REFERENCES datasets (id) ON DELETE CASCADE,
    dataset_version_id BIGINT REFERENCES dataset_versions (id) ON DELETE CASCADE,
    service_id BIGINT REFERENCES services (id) ON DELETE CASCADE,
    -- A link identifier, not a credential (spec §2.2): 43 base64url characters.
    invite_token TEXT NOT NULL UNIQUE,
    effective_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    retired_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (service_id IS NULL OR dataset_id IS NOT NULL)
);
CREATE INDEX tos_documents_dataset ON tos_documents (dataset_id);
CREATE TRIGGER tos_documents_updated_at BEFORE UPDATE ON tos_documents
    FOR EACH ROW EXECUTE FUNCTION steward_set_updated_at();
-- text_sha256 is computed on every write, so no writer can forget it.
CREATE FUNCTION steward_tos_text_sha256() RETURNS trigger AS $$
BEGIN
    NEW.text_sha256 := sha256(convert_to(NEW.text, 'UTF8'));
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER tos_documents_text_sha256 BEFORE INSERT OR UPDATE OF text ON tos_documents
    FOR EACH ROW EXECUTE FUNCTION steward_tos_text_sha256();

ALTER TABLE datasets ADD FOREIGN KEY (tos_document_id) REFERENCES tos_documents (id) ON DELETE SET NULL;

CREATE TABLE tos_acceptances (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tos_document_id BIGINT NOT NULL REFERENCES tos_documents (id) ON DELETE CASCADE,
    accepted_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ip_address INET,
    user_agent TEXT,
    text_sha256 BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (user_id, tos_document_id)
);

-- One table for user, group and service-account grants (spec §2.2).
CREATE TABLE grants (
    id BIGSERIAL PRIMARY KEY,
    dataset_id BIGINT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    dataset_version_id BIGINT REFERENCES dataset_versions (id) ON DELETE CASCADE,
    level TEXT NOT NULL CHECK (level IN ('view', 'edit', 'manage', 'admin')),
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    group_id BIGINT REFERENCES groups (id) ON DELETE CASCADE,
    service_account_id BIGINT REFERENCES service_accounts (id) ON DELETE CASCADE,
    team_group_id BIGINT REFERENCES groups (id) ON DELETE CASCADE,
    source TEXT NOT NULL DEFAULT 'manual' CHECK (source IN ('manual', 'self_service', 'import')),
    granted_by_user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT grants_one_grantee CHECK (num_nonnulls(user_id, group_id, service_account_id) = 1),
    CONSTRAINT grants_team_only_for_users CHECK (team_group_id IS NULL OR user_id IS NOT NULL),
    CONSTRAINT grants_unique UNIQUE NULLS NOT DISTINCT
        (dataset_id, dataset_version_id, level, user_id, group_id, service_account_id, team_group_id)
);
CREATE INDEX grants_user ON grants (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX grants_group ON grants (group_id) WHERE group_id IS NOT NULL;
CREATE INDEX grants_service_account ON grants (service_account_id) WHERE service_account_id IS NOT NULL;
CREATE INDEX grants_dataset ON grants (dataset_id);
CREATE TRIGGER grants_updated_at BEFORE UPDATE ON grants
    FOR EACH ROW EXECUTE FUNCTION steward_set_updated_at();

CREATE TABLE service_tables (
    id BIGSERIAL PRIMARY KEY,
    service_name TEXT NOT NULL CHECK (length(service_name) BETWEEN 1 AND 255),
    table_name TEXT NOT NULL CHECK (length(table_name) BETWEEN 1 AND 255),
    dataset_id BIGINT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (service_name, table_name)
);
CREATE INDEX service_tables_table ON service_tables (table_name);

CREATE TABLE public_roots (
    id BIGSERIAL PRIMARY KEY,
    service_table_id BIGINT NOT NULL REFERENCES service_tables (id) ON DELETE CASCADE,
    root_id BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (service_table_id, root_id)
);

-- Written in the same transaction as the change it records.
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor_user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    actor_service_account_id BIGINT REFERENCES service_accounts (id) ON DELETE SET NULL,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    before_state JSONB,
    after_state JSONB,
    request_id TEXT
);
CREATE INDEX audit_log_newest ON audit_log (created_at DESC, id DESC);

CREATE TABLE middleauth_apps (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    url TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

ALTER TABLE api_tokens
    ADD COLUMN derivation_key_id TEXT,
    ADD COLUMN generation INTEGER,
    ADD CONSTRAINT api_tokens_long_lived_fields
        CHECK ((kind = 'long_lived') = (derivation_key_id IS NOT NULL AND generation IS NOT NULL));
-- One live default long-lived token per user (spec §4.3).
CREATE UNIQUE INDEX api_tokens_one_long_lived ON api_tokens (user_id)
    WHERE kind = 'long_lived' AND revoked_at IS NULL;
