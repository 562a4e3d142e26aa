DROP TABLE provider_releases;
DROP TRIGGER donation_types_notify_changed ON donation_types;
DROP TRIGGER donations_notify_changed ON donations;
DROP FUNCTION steward_notify_donation_changed();
DROP INDEX donations_participant;
ALTER TABLE donations DROP COLUMN participant_id;
DROP TABLE participants;
