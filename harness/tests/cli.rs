//! The command line's conventions: `--version`, shell completions and man pages, checked by
//! running the built binary.

use std::process::{Command, Output};

fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sio-harness"))
        .args(args)
        .output()
        .expect("sio-harness runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn prints_its_crate_version() {
    assert_eq!(
        stdout(&harness(&["--version"])),
        format!("sio-harness {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// Runs `script` in a non-interactive bash after sourcing the completion script, and returns
/// what it printed.
fn in_bash_with_completions(script: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let completions = dir.path().join("sio-harness.bash");
    std::fs::write(&completions, stdout(&harness(&["completions", "bash"]))).expect("write");
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&completions)
        .output()
        .expect("bash runs");
    assert!(
        syntax.status.success(),
        "not valid bash: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!("source {:?}\n{script}", completions))
        .output()
        .expect("bash runs");
    stdout(&output)
}

/// What bash offers for the last word of `line`, through the function `complete -p` names.
fn bash_completes(line: &str) -> Vec<String> {
    let script = format!(
        r#"spec=$(complete -p sio-harness) || exit 1
function=$(sed -E 's/.* -F ([^ ]+) .*/\1/' <<<"$spec")
COMP_LINE={line:?}
COMP_POINT=${{#COMP_LINE}}
read -ra COMP_WORDS <<<"$COMP_LINE"
[[ $COMP_LINE == *' ' ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
"$function" sio-harness "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#
    );
    in_bash_with_completions(&script)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completion_is_valid_bash_and_completes_subcommands_and_options() {
    assert_eq!(bash_completes("sio-harness ch"), ["check", "churn"]);
    assert_eq!(bash_completes("sio-harness comp"), ["completions"]);
    let run_options = bash_completes("sio-harness run --target");
    assert!(
        run_options.contains(&"--target".to_owned())
            && run_options.contains(&"--targets-file".to_owned()),
        "{run_options:?}"
    );
    let all = bash_completes("sio-harness ");
    assert!(all.contains(&"fuzz".to_owned()), "{all:?}");
}

#[test]
fn zsh_and_fish_completions_name_the_subcommands() {
    for shell in ["zsh", "fish"] {
        let script = stdout(&harness(&["completions", shell]));
        for word in ["check", "targets-file", "completions"] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
    let refused = harness(&["completions", "tcsh"]);
    assert_eq!(refused.status.code(), Some(2));
}

/// Every visible subcommand has its page; groff renders each without a warning.
#[test]
fn man_pages_cover_every_subcommand_and_render() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("man1");
    stdout(&harness(&["man", out.to_str().expect("utf-8 path")]));
    let mut pages: Vec<String> = std::fs::read_dir(&out)
        .expect("man dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    pages.sort();
    for page in [
        "sio-harness.1",
        "sio-harness-run.1",
        "sio-harness-check.1",
        "sio-harness-completions.1",
        "sio-harness-man.1",
    ] {
        assert!(
            pages.contains(&page.to_owned()),
            "{page} missing: {pages:?}"
        );
    }
    assert!(!pages.iter().any(|p| p.contains("worker")), "{pages:?}");
    let top = std::fs::read_to_string(out.join("sio-harness.1")).expect("read");
    assert!(top.contains("sio\\-harness\\-run(1)"), "no run page named");
    let Some(rendered) = render(&out.join("sio-harness-run.1")) else {
        return;
    };
    for text in ["--target", "--snapshots", "Run scenarios against a target"] {
        assert!(rendered.contains(text), "no {text:?} in\n{rendered}");
    }
}

/// The page as `groff -man` renders it (warnings are errors); `None` without groff, which
/// only a machine without man-db lacks (scripts/setup.sh installs it for the test command).
fn render(page: &std::path::Path) -> Option<String> {
    let output = match Command::new("groff")
        // ASCII without bold or underline overstrikes: the text as a reader sees it.
        .args(["-man", "-Tascii", "-P-cbou", "-ww", "-rLL=200n"])
        .arg(page)
        .output()
    {
        Ok(output) => output,
        Err(error) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "groff is missing ({error}; Debian package groff-base)"
            );
            eprintln!("skipping the rendering: groff is not installed");
            return None;
        }
    };
    assert!(
        output.stderr.is_empty(),
        "groff warns: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}
