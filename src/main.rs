//! The `switchboard` binary: parses the command line and runs the chosen command.

use clap::Parser;
use switchboard_server::cli::{Cli, Command};
use switchboard_server::{config, server};

fn main() {
    switchboard_server::logging::init();
    let cli = Cli::parse();
    if let Some(Command::Bench(bench)) = &cli.command {
        std::process::exit(switchboard_server::bench::run(bench.clone()));
    }
    if let Some(Command::Demo(demo)) = &cli.command {
        std::process::exit(switchboard_server::demo::run(demo.seconds, demo.http));
    }
    let args = cli.serve_args();
    let config = match config::load(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("switchboard: {e}");
            std::process::exit(server::EXIT_CONFIG);
        }
    };
    std::process::exit(server::run(config, args.metrics));
}
