-- DonationService's core tables (spec donation.md §5.7): donations, their
-- per-type state, their data keys, the sealed rows and the event log. The
-- processing slices add participants, visits, OAuth attempts, provider grants,
-- exports, archive parts and parse progress in their own migrations.
--
-- States and spellings are TEXT with CHECK constraints (as grants.level): the
-- transitions live in Rust (src/donation/model.rs).

CREATE TABLE donations (
    -- `integer` so the compat JSON prints it as a number (spec §2.2); an
    -- identity that is never reused, so a deleted id stays a 404.
    id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The creating principal (users and service accounts share
    -- principal_id_seq, so the id names one of them). No FK: ownership
    -- belongs to the principal, not to a token, and survives token changes.
    owner_id BIGINT NOT NULL,
    -- Set: readable with `view` on the dataset. RESTRICT, so deleting a
    -- dataset never deletes donated data behind anyone's back.
    dataset_id BIGINT REFERENCES datasets (id) ON DELETE RESTRICT,
    source TEXT NOT NULL CHECK (source IN ('google_portability', 'tiktok_portability')),
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'authorized', 'processing', 'processed', 'error')),
    stage TEXT NOT NULL DEFAULT 'created',
    data_start_date DATE,
    data_end_date DATE CHECK (data_end_date >= data_start_date),
    -- The resolved list (spec §2.3): request order, or catalogue order when
    -- the request asked for all types. Fixed at creation.
    requested_data_types TEXT[] NOT NULL
        CHECK (cardinality(requested_data_types) > 0 AND array_position(requested_data_types, NULL) IS NULL),
    description TEXT NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    error_code TEXT CHECK (length(error_code) BETWEEN 1 AND 64),
    error_message TEXT,
    -- SHA-256 of the donation link's token (the link itself is shown once).
    token_hash BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    -- The creator's retry key (spec §2.3): one donation per (owner, request_id).
    request_id TEXT CHECK (length(request_id) BETWEEN 1 AND 64),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    terms_accepted_at TIMESTAMPTZ,
    authorized_at TIMESTAMPTZ,
    processed_at TIMESTAMPTZ,
    -- stage refines status (spec §1.4); an error always has its code.
    CONSTRAINT donations_stage_matches_status CHECK (
        (status = 'pending' AND stage IN ('created', 'link_opened', 'terms_accepted'))
        OR (status = 'authorized' AND stage = 'authorized')
        OR (status = 'processing' AND stage IN ('export_requested', 'waiting_for_provider', 'downloading', 'parsing'))
        OR (status = 'processed' AND stage = 'done')
        OR (status = 'error' AND stage = 'failed')
    ),
    CONSTRAINT donations_error_has_code CHECK ((status = 'error') = (error_code IS NOT NULL))
);
CREATE INDEX donations_owner ON donations (owner_id, id) WHERE dataset_id IS NULL;
CREATE INDEX donations_dataset ON donations (dataset_id, id) WHERE dataset_id IS NOT NULL;
CREATE UNIQUE INDEX donations_request ON donations (owner_id, request_id) WHERE request_id IS NOT NULL;
CREATE TRIGGER donations_updated_at BEFORE UPDATE ON donations
    FOR EACH ROW EXECUTE FUNCTION steward_set_updated_at();

-- One row per requested data type: its state, why it failed, and counters
-- that `finalize` recomputes from the rows (spec §5.3).
CREATE TABLE donation_types (
    donation_id INTEGER NOT NULL REFERENCES donations (id) ON DELETE CASCADE,
    data_type TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'requested'
        CHECK (state IN ('requested', 'exporting', 'downloading', 'parsing', 'available', 'declined', 'failed')),
    reason_code TEXT,
    rows BIGINT NOT NULL DEFAULT 0 CHECK (rows >= 0),
    outside_window BIGINT NOT NULL DEFAULT 0 CHECK (outside_window >= 0),
    skipped_records BIGINT NOT NULL DEFAULT 0 CHECK (skipped_records >= 0),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (donation_id, data_type)
);
CREATE TRIGGER donation_types_updated_at BEFORE UPDATE ON donation_types
    FOR EACH ROW EXECUTE FUNCTION steward_set_updated_at();

-- The donation's AES-256 data key, wrapped by the keyring key `key_id`.
-- Deleting this row (with the donation) makes every sealed row and blob of
-- the donation unreadable at commit.
CREATE TABLE donation_keys (
    donation_id INTEGER PRIMARY KEY REFERENCES donations (id) ON DELETE CASCADE,
    key_id TEXT NOT NULL,
    wrapped_key BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX donation_keys_key_id ON donation_keys (key_id);

-- The donated rows, each sealed with the donation's data key. No FK to
-- donations or archive parts: rows outlive both until the purge job reclaims
-- them in batches (they are unreadable from the deletion on). `part_id` is 0
-- for rows not from an archive part. `ts` stays clear so counts, date
-- filters and paging run in the database (spec §5.7).
CREATE TABLE donation_rows (
    donation_id INTEGER NOT NULL,
    data_type TEXT NOT NULL,
    part_id BIGINT NOT NULL,
    member_no INTEGER NOT NULL,
    -- Position of the record in its member before filtering (spec §5.3).
    ordinal BIGINT NOT NULL,
    ts TIMESTAMPTZ,
    sealed BYTEA NOT NULL,
    PRIMARY KEY (donation_id, data_type, part_id, member_no, ordinal)
);
-- Timestamp order, rows without one last, ties by archive position.
CREATE INDEX donation_rows_order ON donation_rows (donation_id, data_type, ts, part_id, member_no, ordinal);

-- What happened to a donation, for researchers (spec §2.9.1): kinds, counts
-- and codes only, never personal data or provider payloads.
CREATE TABLE donation_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    donation_id INTEGER NOT NULL REFERENCES donations (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind ~ '^[a-z_]{1,64}$'),
    data_type TEXT,
    detail JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX donation_events_donation ON donation_events (donation_id, id);
