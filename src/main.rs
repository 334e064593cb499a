//! Thin: parse the command line, start telemetry, dispatch.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = ocpi_hub::cli::Cli::parse();
    match ocpi_hub::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ocpi-hub: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
