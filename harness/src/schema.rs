//! The JSON Schemas of the files the harness reads (scenario, targets and load profile files), generated
//! from the very types their parsers deserialize into, so a schema cannot drift from the
//! parser. `sio-harness schema KIND` prints one; `harness/schema/` holds them committed (a test
//! fails when they differ from what the types generate), and `init` writes the scenario and
//! targets schemas beside the starter files, named by a `yaml-language-server` modeline.

use clap::ValueEnum;

/// A kind of file with a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    Scenario,
    Targets,
    /// A load profile (`--profile` of the load modes).
    Profile,
}

impl SchemaKind {
    pub const ALL: [SchemaKind; 3] = [
        SchemaKind::Scenario,
        SchemaKind::Targets,
        SchemaKind::Profile,
    ];

    /// The schema's file name, in `harness/schema/` and beside what `init` writes.
    pub fn file_name(self) -> &'static str {
        match self {
            SchemaKind::Scenario => "scenario.schema.json",
            SchemaKind::Targets => "targets.schema.json",
            SchemaKind::Profile => "profile.schema.json",
        }
    }

    /// The schema as JSON text, pretty-printed with a final newline (the committed form).
    pub fn generate(self) -> String {
        let schema = match self {
            SchemaKind::Scenario => crate::scenario::parse::schema(),
            SchemaKind::Targets => crate::target::targets_schema(),
            SchemaKind::Profile => crate::scenario::profile::schema(),
        };
        // A schema is plain JSON values and string keys: it always serializes.
        let text = serde_json::to_string_pretty(&schema).unwrap_or_default();
        format!("{text}\n")
    }
}
