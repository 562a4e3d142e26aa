-- UploadService (spec upload.md §2): drop-offs, their files (uploads in
-- progress included), failed upload-code checks, and the e-mail outbox.

CREATE TABLE upload_dropoffs (
    id uuid PRIMARY KEY,
    owner_user_id bigint NOT NULL REFERENCES users (id),
    -- A dataset with drop-offs cannot be deleted (as with donations).
    dataset_id bigint REFERENCES datasets (id) ON DELETE RESTRICT,
    title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 4000),
    recipient_emails text[] NOT NULL DEFAULT '{}',
    max_file_bytes bigint NOT NULL CHECK (max_file_bytes >= 1),
    max_total_bytes bigint NOT NULL,
    allowed_types text[] NOT NULL DEFAULT '{}',
    expire_time timestamptz NOT NULL,
    -- SHA-256(pepper ‖ normalised code); the code itself is never stored.
    code_hash bytea NOT NULL CHECK (length(code_hash) = 32),
    closed_at timestamptz,
    deleted_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (max_total_bytes >= max_file_bytes)
);
CREATE INDEX upload_dropoffs_owner ON upload_dropoffs (owner_user_id, created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX upload_dropoffs_dataset ON upload_dropoffs (dataset_id) WHERE dataset_id IS NOT NULL;
CREATE TRIGGER upload_dropoffs_updated_at BEFORE UPDATE ON upload_dropoffs
    FOR EACH ROW EXECUTE FUNCTION steward_set_updated_at();

CREATE TABLE upload_files (
    id uuid PRIMARY KEY,
    dropoff_id uuid NOT NULL REFERENCES upload_dropoffs (id),
    name text NOT NULL,
    relative_path text NOT NULL DEFAULT '',
    -- NULL while a tus upload defers its length.
    size bigint CHECK (size >= 0),
    -- Bytes synced to staging: the truth about how much was received.
    committed_offset bigint NOT NULL DEFAULT 0 CHECK (committed_offset >= 0 AND committed_offset <= coalesce(size, committed_offset)),
    content_type text NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    protocol text NOT NULL CHECK (protocol IN ('grpc', 'tus', 'tusd_hook')),
    status text NOT NULL DEFAULT 'uploading' CHECK (status IN (
        'uploading', 'processing', 'available', 'external', 'failed', 'expired', 'terminated', 'deleted')),
    failure_reason text,
    -- Lowercase hex digests of the plaintext.
    sha256 text,
    expected_sha256 text,
    -- The file's data key sealed by the keyring (AAD names the file); erased
    -- when the file is deleted, which makes its bytes unreadable at once.
    wrapped_key bytea,
    key_id text NOT NULL,
    -- A client's idempotency key for CreateUpload, unique per drop-off.
    request_id text,
    -- The writer lease (§2.8): who writes now, last refreshed when.
    writer_id text,
    writer_seen_at timestamptz,
    -- Where a tusd hook said the bytes are (§4); never read unless allowed.
    external_ref jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_write_at timestamptz NOT NULL DEFAULT now(),
    expire_time timestamptz NOT NULL,
    complete_time timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (status NOT IN ('available') OR (sha256 IS NOT NULL AND wrapped_key IS NOT NULL)),
    CHECK (status <> 'deleted' OR wrapped_key IS NULL)
);
CREATE INDEX upload_files_dropoff ON upload_files (dropoff_id, created_at DESC);
CREATE UNIQUE INDEX upload_files_request ON upload_files (dropoff_id, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX upload_files_unfinished ON upload_files (expire_time) WHERE status = 'uploading';
CREATE TRIGGER upload_files_updated_at BEFORE UPDATE ON upload_files
    FOR EACH ROW EXECUTE FUNCTION steward_set_updated_at();

-- Failed code checks, counted across replicas (§2.3); pruned by the expiry job.
CREATE TABLE upload_code_failures (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dropoff_id uuid NOT NULL REFERENCES upload_dropoffs (id),
    client_addr text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX upload_code_failures_recent ON upload_code_failures (dropoff_id, failed_at);

-- The e-mail outbox (§2.10): one notification gathers the files completed
-- before its job claims it; one row per recipient tracks delivery.
CREATE TABLE upload_notifications (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dropoff_id uuid NOT NULL REFERENCES upload_dropoffs (id),
    file_ids uuid[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Set when the sending job takes it; later files start a new notification.
    claimed_at timestamptz
);
CREATE UNIQUE INDEX upload_notifications_open ON upload_notifications (dropoff_id) WHERE claimed_at IS NULL;

CREATE TABLE upload_notification_recipients (
    notification_id bigint NOT NULL REFERENCES upload_notifications (id),
    email text NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    sent_at timestamptz,
    PRIMARY KEY (notification_id, email)
);
