DROP TABLE sandbox_calls;
DROP TABLE sandbox_parts;
DROP TABLE sandbox_jobs;
DROP TABLE sandbox_tokens;
DROP TABLE sandbox_codes;
DROP TABLE sandbox_grants;
