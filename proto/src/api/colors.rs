//! `/api/colors` and `/api/colors/{color_id}` (ledfx-api.md §3.25).

use serde::{Deserialize, Serialize};

use super::{Command, Json};

/// Colour and gradient commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ColorCommand {
    /// `GET /api/colors`: built-in and user colours and gradients.
    List,
    /// `POST /api/colors`: the body, `{name: colour or gradient, …}`.
    Save { entries: Json },
    /// `DELETE /api/colors` with a list of names.
    DeleteMany { names: Vec<String> },
    /// `DELETE /api/colors/{color_id}`.
    DeleteOne { id: String },
}

impl Command for ColorCommand {
    const GROUP: &'static str = "colors";

    fn is_read(&self) -> bool {
        matches!(self, Self::List)
    }
}
