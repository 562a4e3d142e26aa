DROP TABLE api_tokens;
DROP TABLE group_memberships;
DROP TABLE groups;
DROP TABLE service_accounts;
DROP TABLE users;
DROP SEQUENCE principal_id_seq;
DROP FUNCTION steward_set_updated_at();
