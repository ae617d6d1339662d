//! The Switchboard server as a library: the demo protocols of PROTOCOL.md (`frame`
//! and `line`) and the commands they share, the configuration and the command line.
//! The `switchboard` binary wires them to the switchboard library; integration tests
//! use them directly.

pub mod backends;
pub mod bench;
pub mod cli;
pub mod cluster_stats;
pub mod commands;
pub mod config;
pub mod demo;
pub mod identity;
pub mod logging;
pub mod metrics;
pub mod protocols;
pub mod secret;
pub mod server;
pub mod tls;
pub mod web;
