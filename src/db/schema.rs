// @generated automatically by Diesel CLI.

diesel::table! {
    affiliations (user_id, name) {
        user_id -> Int8,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Int8,
        token_hash -> Bytea,
        kind -> Text,
        user_id -> Nullable<Int8>,
        service_account_id -> Nullable<Int8>,
        description -> Text,
        expires_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        created_by_user_id -> Nullable<Int8>,
        created_at -> Timestamptz,
        derivation_key_id -> Nullable<Text>,
        generation -> Nullable<Int4>,
    }
}

diesel::table! {
    archive_parts (id) {
        id -> Int8,
        export_id -> Int8,
        part_no -> Int4,
        state -> Text,
        object_key -> Nullable<Text>,
        bytes -> Nullable<Int8>,
        sha256 -> Nullable<Bytea>,
        deleted_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        created_at -> Timestamptz,
        actor_user_id -> Nullable<Int8>,
        actor_service_account_id -> Nullable<Int8>,
        action -> Text,
        target_type -> Text,
        target_id -> Text,
        before_state -> Nullable<Jsonb>,
        after_state -> Nullable<Jsonb>,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    dataset_buckets (id) {
        id -> Int8,
        dataset_id -> Int8,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    dataset_version_buckets (version_id, bucket_id) {
        version_id -> Int8,
        bucket_id -> Int8,
        dataset_id -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    dataset_versions (id) {
        id -> Int8,
        dataset_id -> Int8,
        version -> Text,
        prefix -> Text,
        is_public -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    datasets (id) {
        id -> Int8,
        name -> Text,
        description -> Text,
        tos_document_id -> Nullable<Int8>,
        access_mode -> Text,
        scim_id -> Uuid,
        external_id -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    donation_events (id) {
        id -> Int8,
        donation_id -> Int4,
        kind -> Text,
        data_type -> Nullable<Text>,
        detail -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    donation_keys (donation_id) {
        donation_id -> Int4,
        key_id -> Text,
        wrapped_key -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    donation_rows (donation_id, data_type, part_id, member_no, ordinal) {
        donation_id -> Int4,
        data_type -> Text,
        part_id -> Int8,
        member_no -> Int4,
        ordinal -> Int8,
        ts -> Nullable<Timestamptz>,
        sealed -> Bytea,
    }
}

diesel::table! {
    donation_types (donation_id, data_type) {
        donation_id -> Int4,
        data_type -> Text,
        state -> Text,
        reason_code -> Nullable<Text>,
        rows -> Int8,
        outside_window -> Int8,
        skipped_records -> Int8,
        updated_at -> Timestamptz,
        no_timestamp -> Int8,
        reason_detail -> Nullable<Text>,
    }
}

diesel::table! {
    donations (id) {
        id -> Int4,
        owner_id -> Int8,
        dataset_id -> Nullable<Int8>,
        source -> Text,
        status -> Text,
        stage -> Text,
        data_start_date -> Nullable<Date>,
        data_end_date -> Nullable<Date>,
        requested_data_types -> Array<Nullable<Text>>,
        description -> Text,
        error_code -> Nullable<Text>,
        error_message -> Nullable<Text>,
        token_hash -> Bytea,
        request_id -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        terms_accepted_at -> Nullable<Timestamptz>,
        authorized_at -> Nullable<Timestamptz>,
        processed_at -> Nullable<Timestamptz>,
        participant_id -> Nullable<Int8>,
        terms_version -> Nullable<Bytea>,
    }
}

diesel::table! {
    grants (id) {
        id -> Int8,
        dataset_id -> Int8,
        dataset_version_id -> Nullable<Int8>,
        level -> Text,
        user_id -> Nullable<Int8>,
        group_id -> Nullable<Int8>,
        service_account_id -> Nullable<Int8>,
        team_group_id -> Nullable<Int8>,
        source -> Text,
        granted_by_user_id -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    group_memberships (user_id, group_id) {
        user_id -> Int8,
        group_id -> Int8,
        is_admin -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    groups (id) {
        id -> Int8,
        name -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        scim_id -> Uuid,
        external_id -> Nullable<Text>,
    }
}

diesel::table! {
    jobs (id) {
        id -> Int8,
        kind -> Text,
        payload -> Jsonb,
        priority -> Int2,
        state -> Text,
        attempts -> Int4,
        max_attempts -> Int4,
        run_at -> Timestamptz,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        dedup_key -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    middleauth_apps (id) {
        id -> Int8,
        name -> Text,
        url -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    oauth_attempts (id) {
        id -> Int8,
        state_hash -> Bytea,
        provider -> Text,
        donation_id -> Int4,
        visit_id -> Nullable<Int8>,
        code_verifier_sealed -> Bytea,
        scopes -> Array<Nullable<Text>>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        consumed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    parse_progress (part_id, data_type, member_no) {
        part_id -> Int8,
        data_type -> Text,
        member_no -> Int4,
        last_ordinal -> Int8,
        done -> Bool,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    part_type_results (part_id, data_type) {
        part_id -> Int8,
        data_type -> Text,
        outcome -> Text,
        reason_code -> Nullable<Text>,
        rows -> Int8,
        outside_window -> Int8,
        no_timestamp -> Int8,
        skipped_records -> Int8,
        created_at -> Timestamptz,
        reason_detail -> Nullable<Text>,
    }
}

diesel::table! {
    participants (id) {
        id -> Int8,
        token_hash -> Bytea,
        create_time -> Timestamptz,
    }
}

diesel::table! {
    provider_exports (id) {
        id -> Int8,
        donation_id -> Int4,
        resource -> Text,
        job_id -> Nullable<Text>,
        state -> Text,
        reason_code -> Nullable<Text>,
        retries -> Int4,
        polls -> Int4,
        next_poll_at -> Nullable<Timestamptz>,
        deadline_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    provider_grants (id) {
        id -> Int8,
        donation_id -> Int4,
        provider -> Text,
        key_id -> Text,
        access_token_sealed -> Bytea,
        access_expires_at -> Nullable<Timestamptz>,
        refresh_token_sealed -> Nullable<Bytea>,
        refresh_expires_at -> Nullable<Timestamptz>,
        granted_resources -> Array<Nullable<Text>>,
        access_type -> Nullable<Text>,
        released_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    provider_releases (id) {
        id -> Int8,
        donation_id -> Int4,
        provider -> Text,
        key_id -> Text,
        access_token_sealed -> Nullable<Bytea>,
        access_expires_at -> Nullable<Timestamptz>,
        refresh_token_sealed -> Nullable<Bytea>,
        cancel_job_ids -> Array<Nullable<Text>>,
        state -> Text,
        attempts -> Int4,
        last_error -> Nullable<Text>,
        released_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    public_roots (id) {
        id -> Int8,
        service_table_id -> Int8,
        root_id -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    sandbox_calls (seq) {
        seq -> Int8,
        at -> Timestamptz,
        provider -> Text,
        method -> Text,
        path -> Text,
        query -> Nullable<Jsonb>,
        body -> Nullable<Jsonb>,
        auth_header -> Nullable<Text>,
        status -> Int4,
    }
}

diesel::table! {
    sandbox_codes (code_hash) {
        code_hash -> Bytea,
        grant_id -> Int8,
        redirect_uri -> Text,
        code_challenge -> Text,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sandbox_grants (id) {
        id -> Int8,
        provider -> Text,
        client_id -> Text,
        scenario -> Text,
        scopes -> Array<Nullable<Text>>,
        api_calls -> Int4,
        downloads -> Int4,
        revoked_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    sandbox_jobs (id) {
        id -> Text,
        grant_id -> Int8,
        resources -> Array<Nullable<Text>>,
        start_time -> Nullable<Timestamptz>,
        end_time -> Nullable<Timestamptz>,
        generation -> Int4,
        state -> Text,
        polls -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    sandbox_parts (job_id, part) {
        job_id -> Text,
        part -> Int4,
        bytes -> Int8,
    }
}

diesel::table! {
    sandbox_tokens (token_hash) {
        token_hash -> Bytea,
        grant_id -> Int8,
        kind -> Text,
        expires_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    sealed_secrets (name) {
        name -> Text,
        sealed -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    secretshare_batches (endpoint, batch_digest) {
        endpoint -> Text,
        batch_digest -> Text,
        seq -> Int8,
        submission_count -> Int8,
        contributor_count -> Int8,
        aggregate_share -> Bytea,
        sealed_at -> Timestamptz,
        sealed_by -> Text,
    }
}

diesel::table! {
    secretshare_endpoints (name) {
        name -> Text,
        description -> Text,
        vector_length -> Int4,
        encoding -> Text,
        decimal_scale -> Int4,
        min_value -> Int8,
        max_value -> Int8,
        min_batch_size -> Int4,
        max_submissions_per_contributor -> Int4,
        dataset_id -> Nullable<Int8>,
        config_digest -> Text,
        created_at -> Timestamptz,
        creator -> Text,
        archived_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    secretshare_pending (endpoint, submission_id) {
        endpoint -> Text,
        submission_id -> Bytea,
        seq -> Int8,
        contributor_key -> Bytea,
        share -> Bytea,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    secretshare_submissions (endpoint, submission_id) {
        endpoint -> Text,
        submission_id -> Bytea,
        seq -> Int8,
        contributor_key -> Bytea,
        share_sha256 -> Bytea,
        received_at -> Timestamptz,
        withdrawn -> Bool,
    }
}

diesel::table! {
    service_accounts (id) {
        id -> Int8,
        name -> Text,
        description -> Text,
        is_active -> Bool,
        created_by_user_id -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    service_tables (id) {
        id -> Int8,
        service_name -> Text,
        table_name -> Text,
        dataset_id -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    services (id) {
        id -> Int8,
        name -> Text,
        display_name -> Text,
        base_url -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    signin_used_states (state_hash) {
        state_hash -> Bytea,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    tos_acceptances (id) {
        id -> Int8,
        user_id -> Int8,
        tos_document_id -> Int8,
        accepted_at -> Timestamptz,
        ip_address -> Nullable<Inet>,
        user_agent -> Nullable<Text>,
        text_sha256 -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    tos_documents (id) {
        id -> Int8,
        name -> Text,
        text -> Text,
        text_sha256 -> Bytea,
        dataset_id -> Nullable<Int8>,
        dataset_version_id -> Nullable<Int8>,
        service_id -> Nullable<Int8>,
        invite_token -> Text,
        effective_at -> Timestamptz,
        retired_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    upload_code_failures (id) {
        id -> Int8,
        dropoff_id -> Uuid,
        client_addr -> Text,
        failed_at -> Timestamptz,
    }
}

diesel::table! {
    upload_dropoffs (id) {
        id -> Uuid,
        owner_user_id -> Int8,
        dataset_id -> Nullable<Int8>,
        title -> Text,
        description -> Text,
        recipient_emails -> Array<Nullable<Text>>,
        max_file_bytes -> Int8,
        max_total_bytes -> Int8,
        allowed_types -> Array<Nullable<Text>>,
        expire_time -> Timestamptz,
        code_hash -> Bytea,
        closed_at -> Nullable<Timestamptz>,
        deleted_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    upload_files (id) {
        id -> Uuid,
        dropoff_id -> Uuid,
        name -> Text,
        relative_path -> Text,
        size -> Nullable<Int8>,
        committed_offset -> Int8,
        content_type -> Text,
        metadata -> Jsonb,
        protocol -> Text,
        status -> Text,
        failure_reason -> Nullable<Text>,
        sha256 -> Nullable<Text>,
        expected_sha256 -> Nullable<Text>,
        wrapped_key -> Nullable<Bytea>,
        key_id -> Text,
        request_id -> Nullable<Text>,
        writer_id -> Nullable<Text>,
        writer_seen_at -> Nullable<Timestamptz>,
        external_ref -> Nullable<Jsonb>,
        created_at -> Timestamptz,
        last_write_at -> Timestamptz,
        expire_time -> Timestamptz,
        complete_time -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    upload_notification_recipients (notification_id, email) {
        notification_id -> Int8,
        email -> Text,
        status -> Text,
        attempts -> Int4,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    upload_notifications (id) {
        id -> Int8,
        dropoff_id -> Uuid,
        file_ids -> Array<Nullable<Uuid>>,
        created_at -> Timestamptz,
        claimed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    users (id) {
        id -> Int8,
        email -> Text,
        oidc_issuer -> Nullable<Text>,
        oidc_subject -> Nullable<Text>,
        name -> Text,
        display_name -> Text,
        picture_url -> Text,
        is_active -> Bool,
        read_only -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        pi -> Text,
        notes -> Text,
        gdpr_consent -> Bool,
        long_lived_generation -> Int4,
        scim_id -> Uuid,
        external_id -> Nullable<Text>,
    }
}

diesel::table! {
    visit_donations (visit_id, donation_id) {
        visit_id -> Int8,
        donation_id -> Int4,
        added_at -> Timestamptz,
    }
}

diesel::table! {
    visits (id) {
        id -> Int8,
        cookie_hash -> Bytea,
        participant_id -> Nullable<Int8>,
        current_donation -> Nullable<Int4>,
        donation_link_used -> Bool,
        participant_token_sealed -> Nullable<Bytea>,
        csrf_secret -> Bytea,
        language -> Nullable<Text>,
        idle_ttl_seconds -> Int4,
        created_at -> Timestamptz,
        absolute_expires_at -> Timestamptz,
        last_seen_at -> Timestamptz,
    }
}

diesel::joinable!(affiliations -> users (user_id));
diesel::joinable!(api_tokens -> service_accounts (service_account_id));
diesel::joinable!(archive_parts -> provider_exports (export_id));
diesel::joinable!(audit_log -> service_accounts (actor_service_account_id));
diesel::joinable!(audit_log -> users (actor_user_id));
diesel::joinable!(dataset_buckets -> datasets (dataset_id));
diesel::joinable!(dataset_versions -> datasets (dataset_id));
diesel::joinable!(donation_events -> donations (donation_id));
diesel::joinable!(donation_keys -> donations (donation_id));
diesel::joinable!(donation_types -> donations (donation_id));
diesel::joinable!(donations -> datasets (dataset_id));
diesel::joinable!(donations -> participants (participant_id));
diesel::joinable!(grants -> dataset_versions (dataset_version_id));
diesel::joinable!(grants -> datasets (dataset_id));
diesel::joinable!(grants -> service_accounts (service_account_id));
diesel::joinable!(group_memberships -> groups (group_id));
diesel::joinable!(group_memberships -> users (user_id));
diesel::joinable!(oauth_attempts -> donations (donation_id));
diesel::joinable!(oauth_attempts -> visits (visit_id));
diesel::joinable!(parse_progress -> archive_parts (part_id));
diesel::joinable!(part_type_results -> archive_parts (part_id));
diesel::joinable!(provider_exports -> donations (donation_id));
diesel::joinable!(provider_grants -> donations (donation_id));
diesel::joinable!(public_roots -> service_tables (service_table_id));
diesel::joinable!(sandbox_codes -> sandbox_grants (grant_id));
diesel::joinable!(sandbox_jobs -> sandbox_grants (grant_id));
diesel::joinable!(sandbox_parts -> sandbox_jobs (job_id));
diesel::joinable!(sandbox_tokens -> sandbox_grants (grant_id));
diesel::joinable!(secretshare_batches -> secretshare_endpoints (endpoint));
diesel::joinable!(secretshare_endpoints -> datasets (dataset_id));
diesel::joinable!(secretshare_submissions -> secretshare_endpoints (endpoint));
diesel::joinable!(service_accounts -> users (created_by_user_id));
diesel::joinable!(service_tables -> datasets (dataset_id));
diesel::joinable!(tos_acceptances -> tos_documents (tos_document_id));
diesel::joinable!(tos_acceptances -> users (user_id));
diesel::joinable!(tos_documents -> dataset_versions (dataset_version_id));
diesel::joinable!(tos_documents -> services (service_id));
diesel::joinable!(upload_code_failures -> upload_dropoffs (dropoff_id));
diesel::joinable!(upload_dropoffs -> datasets (dataset_id));
diesel::joinable!(upload_dropoffs -> users (owner_user_id));
diesel::joinable!(upload_files -> upload_dropoffs (dropoff_id));
diesel::joinable!(upload_notification_recipients -> upload_notifications (notification_id));
diesel::joinable!(upload_notifications -> upload_dropoffs (dropoff_id));
diesel::joinable!(visit_donations -> donations (donation_id));
diesel::joinable!(visit_donations -> visits (visit_id));
diesel::joinable!(visits -> donations (current_donation));
diesel::joinable!(visits -> participants (participant_id));

diesel::allow_tables_to_appear_in_same_query!(
    affiliations,
    api_tokens,
    archive_parts,
    audit_log,
    dataset_buckets,
    dataset_version_buckets,
    dataset_versions,
    datasets,
    donation_events,
    donation_keys,
    donation_rows,
    donation_types,
    donations,
    grants,
    group_memberships,
    groups,
    jobs,
    middleauth_apps,
    oauth_attempts,
    parse_progress,
    part_type_results,
    participants,
    provider_exports,
    provider_grants,
    provider_releases,
    public_roots,
    sandbox_calls,
    sandbox_codes,
    sandbox_grants,
    sandbox_jobs,
    sandbox_parts,
    sandbox_tokens,
    sealed_secrets,
    secretshare_batches,
    secretshare_endpoints,
    secretshare_pending,
    secretshare_submissions,
    service_accounts,
    service_tables,
    services,
    signin_used_states,
    tos_acceptances,
    tos_documents,
    upload_code_failures,
    upload_dropoffs,
    upload_files,
    upload_notification_recipients,
    upload_notifications,
    users,
    visit_donations,
    visits,
);
