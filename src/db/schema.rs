// @generated automatically by Diesel CLI.

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
    }
}

diesel::joinable!(api_tokens -> service_accounts (service_account_id));
diesel::joinable!(group_memberships -> groups (group_id));
diesel::joinable!(group_memberships -> users (user_id));
diesel::joinable!(service_accounts -> users (created_by_user_id));

diesel::allow_tables_to_appear_in_same_query!(api_tokens, group_memberships, groups, jobs, service_accounts, users,);
