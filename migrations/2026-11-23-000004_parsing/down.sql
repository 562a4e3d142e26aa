ALTER TABLE donation_types DROP COLUMN no_timestamp;
DROP TABLE part_type_results;
DROP TABLE parse_progress;
