ALTER TABLE donation_types DROP COLUMN reason_detail;
ALTER TABLE part_type_results DROP COLUMN reason_detail;
