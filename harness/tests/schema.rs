//! The JSON Schemas in harness/schema/: what the parser's types generate, committed as such;
//! every scenario and targets file in the repository valid under them (checked by the
//! `jsonschema` crate, a validator that shares no code with our parser); and a misspelt key
//! refused by both the schema and `sio-harness check`, naming the same key.

use std::path::{Path, PathBuf};
use std::process::Command;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde_json::Value;
use sio_harness::schema::SchemaKind;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn committed(kind: SchemaKind) -> PathBuf {
    repository().join("harness/schema").join(kind.file_name())
}

fn validator(kind: SchemaKind) -> Validator {
    let schema: Value = serde_json::from_str(&kind.generate()).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

/// Every message the validator gives for `instance`, the alternatives of `anyOf`/`oneOf`
/// included (an editor shows the closest one).
fn schema_errors(validator: &Validator, instance: &Value) -> Vec<String> {
    fn collect(error: &ValidationError<'_>, into: &mut Vec<String>) {
        into.push(format!("{} at {}", error, error.instance_path()));
        if let ValidationErrorKind::AnyOf { context }
        | ValidationErrorKind::OneOfNotValid { context } = error.kind()
        {
            for error in context.iter().flatten() {
                collect(error, into);
            }
        }
    }
    let mut messages = Vec::new();
    for error in validator.iter_errors(instance) {
        collect(&error, &mut messages);
    }
    messages
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn committed_schemas_are_what_the_types_generate() {
    for kind in SchemaKind::ALL {
        let path = committed(kind);
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == kind.generate(),
            "{} differs from what the parser's types generate; regenerate it with\n  \
             cargo run -q -p sio-harness -- schema {} > harness/schema/{}",
            path.display(),
            format!("{kind:?}").to_lowercase(),
            kind.file_name()
        );
    }
}

/// The repository's YAML files, outside build output, installed packages, vendored crates and
/// the deliberately broken scenarios of the parser's tests.
fn yaml_files(dir: &Path, into: &mut Vec<PathBuf>) {
    const SKIPPED: &[&str] = &["target", "node_modules", "vendor", ".git", "bad-scenarios"];
    for entry in std::fs::read_dir(dir).expect("readable folder") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if !SKIPPED.contains(&name) {
                yaml_files(&path, into);
            }
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            into.push(path);
        }
    }
}

#[test]
fn every_scenario_targets_and_profile_file_in_the_repository_is_valid() {
    let mut files = Vec::new();
    yaml_files(&repository(), &mut files);
    let scenario = validator(SchemaKind::Scenario);
    let targets = validator(SchemaKind::Targets);
    let profile = validator(SchemaKind::Profile);
    let (mut scenarios, mut target_files, mut profiles) = (0, 0, 0);
    for file in &files {
        let document = yaml(file);
        // What a file is, by its top-level keys: other YAML (e.g. the differential fuzzer's
        // known differences) is not ours to check.
        let validator = if document.get("targets").is_some() {
            target_files += 1;
            &targets
        } else if document.get("client").is_some() && document.get("name").is_some() {
            sio_harness::scenario::profile::load_profile(file).unwrap_or_else(|e| panic!("{e}"));
            profiles += 1;
            &profile
        } else if (document.get("steps").is_some() || document.get("scenarios").is_some())
            // An Artillery script (benches/artillery/) also has `scenarios`, beside its `config`.
            && document.get("config").is_none()
        {
            sio_harness::scenario::load_file(file).unwrap_or_else(|e| panic!("{e}"));
            scenarios += 1;
            &scenario
        } else {
            continue;
        };
        let errors = schema_errors(validator, &document);
        assert!(
            errors.is_empty(),
            "{}:\n{}",
            file.display(),
            errors.join("\n")
        );
    }
    assert!(
        scenarios >= 20 && target_files >= 3 && profiles >= 2,
        "{scenarios} scenario files, {target_files} targets files, {profiles} load profiles"
    );
}

#[test]
fn a_misspelt_key_is_named_by_the_schema_and_by_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("typo.yaml");
    std::fs::write(
        &file,
        "name: typo\nsteps:\n  - connect: { client: a }\n  - emit: { client: a, evnet: hello }\n",
    )
    .expect("write");
    let errors = schema_errors(&validator(SchemaKind::Scenario), &yaml(&file));
    assert!(
        errors.iter().any(|e| e.contains("'evnet'")),
        "the schema does not name the key:\n{}",
        errors.join("\n")
    );
    let check = Command::new(env!("CARGO_BIN_EXE_sio-harness"))
        .arg("check")
        .arg(&file)
        .output()
        .expect("sio-harness runs");
    assert_eq!(check.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(stderr.contains("`evnet`"), "{stderr}");

    let targets = dir.path().join("targets.yaml");
    std::fs::write(
        &targets,
        "targets:\n  local:\n    url: http://127.0.0.1:3000\n    rest: { command: [./reset.sh] }\n",
    )
    .expect("write");
    let errors = schema_errors(&validator(SchemaKind::Targets), &yaml(&targets));
    assert!(
        errors.iter().any(|e| e.contains("'rest'")),
        "{}",
        errors.join("\n")
    );
    let error =
        sio_harness::target::Target::resolve("local", &targets, None).expect_err("a misspelt key");
    assert!(error.to_string().contains("`rest`"), "{error}");
}

/// What an editor does with a folder `init` wrote: reads the modeline's schema beside the file
/// and validates the file with it.
#[test]
fn init_writes_files_valid_under_the_schemas_their_modelines_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    sio_harness::init::write(dir.path()).expect("init writes");
    for file in ["example.yaml", "targets.yaml"] {
        let path = dir.path().join(file);
        let text = std::fs::read_to_string(&path).expect("read");
        let named = text
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("# yaml-language-server: $schema="))
            .unwrap_or_else(|| panic!("{file} has no modeline"));
        let schema: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(named)).expect("the named schema exists"),
        )
        .expect("JSON");
        let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
        let errors = schema_errors(&validator, &yaml(&path));
        assert!(errors.is_empty(), "{file}:\n{}", errors.join("\n"));
    }
}
