-- Pending shares move into their own table (spec secretshare.md §2.9).
-- Sealing then deletes the batch's rows from `secretshare_pending` (it reads
-- and erases each share in one step), instead of rewriting every submission
-- row: an UPDATE writes a new row version and new index entries, a DELETE
-- only marks the row. `secretshare_submissions` keeps every id ever received,
-- for replay and limit checks; a submission is pending while its share is in
-- `secretshare_pending`, withdrawn when marked so, and sealed otherwise (a
-- batch's digest commits to its exact id set, so the set is not stored).

CREATE TABLE secretshare_pending (
    endpoint text NOT NULL,
    submission_id bytea NOT NULL,
    -- The submission's receipt number, for listing pending ids oldest first.
    seq bigint NOT NULL,
    contributor_key bytea NOT NULL,
    -- 8 bytes little-endian per element.
    share bytea NOT NULL,
    received_at timestamptz NOT NULL,
    -- No foreign key to secretshare_submissions: both rows are written by the
    -- one statement of secretshare_submit, and the check would cost every
    -- submission an extra index probe.
    PRIMARY KEY (endpoint, submission_id)
);
CREATE INDEX secretshare_pending_order ON secretshare_pending (endpoint, seq);

INSERT INTO secretshare_pending (endpoint, submission_id, seq, contributor_key, share, received_at)
SELECT endpoint, submission_id, seq, contributor_key, share, received_at FROM secretshare_submissions WHERE state = 'pending';

ALTER TABLE secretshare_submissions ADD COLUMN withdrawn boolean NOT NULL DEFAULT false;
UPDATE secretshare_submissions SET withdrawn = true WHERE state = 'withdrawn';
DROP INDEX secretshare_submissions_pending;
ALTER TABLE secretshare_submissions DROP COLUMN share, DROP COLUMN state, DROP COLUMN batch_digest;

-- Stores one submission, in one round trip and one transaction: when the
-- endpoint is active, the id is new on it and, with `max_per_contributor` > 0,
-- the contributor has fewer than that many pending or sealed submissions
-- there. Returns the receive time, or NULL when something failed (the caller
-- finds out what). With a limit, the contributor's advisory lock `lock_key` is
-- taken first; the INSERT is a later statement of this VOLATILE function, so
-- its snapshot sees every submission committed before the lock was granted,
-- and the count is exact.
CREATE FUNCTION secretshare_submit(
    endpoint_name text,
    id bytea,
    contributor bytea,
    share_bytes bytea,
    share_digest bytea,
    max_per_contributor bigint,
    lock_key bigint
) RETURNS timestamptz LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    stored timestamptz;
BEGIN
    IF max_per_contributor > 0 THEN
        PERFORM pg_advisory_xact_lock(lock_key);
    END IF;
    WITH registered AS (
        INSERT INTO secretshare_submissions (endpoint, submission_id, contributor_key, share_sha256)
        SELECT endpoint_name, id, contributor, share_digest
        WHERE EXISTS (SELECT 1 FROM secretshare_endpoints e WHERE e.name = endpoint_name AND e.archived_at IS NULL)
          AND (max_per_contributor = 0
               OR (SELECT count(*) FROM secretshare_submissions s
                   WHERE s.endpoint = endpoint_name AND s.contributor_key = contributor AND NOT s.withdrawn)
                  < max_per_contributor)
        ON CONFLICT DO NOTHING
        RETURNING seq, received_at
    ), pending AS (
        INSERT INTO secretshare_pending (endpoint, submission_id, seq, contributor_key, share, received_at)
        SELECT endpoint_name, id, registered.seq, contributor, share_bytes, registered.received_at FROM registered
    )
    SELECT registered.received_at INTO stored FROM registered;
    RETURN stored;
END
$$;
