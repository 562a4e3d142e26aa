DROP TABLE oauth_attempts;
DROP TABLE visit_donations;
DROP TABLE visits;
ALTER TABLE donations DROP COLUMN terms_version;
