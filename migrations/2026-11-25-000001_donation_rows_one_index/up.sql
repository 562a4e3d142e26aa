-- One B-tree on donation_rows instead of two (spec donation.md §5.7 asks for
-- the order index; §5.3 for rows never duplicated). The order index made
-- unique, with NULLS NOT DISTINCT so rows without a timestamp count too, is
-- the row identity as well: a parse is deterministic, so a row re-read from
-- its archive has the same `ts`. Every row inserted costs one index entry
-- less, and batches go in without ON CONFLICT (speculative insertion costs
-- twice a plain insert); a batch that meets rows already there falls back to
-- ON CONFLICT DO NOTHING against this index. diesel needs a primary key to
-- describe a table: src/db/schema.patch restores this table's block, which
-- print-schema leaves out (diesel.toml).
ALTER TABLE donation_rows DROP CONSTRAINT donation_rows_pkey;
DROP INDEX donation_rows_order;
CREATE UNIQUE INDEX donation_rows_order
    ON donation_rows (donation_id, data_type, ts, part_id, member_no, ordinal) NULLS NOT DISTINCT;
