DROP TABLE secretshare_batches;
DROP TABLE secretshare_submissions;
DROP TABLE secretshare_endpoints;
DROP TABLE sealed_secrets;
