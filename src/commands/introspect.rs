//! Placeholder family: filled in by its own change.

use crate::commands::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
