DROP INDEX api_tokens_one_long_lived;
ALTER TABLE api_tokens
    DROP CONSTRAINT api_tokens_long_lived_fields,
    DROP COLUMN generation,
    DROP COLUMN derivation_key_id;
DROP TABLE middleauth_apps;
DROP TABLE audit_log;
DROP TABLE public_roots;
DROP TABLE service_tables;
DROP TABLE grants;
DROP TABLE tos_acceptances;
ALTER TABLE datasets DROP COLUMN tos_document_id;
DROP TABLE tos_documents;
DROP FUNCTION steward_tos_text_sha256();
DROP TABLE dataset_version_buckets;
DROP TABLE dataset_versions;
DROP TABLE dataset_buckets;
DROP TABLE datasets;
DROP TABLE services;
DROP TRIGGER groups_scim_id ON groups;
ALTER TABLE groups DROP COLUMN external_id, DROP COLUMN scim_id;
DROP TABLE affiliations;
DROP TRIGGER users_scim_id ON users;
ALTER TABLE users
    DROP COLUMN external_id,
    DROP COLUMN scim_id,
    DROP COLUMN long_lived_generation,
    DROP COLUMN gdpr_consent,
    DROP COLUMN notes,
    DROP COLUMN pi;
DROP FUNCTION steward_assign_scim_id();
DROP FUNCTION steward_scim_id(TEXT, BIGINT);
DROP EXTENSION IF EXISTS "uuid-ossp";
