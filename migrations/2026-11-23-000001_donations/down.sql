DROP TABLE donation_events;
DROP TABLE donation_rows;
DROP TABLE donation_keys;
DROP TABLE donation_types;
DROP TABLE donations;
