DROP INDEX donation_rows_order;
ALTER TABLE donation_rows ADD PRIMARY KEY (donation_id, data_type, part_id, member_no, ordinal);
CREATE INDEX donation_rows_order ON donation_rows (donation_id, data_type, ts, part_id, member_no, ordinal);
