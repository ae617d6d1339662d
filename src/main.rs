//! The `switchboard` binary: parses the command line and runs the chosen command.

use clap::Parser;
use switchboard_server::cli::Cli;
use switchboard_server::{config, server};

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Cli::parse().serve_args();
    let config = match config::load(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("switchboard: {e}");
            std::process::exit(server::EXIT_CONFIG);
        }
    };
    std::process::exit(server::run(config));
}
