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

diesel::table! {
    locations (key) {
        key -> Text,
        country_code -> Text,
        party_id -> Text,
        id -> Text,
        object -> Text,
        publish -> Bool,
        lat_e7 -> BigInt,
        lon_e7 -> BigInt,
        source_platform_id -> Nullable<Text>,
        last_updated -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    location_visibility (location_key, country_code, party_id) {
        location_key -> Text,
        country_code -> Text,
        party_id -> Text,
    }
}

diesel::table! {
    tariffs (key) {
        key -> Text,
        country_code -> Text,
        party_id -> Text,
        id -> Text,
        object -> Text,
        source_platform_id -> Nullable<Text>,
        last_updated -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    outbox (id) {
        id -> BigInt,
        platform_id -> Text,
        module -> Text,
        object_group -> Text,
        method -> Text,
        path -> Text,
        body -> Nullable<Text>,
        from_country_code -> Text,
        from_party_id -> Text,
        state -> Text,
        attempts -> BigInt,
        next_attempt_at -> Timestamp,
        leased_until -> Nullable<Timestamp>,
        lease_owner -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        to_country_code -> Nullable<Text>,
        to_party_id -> Nullable<Text>,
    }
}

diesel::table! {
    chargers (id) {
        id -> Text,
        password_hash -> Nullable<Text>,
        location_id -> Nullable<Text>,
        enabled -> Bool,
        protocol -> Nullable<Text>,
        vendor -> Nullable<Text>,
        model -> Nullable<Text>,
        firmware -> Nullable<Text>,
        connected -> Bool,
        last_boot_at -> Nullable<Timestamp>,
        last_heartbeat_at -> Nullable<Timestamp>,
        last_seen_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    charger_connection_log (id) {
        id -> BigInt,
        charger_id -> Text,
        event -> Text,
        protocol -> Nullable<Text>,
        detail -> Nullable<Text>,
        at -> Timestamp,
    }
}

diesel::table! {
    ocpp_transactions (id) {
        id -> BigInt,
        charger_id -> Text,
        transaction_id -> Text,
        protocol -> Text,
        evse_id -> Nullable<BigInt>,
        connector_id -> Nullable<BigInt>,
        id_token -> Nullable<Text>,
        id_token_type -> Nullable<Text>,
        state -> Text,
        started_at -> Nullable<Timestamp>,
        stopped_at -> Nullable<Timestamp>,
        meter_start_wh -> Nullable<Text>,
        meter_stop_wh -> Nullable<Text>,
        stop_reason -> Nullable<Text>,
        last_seq_no -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        token_key -> Nullable<Text>,
        auth_method -> Nullable<Text>,
        authorization_reference -> Nullable<Text>,
        authorized -> Nullable<Bool>,
        token_object -> Nullable<Text>,
    }
}

diesel::table! {
    tokens (key) {
        key -> Text,
        country_code -> Text,
        party_id -> Text,
        uid -> Text,
        uid_key -> Text,
        token_type -> Text,
        valid -> Bool,
        whitelist -> Text,
        object -> Text,
        source_platform_id -> Nullable<Text>,
        last_updated -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    ocpp_transaction_events (id) {
        id -> BigInt,
        transaction_ref -> BigInt,
        action -> Text,
        event_type -> Nullable<Text>,
        seq_no -> Nullable<BigInt>,
        occurred_at -> Timestamp,
        payload -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    ocpp_meter_values (id) {
        id -> BigInt,
        transaction_ref -> Nullable<BigInt>,
        charger_id -> Text,
        evse_id -> Nullable<BigInt>,
        sampled_at -> Timestamp,
        measurand -> Text,
        phase -> Nullable<Text>,
        context -> Nullable<Text>,
        location -> Nullable<Text>,
        value -> Text,
        unit -> Text,
    }
}

diesel::table! {
    ocpp_messages (id) {
        id -> BigInt,
        charger_id -> Text,
        direction -> Text,
        message_type -> BigInt,
        message_id -> Text,
        action -> Nullable<Text>,
        payload -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    ocpp_calls (id) {
        id -> BigInt,
        charger_id -> Text,
        action -> Text,
        payload -> Text,
        state -> Text,
        taken_by -> Nullable<Text>,
        response -> Nullable<Text>,
        error_kind -> Nullable<Text>,
        error -> Nullable<Text>,
        deadline -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::joinable!(location_visibility -> locations (location_key));
diesel::allow_tables_to_appear_in_same_query!(
    hub_keys,
    platforms,
    platform_roles,
    credentials_tokens,
    locations,
    location_visibility,
    tariffs,
    outbox,
    chargers,
    charger_connection_log,
    ocpp_transactions,
    ocpp_transaction_events,
    tokens,
    ocpp_meter_values,
    ocpp_messages,
    ocpp_calls
);

diesel::table! {
    sessions (key) {
        key -> Text,
        country_code -> Text,
        party_id -> Text,
        id -> Text,
        emsp_country_code -> Text,
        emsp_party_id -> Text,
        status -> Text,
        object -> Text,
        transaction_ref -> Nullable<BigInt>,
        source_platform_id -> Nullable<Text>,
        pushed_periods -> Nullable<Text>,
        charging_preferences -> Nullable<Text>,
        snapshot -> Nullable<Text>,
        last_updated -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    cdrs (key) {
        key -> Text,
        country_code -> Text,
        party_id -> Text,
        id -> Text,
        emsp_country_code -> Text,
        emsp_party_id -> Text,
        session_key -> Nullable<Text>,
        object -> Text,
        credit_reference_id -> Nullable<Text>,
        source_platform_id -> Nullable<Text>,
        emsp_location -> Nullable<Text>,
        last_updated -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    commands (id) {
        id -> Text,
        command -> Text,
        platform_id -> Text,
        emsp_country_code -> Text,
        emsp_party_id -> Text,
        response_url -> Text,
        request -> Text,
        charger_id -> Nullable<Text>,
        evse_id -> Nullable<BigInt>,
        connector_id -> Nullable<BigInt>,
        token_uid -> Nullable<Text>,
        remote_start_id -> Nullable<BigInt>,
        forwarded_to -> Nullable<Text>,
        state -> Text,
        result -> Nullable<Text>,
        transaction_ref -> Nullable<BigInt>,
        deadline -> Timestamp,
        created_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    reservations (id) {
        id -> BigInt,
        emsp_country_code -> Text,
        emsp_party_id -> Text,
        reservation_id -> Text,
        location_id -> Text,
        evse_uid -> Text,
        charger_id -> Text,
        evse_id -> BigInt,
        token -> Text,
        token_uid -> Text,
        response_url -> Text,
        platform_id -> Text,
        expires_at -> Timestamp,
        state -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        session_key -> Nullable<Text>,
    }
}
