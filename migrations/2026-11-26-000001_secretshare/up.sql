-- SecretShareService (spec secretshare.md §2.9): one party's endpoints,
-- submissions (shares) and sealed batches, and the sealed secrets table that
-- holds the party secret keying contributor pseudonyms.

-- Small server secrets, each sealed with the keyring (design §2).
CREATE TABLE sealed_secrets (
    name text PRIMARY KEY,
    sealed bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE secretshare_endpoints (
    name text PRIMARY KEY,
    description text NOT NULL DEFAULT '',
    vector_length integer NOT NULL CHECK (vector_length BETWEEN 1 AND 4096),
    encoding text NOT NULL CHECK (encoding IN ('integer', 'fixed_point')),
    decimal_scale integer NOT NULL CHECK (decimal_scale BETWEEN 0 AND 12),
    min_value bigint NOT NULL,
    max_value bigint NOT NULL,
    min_batch_size integer NOT NULL CHECK (min_batch_size >= 2),
    -- 0: unlimited.
    max_submissions_per_contributor integer NOT NULL CHECK (max_submissions_per_contributor >= 0),
    -- A dataset with endpoints cannot be deleted (as with donations).
    dataset_id bigint REFERENCES datasets (id) ON DELETE RESTRICT,
    config_digest text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    creator text NOT NULL,
    archived_at timestamptz,
    CHECK (min_value <= max_value)
);

CREATE TABLE secretshare_submissions (
    endpoint text NOT NULL REFERENCES secretshare_endpoints (name),
    submission_id bytea NOT NULL CHECK (length(submission_id) = 16),
    -- Receipt order, for listing pending ids oldest first.
    seq bigint GENERATED ALWAYS AS IDENTITY,
    -- HMAC of the contributor's identity under the party secret: never the subject itself.
    contributor_key bytea NOT NULL,
    -- 8 bytes little-endian per element; erased (NULL) once sealed.
    share bytea,
    share_sha256 bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sealed', 'withdrawn')),
    batch_digest text,
    PRIMARY KEY (endpoint, submission_id),
    CHECK ((state = 'sealed') = (batch_digest IS NOT NULL)),
    CHECK (state <> 'sealed' OR share IS NULL)
);
CREATE INDEX secretshare_submissions_contributor ON secretshare_submissions (endpoint, contributor_key);
CREATE INDEX secretshare_submissions_pending ON secretshare_submissions (endpoint, seq) WHERE state = 'pending';

CREATE TABLE secretshare_batches (
    endpoint text NOT NULL REFERENCES secretshare_endpoints (name),
    batch_digest text NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    submission_count bigint NOT NULL,
    contributor_count bigint NOT NULL,
    -- 8 bytes little-endian per element: this party's aggregate share.
    aggregate_share bytea NOT NULL,
    sealed_at timestamptz NOT NULL DEFAULT now(),
    sealed_by text NOT NULL,
    PRIMARY KEY (endpoint, batch_digest)
);
CREATE INDEX secretshare_batches_order ON secretshare_batches (endpoint, seq);
