//! The server's commands, as both protocols share them.

pub mod group;
