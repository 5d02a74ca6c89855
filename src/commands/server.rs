//! Server commands.

use crate::commands::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
