//! Integration tests: the real server over a real PostgreSQL, one fresh
//! database per test (see `common`). One binary, so one cluster per run.

mod common;

mod auth;
mod cli;
mod dataset;
mod embedded;
mod jobs;
mod openapi;
mod server;
