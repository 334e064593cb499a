//! The state every handler gets, passed explicitly (no globals).

use std::sync::Arc;

use crate::config::Settings;
use crate::db::Db;
use crate::keys::KeyRing;
use crate::ocpi::client::OcpiClient;

pub struct AppState {
    pub settings: Settings,
    pub db: Db,
    pub keys: Arc<KeyRing>,
    /// Base URL partners use, without a trailing slash.
    pub public_url: String,
    pub client: OcpiClient,
    /// Wakes this process's push worker after a change was enqueued.
    pub outbox_wakeup: Arc<crate::push::worker::Wakeup>,
    /// The OCPP message log (written in batches by one task).
    pub ocpp_log: Arc<crate::ocpp::log::MessageLog>,
    /// The writer of batched transaction updates (MeterValues, TransactionEvent Updated).
    pub ocpp_tx: Arc<crate::ocpp::tx_batch::TxWriter>,
    /// Charge point reads of the OCPP handshakes, batched.
    pub ocpp_chargers: Arc<crate::ocpp::gateway::ChargerReads>,
    /// Charge points connected to this instance.
    pub ocpp_registry: Arc<crate::ocpp::gateway::Registry>,
    /// The OCPP JSON schemas, when `HUB_OCPP_SCHEMA_DIR` names them.
    pub ocpp_schemas: Option<Arc<crate::ocpp::schema::Schemas>>,
    /// Recent authorisation decisions per charge point and token.
    pub recent_authorizations: Arc<crate::ocpi::tokens::authorize::RecentDecisions>,
    /// Ordered keys of recent location list queries.
    pub location_lists: Arc<crate::db::list_cache::ListCache>,
    /// The platforms that get a party's session pushes, as last looked up.
    pub recipients: Arc<crate::push::RecipientCache>,
}

impl AppState {
    /// The state registered with the app, for extractors that only get the request.
    pub fn of(
        req: &actix_web::HttpRequest,
    ) -> Result<&actix_web::web::Data<AppState>, crate::error::AppError> {
        req.app_data::<actix_web::web::Data<AppState>>()
            .ok_or_else(|| crate::error::AppError::internal("application state missing"))
    }

    /// The hub's versions endpoint, as partners must call it.
    pub fn versions_url(&self) -> String {
        format!("{}/ocpi/versions", self.public_url)
    }

    pub fn outbox_wakeup_handle(&self) -> Arc<crate::push::worker::Wakeup> {
        self.outbox_wakeup.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.public_url, path)
    }
}
