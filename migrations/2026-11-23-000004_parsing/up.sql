-- Parsing stored archive parts into rows (spec donation.md §5.1, §5.3, §5.5):
-- resume markers per member, and what each part gave each data type, from
-- which `finalize` derives the types' final states and counters.

-- How far a parse got in one member of one part for one type. Updated in the
-- transaction that inserts each batch of rows, so a re-run resumes after
-- `last_ordinal` (-1: no record of the member stored yet) and a finished
-- member (`done`) is never re-read into rows.
CREATE TABLE parse_progress (
    part_id BIGINT NOT NULL REFERENCES archive_parts (id) ON DELETE CASCADE,
    data_type TEXT NOT NULL,
    member_no INTEGER NOT NULL CHECK (member_no >= 0),
    last_ordinal BIGINT NOT NULL DEFAULT -1 CHECK (last_ordinal >= -1),
    done BOOLEAN NOT NULL DEFAULT false,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (part_id, data_type, member_no)
);
CREATE TRIGGER parse_progress_updated_at BEFORE UPDATE ON parse_progress
    FOR EACH ROW EXECUTE FUNCTION steward_set_updated_at();

-- What one parsed part gave one requested type: `parsed` (its members read
-- to the end), `missing` (no member of the type in this part) or `failed`
-- (with the spec's code). Counters cover the part's whole members.
CREATE TABLE part_type_results (
    part_id BIGINT NOT NULL REFERENCES archive_parts (id) ON DELETE CASCADE,
    data_type TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('parsed', 'missing', 'failed')),
    reason_code TEXT CHECK ((outcome = 'failed') = (reason_code IS NOT NULL)),
    rows BIGINT NOT NULL DEFAULT 0 CHECK (rows >= 0),
    outside_window BIGINT NOT NULL DEFAULT 0 CHECK (outside_window >= 0),
    no_timestamp BIGINT NOT NULL DEFAULT 0 CHECK (no_timestamp >= 0),
    skipped_records BIGINT NOT NULL DEFAULT 0 CHECK (skipped_records >= 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (part_id, data_type)
);

-- Rows without a timestamp that a window dropped (§5.6), beside `outside_window`.
ALTER TABLE donation_types ADD COLUMN no_timestamp BIGINT NOT NULL DEFAULT 0 CHECK (no_timestamp >= 0);
