//! The OpenAPI document, generated from the handlers' annotations. `ocpi-hub openapi` prints
//! it; `openapi/openapi.json` is the committed copy (a test fails when it is stale); the hub
//! serves it at `/openapi.json`.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "ocpi_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <base64 of the credentials token>` (the raw token is accepted too)",
            ))),
        );
        components.add_security_scheme(
            "admin_jwt",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("minted by `ocpi-hub admin-token`"))
                    .build(),
            ),
        );
    }
}

/// The Location paths also exist one and two levels deeper (EVSE, Connector): copy them with
/// the extra path parameters.
struct DeeperLevels;

impl Modify for DeeperLevels {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{Parameter, ParameterIn};
        let param = |name: &str, what: &str| {
            let mut p = Parameter::new(name);
            p.parameter_in = ParameterIn::Path;
            p.description = Some(what.to_string());
            p
        };
        for base in [
            "/ocpi/2.2.1/receiver/locations/{country_code}/{party_id}/{location_id}",
            "/ocpi/2.2.1/sender/locations/{location_id}",
        ] {
            let Some(item) = openapi.paths.paths.get(base).cloned() else {
                continue;
            };
            let mut evse = item.clone();
            let extra = vec![param("evse_uid", "EVSE.uid")];
            evse.parameters = Some(extra.clone());
            let mut connector = item;
            connector.parameters = Some(vec![
                param("evse_uid", "EVSE.uid"),
                param("connector_id", "Connector.id"),
            ]);
            openapi
                .paths
                .paths
                .insert(format!("{base}/{{evse_uid}}"), evse);
            openapi
                .paths
                .paths
                .insert(format!("{base}/{{evse_uid}}/{{connector_id}}"), connector);
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ocpi-hub",
        description = "OCPI 2.2.1 roaming hub. Every OCPI answer is the envelope {data, status_code, status_message, timestamp}; every response echoes X-Request-ID and X-Correlation-ID.",
    ),
    paths(
        crate::ocpi::versions::versions,
        crate::ocpi::versions::version_details,
        crate::ocpi::credentials::get_credentials,
        crate::ocpi::credentials::post_credentials,
        crate::ocpi::credentials::put_credentials,
        crate::ocpi::credentials::delete_credentials,
        crate::ocpi::hubclientinfo::list,
        crate::ocpi::locations::receiver::get,
        crate::ocpi::locations::receiver::put,
        crate::ocpi::locations::receiver::patch,
        crate::ocpi::locations::sender::list,
        crate::ocpi::locations::sender::one,
        crate::ocpi::tariffs::interfaces::get,
        crate::ocpi::tariffs::interfaces::put,
        crate::ocpi::tariffs::interfaces::delete,
        crate::ocpi::tariffs::interfaces::list,
        crate::ocpi::tokens::interfaces::get,
        crate::ocpi::tokens::interfaces::put,
        crate::ocpi::tokens::interfaces::patch,
        crate::ocpi::tokens::interfaces::list,
        crate::ocpi::tokens::interfaces::authorize_request,
        crate::ocpi::sessions::interfaces::list,
        crate::ocpi::sessions::interfaces::charging_preferences,
        crate::ocpi::sessions::interfaces::get,
        crate::ocpi::sessions::interfaces::put,
        crate::ocpi::sessions::interfaces::patch,
        crate::ocpi::cdrs::interfaces::list,
        crate::ocpi::cdrs::interfaces::post,
        crate::ocpi::cdrs::interfaces::get,
        crate::ocpi::commands::interfaces::receive,
        crate::ocpi::commands::interfaces::result,
        crate::admin::cdrs::credit,
        crate::admin::cdrs::usage,
        crate::admin::cdrs::export_csv,
        crate::admin::get_parties,
        crate::admin::post_party,
        crate::admin::post_connect,
        crate::admin::delete_party,
        crate::admin::patch_party,
        crate::admin::get_outbox,
        crate::admin::get_delivery,
        crate::admin::retry_delivery,
        crate::admin::discard_delivery,
        crate::admin::post_locations,
        crate::admin::post_tariffs,
        crate::ocpi::search::search,
        crate::admin::chargers::list,
        crate::admin::chargers::detail,
        crate::admin::chargers::create,
        crate::admin::chargers::start,
        crate::admin::chargers::stop,
        crate::admin::chargers::reset,
        crate::admin::chargers::availability,
        crate::admin::chargers::power,
        crate::admin::chargers::messages,
        crate::admin::chargers::raw_call,
        crate::startup::health,
        crate::startup::ready,
        crate::startup::jwks,
        crate::startup::openapi_json,
    ),
    modifiers(&Security, &DeeperLevels)
)]
pub struct ApiDoc;

/// The document as committed: pretty JSON with a final newline.
pub fn document() -> String {
    let mut s = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}
