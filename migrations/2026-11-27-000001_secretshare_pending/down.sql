DROP FUNCTION secretshare_submit(text[], bytea[], bytea[], bytea[], bytea[], bigint[], bigint[]);

ALTER TABLE secretshare_submissions
    ADD COLUMN share bytea,
    ADD COLUMN state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sealed', 'withdrawn')),
    ADD COLUMN batch_digest text;
-- Which batch a sealed submission went to is not kept; '' stands for it.
UPDATE secretshare_submissions s SET state = CASE
    WHEN s.withdrawn THEN 'withdrawn'
    WHEN EXISTS (SELECT 1 FROM secretshare_pending p WHERE p.endpoint = s.endpoint AND p.submission_id = s.submission_id) THEN 'pending'
    ELSE 'sealed' END;
UPDATE secretshare_submissions s SET share = p.share
    FROM secretshare_pending p WHERE p.endpoint = s.endpoint AND p.submission_id = s.submission_id;
UPDATE secretshare_submissions SET batch_digest = '' WHERE state = 'sealed';
ALTER TABLE secretshare_submissions DROP COLUMN withdrawn,
    ADD CHECK ((state = 'sealed') = (batch_digest IS NOT NULL)),
    ADD CHECK (state <> 'sealed' OR share IS NULL);
CREATE INDEX secretshare_submissions_pending ON secretshare_submissions (endpoint, seq) WHERE state = 'pending';

DROP TABLE secretshare_pending;
