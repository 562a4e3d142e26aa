DROP TABLE archive_parts;
DROP TABLE provider_exports;
DROP TABLE provider_grants;
