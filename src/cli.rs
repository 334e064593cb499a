//! The command line: `serve` (default), `migrate`, `openapi`, `admin-token`, `party …`.

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::error::AppError;
use crate::ocpi::types::{CountryCode, PartyId, Role};
use crate::startup::{self, Application};

#[derive(Debug, Parser)]
#[command(name = "ocpi-hub", version, about = "OCPI 2.2.1 roaming hub")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the hub (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Mint an admin bearer token (printed alone on stdout).
    AdminToken {
        #[arg(long, default_value = "operator")]
        subject: String,
        /// Lifetime in seconds (default: HUB_ADMIN_TOKEN_TTL_SECS).
        #[arg(long)]
        ttl: Option<i64>,
    },
    /// Manage partner platforms.
    Party {
        #[command(subcommand)]
        command: PartyCommand,
    },
    /// Charge points of the OCPP gateway.
    Charger {
        #[command(subcommand)]
        command: ChargerCommand,
    },
    /// Simulate charge points against a hub's OCPP listener.
    Simulate(SimulateArgs),
    /// Locations of the hub's own charge points.
    Location {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Tariffs of the hub's own charge points.
    Tariff {
        #[command(subcommand)]
        command: ImportCommand,
    },
}

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The hub's OCPP listener.
    #[arg(long, default_value = "ws://127.0.0.1:9000")]
    pub url: String,
    #[arg(long, default_value_t = 10)]
    pub count: usize,
    /// Charge point ids are PREFIX-1 … PREFIX-COUNT.
    #[arg(long, default_value = "SIM")]
    pub prefix: String,
    #[arg(long, default_value = "simulator-password")]
    pub password: String,
    /// 1.6, 2.0.1 or mixed.
    #[arg(long, default_value = "mixed")]
    pub protocol: String,
    /// Charging sessions per charge point.
    #[arg(long, default_value_t = 1)]
    pub sessions: u32,
    #[arg(long, default_value_t = 30)]
    pub session_secs: u64,
    #[arg(long, default_value_t = 5)]
    pub meter_every_secs: u64,
    #[arg(long, default_value_t = 11.0)]
    pub power_kw: f64,
    #[arg(long, default_value_t = 60)]
    pub heartbeat_secs: u64,
    /// Keep running (heartbeats, answering calls) this long.
    #[arg(long, default_value_t = 60)]
    pub duration_secs: u64,
    /// Register the charge points first (in the database of DATABASE_URL).
    #[arg(long)]
    pub register: bool,
    /// Replay the real sessions of this CSV (formats of ../shared/data: Dundee, Perth &
    /// Kinross, Norway residential); the file's charge points replace --count.
    #[arg(long)]
    pub replay: Option<std::path::PathBuf>,
    /// Replay only the first N sessions (in start order).
    #[arg(long)]
    pub replay_limit: Option<usize>,
    /// Replay speed: simulated seconds per second (3600: an hour per second).
    #[arg(long, default_value_t = 3600.0)]
    pub speedup: f64,
    /// Meter values of replayed sessions every this many simulated seconds.
    #[arg(long, default_value_t = 900)]
    pub replay_meter_secs: u64,
}

#[derive(Debug, Subcommand)]
pub enum ChargerCommand {
    /// Register a charge point (security profile 1: HTTP Basic with this password).
    Add {
        id: String,
        #[arg(long)]
        password: String,
        /// The own location whose EVSEs `{id}-{evse}` it drives.
        #[arg(long)]
        location_id: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Create or replace from a JSON file holding one OCPI object or an array; validated like a
    /// partner's push, then pushed to every eMSP by the running hub.
    Import { file: String },
}

#[derive(Debug, Subcommand)]
pub enum PartyCommand {
    /// Create a partner and print its Token A and the hub's versions URL.
    Register {
        #[arg(long)]
        role: String,
        #[arg(long)]
        country_code: String,
        #[arg(long)]
        party_id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Register the hub with a partner that gave us its versions URL and Token A.
    Connect {
        #[arg(long)]
        versions_url: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        json: bool,
    },
    /// List every partner, its roles, version and state.
    List {
        #[arg(long)]
        json: bool,
    },
}

fn settings() -> Result<Settings, AppError> {
    Settings::from_env().map_err(|e| AppError::invalid(e.to_string()))
}

fn offline_state(settings: Settings) -> Result<crate::state::AppState, AppError> {
    let public = startup::default_public_url(&settings, settings.http_addr.port());
    startup::build_state(settings, public)
}

fn print_json(v: &impl serde::Serialize) -> Result<(), AppError> {
    println!(
        "{}",
        serde_json::to_string_pretty(v).map_err(AppError::internal)?
    );
    Ok(())
}

pub async fn run(cli: Cli) -> Result<(), AppError> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        print!("{}", crate::openapi::document());
        return Ok(());
    }
    let settings = settings()?;
    crate::telemetry::init(settings.log_format, &settings.log_level);
    match command {
        Command::Serve => {
            let app = tokio::task::spawn_blocking(move || Application::build(settings))
                .await
                .map_err(AppError::internal)??;
            app.run_until_stopped().await.map_err(AppError::internal)
        }
        Command::Migrate => {
            let db =
                crate::db::Db::connect(&settings.database_url, 1).map_err(AppError::internal)?;
            let applied = crate::db::migrations::run(&db).map_err(AppError::internal)?;
            println!("{} migration(s) applied", applied.len());
            Ok(())
        }
        Command::Openapi => Ok(()),
        Command::AdminToken { subject, ttl } => {
            let ttl = ttl.unwrap_or(settings.admin_token_ttl_secs);
            let state = offline_state(settings)?;
            println!(
                "{}",
                state
                    .keys
                    .mint_admin(&subject, ttl)
                    .map_err(AppError::internal)?
            );
            Ok(())
        }
        Command::Party { command } => party(settings, command).await,
        Command::Charger {
            command:
                ChargerCommand::Add {
                    id,
                    password,
                    location_id,
                },
        } => {
            let state = offline_state(settings)?;
            crate::ocpp::gateway::add_charger(&state, &id, &password, location_id.as_deref())
                .await?;
            println!("charge point {id} registered");
            Ok(())
        }
        Command::Simulate(a) => {
            let version = match a.protocol.as_str() {
                "1.6" => Some(crate::ocpp::frame::Version::V16),
                "2.0.1" => Some(crate::ocpp::frame::Version::V201),
                "mixed" => None,
                other => {
                    return Err(AppError::invalid(format!(
                        "--protocol: `{other}` is not 1.6, 2.0.1 or mixed"
                    )));
                }
            };
            if !(a.speedup.is_finite() && a.speedup > 0.0) {
                return Err(AppError::invalid("--speedup: must be a positive number"));
            }
            let replay = match &a.replay {
                Some(file) => {
                    let l = crate::sim::replay::load(file, a.replay_limit)
                        .map_err(AppError::invalid)?;
                    eprintln!(
                        "simulate: replaying {} session(s) of {} charge point(s), {} row(s) skipped",
                        l.sessions.len(),
                        crate::sim::replay_charge_points(&l.sessions).len(),
                        l.skipped
                    );
                    Some(std::sync::Arc::new(l.sessions))
                }
                None => None,
            };
            let names: Vec<String> = match &replay {
                Some(r) => crate::sim::replay_charge_points(r),
                None => (1..=a.count).map(|n| n.to_string()).collect(),
            };
            if a.register {
                let state = offline_state(settings)?;
                for n in &names {
                    let id = format!("{}-{n}", a.prefix);
                    match crate::ocpp::gateway::add_charger(&state, &id, &a.password, None).await {
                        Ok(()) => {}
                        Err(e) if e.to_string().contains("exists") => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            let summary = crate::sim::run(crate::sim::SimConfig {
                url: a.url.trim_end_matches('/').to_string(),
                count: a.count,
                prefix: a.prefix,
                password: a.password,
                version,
                sessions: a.sessions,
                session_secs: a.session_secs,
                meter_every_secs: a.meter_every_secs,
                power_kw: a.power_kw,
                heartbeat_secs: a.heartbeat_secs,
                duration_secs: a.duration_secs,
                replay,
                speedup: a.speedup,
                replay_meter_secs: a.replay_meter_secs,
            })
            .await;
            print_json(&summary)
        }
        Command::Location {
            command: ImportCommand::Import { file },
        } => {
            let doc = crate::ocpi::import::read_file(&file)?;
            let state = offline_state(settings)?;
            let r = crate::ocpi::import::import_locations(&state, doc).await?;
            println!("{} location(s) created, {} updated", r.created, r.updated);
            Ok(())
        }
        Command::Tariff {
            command: ImportCommand::Import { file },
        } => {
            let doc = crate::ocpi::import::read_file(&file)?;
            let state = offline_state(settings)?;
            let r = crate::ocpi::import::import_tariffs(&state, doc).await?;
            println!("{} tariff(s) created, {} updated", r.created, r.updated);
            Ok(())
        }
    }
}

async fn party(settings: Settings, command: PartyCommand) -> Result<(), AppError> {
    let state = offline_state(settings)?;
    match command {
        PartyCommand::Register {
            role,
            country_code,
            party_id,
            name,
            json,
        } => {
            let role = Role::parse(&role).map_err(|e| AppError::invalid(format!("--role: {e}")))?;
            let cc = CountryCode::new(&country_code)
                .map_err(|e| AppError::invalid(format!("--country-code: {e}")))?;
            let pid = PartyId::new(&party_id)
                .map_err(|e| AppError::invalid(format!("--party-id: {e}")))?;
            let (p, token) =
                crate::ocpi::credentials::register_party(&state, role, &cc, &pid, &name).await?;
            let out = crate::admin::RegisterResponse {
                platform_id: p.id,
                token_a: token,
                versions_url: state.versions_url(),
            };
            if json {
                print_json(&out)?;
            } else {
                println!("Token A:      {}", out.token_a);
                println!("Versions URL: {}", out.versions_url);
                println!("Platform id:  {}", out.platform_id);
            }
            Ok(())
        }
        PartyCommand::Connect {
            versions_url,
            token,
            json,
        } => {
            let p = crate::ocpi::credentials::connect(&state, &versions_url, &token, None).await?;
            let parties = crate::admin::list_parties(&state).await?;
            let summary = parties.into_iter().find(|s| s.id == p.id);
            if json {
                print_json(&summary)?;
            } else {
                println!(
                    "Registered with {} (platform id {}), state {}",
                    versions_url, p.id, p.state
                );
            }
            Ok(())
        }
        PartyCommand::List { json } => {
            let parties = crate::admin::list_parties(&state).await?;
            if json {
                return print_json(&parties);
            }
            println!(
                "{:<36}  {:<12}  {:<7}  {:<8}  ROLES / NAME",
                "ID", "STATE", "VERSION", "BY"
            );
            for p in parties {
                let roles: Vec<String> = p
                    .roles
                    .iter()
                    .chain(p.expected.iter())
                    .map(|r| format!("{} {}/{}", r.role, r.country_code, r.party_id))
                    .collect();
                println!(
                    "{:<36}  {:<12}  {:<7}  {:<8}  {} — {}",
                    p.id,
                    p.state,
                    p.version.unwrap_or_else(|| "-".into()),
                    p.initiated_by,
                    roles.join(", "),
                    p.name
                );
            }
            Ok(())
        }
    }
}
