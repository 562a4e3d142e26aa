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

-- Stores a batch of submissions in one round trip and one transaction (the
-- server gathers concurrent SubmitShare calls into one call). Each is stored
-- when its endpoint is active, its id is new there and, with
-- `max_per_contributor` > 0, its contributor has fewer than that many pending
-- or sealed submissions there. Returns each one's receive time, or NULL when
-- something failed (the caller finds out what).
--
-- The caller guarantees, per call: no (endpoint, id) twice; no contributor lock
-- key twice among the limited ones (the count cannot see rows of the same
-- statement); and rows sorted by (endpoint, id), so concurrent calls insert in
-- one order and cannot deadlock on the key. The contributors' advisory locks
-- are taken first, in ascending order for the same reason; the INSERT is a
-- later statement of this VOLATILE function, so its snapshot sees every
-- submission committed before the locks were granted, and the counts are exact.
CREATE FUNCTION secretshare_submit(
    endpoint_names text[],
    ids bytea[],
    contributors bytea[],
    share_bytes bytea[],
    share_digests bytea[],
    max_per_contributor bigint[],
    lock_keys bigint[]
) RETURNS timestamptz[] LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    lock_key bigint;
    stored timestamptz[];
BEGIN
    FOR lock_key IN
        SELECT DISTINCT l.k FROM unnest(lock_keys, max_per_contributor) AS l(k, m) WHERE l.m > 0 ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock(lock_key);
    END LOOP;
    WITH input AS (
        SELECT * FROM unnest(endpoint_names, ids, contributors, share_bytes, share_digests, max_per_contributor)
            WITH ORDINALITY AS t(endpoint, id, contributor, share, digest, max_per, n)
    ), registered AS (
        INSERT INTO secretshare_submissions (endpoint, submission_id, contributor_key, share_sha256)
        SELECT i.endpoint, i.id, i.contributor, i.digest FROM input i
        WHERE EXISTS (SELECT 1 FROM secretshare_endpoints e WHERE e.name = i.endpoint AND e.archived_at IS NULL)
          AND (i.max_per = 0
               OR (SELECT count(*) FROM secretshare_submissions s
                   WHERE s.endpoint = i.endpoint AND s.contributor_key = i.contributor AND NOT s.withdrawn)
                  < i.max_per)
        ORDER BY i.n
        ON CONFLICT DO NOTHING
        RETURNING endpoint, submission_id, seq, received_at
    ), pending AS (
        INSERT INTO secretshare_pending (endpoint, submission_id, seq, contributor_key, share, received_at)
        SELECT r.endpoint, r.submission_id, r.seq, i.contributor, i.share, r.received_at
        FROM registered r JOIN input i ON i.endpoint = r.endpoint AND i.id = r.submission_id
    )
    SELECT array_agg(r.received_at ORDER BY i.n) INTO stored
    FROM input i LEFT JOIN registered r ON r.endpoint = i.endpoint AND r.submission_id = i.id;
    RETURN stored;
END
$$;
