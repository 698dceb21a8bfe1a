//! `/api/schema` and `/api/schema/{schema_type}` (ledfx-api.md §3.3, §1.6).

use serde::{Deserialize, Serialize};

use super::Command;

/// Schema commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SchemaCommand {
    /// `GET /api/schema`: every schema a LedFx client reads at start-up, or only the
    /// sections named in `keys` (names that are not sections are dropped; when none is left,
    /// or `keys` is empty, everything).
    Get { keys: Vec<String> },
    /// `GET /api/schema/{schema_type}`: one section, bare.
    GetType { schema_type: String },
}

impl Command for SchemaCommand {
    const GROUP: &'static str = "schema";

    fn is_read(&self) -> bool {
        true
    }
}
