// The tables, as diesel sees them. Kept by hand in step with migrations/ (both backends).

diesel::table! {
    hub_keys (kid) {
        kid -> Text,
        secret -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    platforms (id) {
        id -> Text,
        name -> Text,
        state -> Text,
        initiated_by -> Text,
        expected_role -> Nullable<Text>,
        expected_country_code -> Nullable<Text>,
        expected_party_id -> Nullable<Text>,
        versions_url -> Nullable<Text>,
        version -> Nullable<Text>,
        endpoints -> Nullable<Text>,
        their_token -> Nullable<Text>,
        auth_base64 -> Bool,
        store_and_forward -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    platform_roles (id) {
        id -> Text,
        platform_id -> Text,
        role -> Text,
        country_code -> Text,
        party_id -> Text,
        business_details -> Text,
        active -> Bool,
        last_updated -> Timestamp,
    }
}

diesel::table! {
    credentials_tokens (token_hash) {
        token_hash -> Text,
        platform_id -> Text,
        kind -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(platform_roles -> platforms (platform_id));
diesel::joinable!(credentials_tokens -> platforms (platform_id));
diesel::allow_tables_to_appear_in_same_query!(
    hub_keys,
    platforms,
    platform_roles,
    credentials_tokens
);
