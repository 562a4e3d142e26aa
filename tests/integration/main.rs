//! Integration tests: the real server over a real PostgreSQL, one fresh
//! database per test (see `common`). One binary, so one cluster per run.

mod common;

mod acceptance;
mod auth;
mod backup;
mod blobs_s3;
mod cli;
mod coherence;
mod compat;
mod dataset;
mod dataset_admin;
mod doctor;
mod donation;
mod donation_export;
mod donation_faults;
mod donation_participant;
mod donation_participant_rpc;
mod donation_processing;
mod donation_retention;
mod donation_return;
mod donation_sandbox;
mod donation_sandbox_tiktok;
mod donation_tiktok;
mod donation_workers;
mod embedded;
mod import;
mod jobs;
mod keys;
mod metrics;
mod ngauth;
mod openapi;
mod pages;
mod ratelimit;
mod scenarios;
mod scim;
mod secretshare;
mod secretshare_page;
mod server;
mod signin;
mod tos_pages;
mod upload;
mod upload_hooks;
mod upload_notify;
mod upload_restart;
mod upload_tus;
