//! The README's shell snippets that need neither the cloud nor a new build
//! run as written, in bash, with an empty `HOME` and the built `clouddc`
//! first on `PATH`: the completions install, the simulator as a newcomer
//! starts it, and the deploy script against it. So do the install lines
//! `clouddc completions SHELL` prints. A snippet that is not found fails
//! the test: renaming one means updating this file.

// Helpers outside `#[test]` functions unwrap too: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `sh` blocks of the README.
fn sh_blocks() -> Vec<String> {
    blocks_of("sh")
}

/// The README's fenced blocks of language `lang`.
fn blocks_of(lang: &str) -> Vec<String> {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(readme).unwrap();
    let fence = format!("```{lang}");
    let mut blocks = Vec::new();
    let mut open: Option<Vec<&str>> = None;
    for line in text.lines() {
        match (&mut open, line.trim_end()) {
            (None, l) if l == fence => open = Some(Vec::new()),
            (Some(_), "```") => blocks.push(open.take().unwrap().join("\n")),
            (Some(body), l) => body.push(l),
            (None, _) => {}
        }
    }
    blocks
}

/// The one `sh` block that contains `marker`.
fn block(marker: &str) -> String {
    let found: Vec<String> = sh_blocks()
        .into_iter()
        .filter(|b| b.contains(marker))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "README sh blocks with {marker:?}: {found:?}"
    );
    found.into_iter().next().unwrap()
}

/// The folder of the built binary, to go first on `PATH`.
fn bin_dir() -> PathBuf {
    assert_cmd::cargo::cargo_bin("clouddc")
        .parent()
        .unwrap()
        .to_owned()
}

/// Runs `script` in bash, in a new empty folder that is also `HOME`, with
/// nothing of the caller's environment but `PATH` (the built binary
/// first). Returns the exit code, stdout, stderr and the folder.
fn bash(script: &str) -> (i32, String, String, tempfile::TempDir) {
    let home = tempfile::tempdir().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-c", script])
        .current_dir(home.path())
        .env_clear()
        .env("PATH", path)
        .env("HOME", home.path())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        home,
    )
}

/// Whether `tool` is here; on CI it must be (`.ci/run` installs it).
fn have(tool: &str) -> bool {
    let here = Command::new(tool).arg("--version").output().is_ok();
    if !here {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is missing on CI: .ci/run installs it"
        );
        eprintln!("{tool} is missing: the README snippets that use it were not run");
    }
    here
}

#[test]
fn the_completions_install_line_works_on_a_fresh_account() {
    let (code, _, err, home) = bash(&block("clouddc completions bash >"));
    assert_eq!(code, 0, "{err}");
    let script = home
        .path()
        .join(".local/share/bash-completion/completions/clouddc");
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("--until"), "{}", script.display());
}

#[test]
fn the_printed_install_lines_work_on_a_fresh_account() {
    for (shell, file) in [
        ("bash", ".local/share/bash-completion/completions/clouddc"),
        ("zsh", ".zfunc/_clouddc"),
        ("fish", ".config/fish/completions/clouddc.fish"),
    ] {
        let out = Command::new(assert_cmd::cargo::cargo_bin("clouddc"))
            .args(["completions", shell])
            .output()
            .unwrap();
        let hint = String::from_utf8_lossy(&out.stderr);
        let command = hint
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# install: "))
            .unwrap_or_else(|| panic!("{shell}: {hint:?}"));
        let (code, _, err, home) = bash(command);
        assert_eq!(code, 0, "{shell}: {command}: {err}");
        let written = std::fs::metadata(home.path().join(file)).unwrap();
        assert!(written.len() > 100, "{shell}: {file}");
    }
}

#[test]
fn the_simulator_and_the_deploy_script_run_as_written() {
    if !have("jq") {
        return;
    }
    let start = block("clouddc simulate --listen 127.0.0.1:0");
    let deploy = block("clouddc wait \"$ID\" --until running");
    // The simulator stops with the script.
    let script = format!("{start}\n{deploy}\nkill %1\n");
    let (code, out, err, home) = bash(&script);
    assert_eq!(code, 0, "{out}\n{err}");
    // The status line of the pending instance, then the script's verdict.
    assert!(out.contains("pending"), "{out}");
    assert_eq!(out.lines().last(), Some("running"), "{out}\n{err}");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.path().join("wait.json")).unwrap())
            .unwrap();
    assert_eq!(record["outcome"], "reached");
    assert_eq!(record["state"], "running");
}

#[test]
fn the_readme_alert_rules_and_scrape_config_pass_promtool() {
    if !have("promtool") {
        return;
    }
    let yaml = blocks_of("yaml");
    let rules: Vec<&String> = yaml.iter().filter(|b| b.contains("groups:")).collect();
    let scrape: Vec<&String> = yaml
        .iter()
        .filter(|b| b.contains("scrape_configs:"))
        .collect();
    assert_eq!((rules.len(), scrape.len()), (1, 1), "{yaml:?}");
    let dir = tempfile::tempdir().unwrap();
    let (rules_file, config_file) = (
        dir.path().join("rules.yml"),
        dir.path().join("prometheus.yml"),
    );
    std::fs::write(&rules_file, rules[0]).unwrap();
    std::fs::write(&config_file, scrape[0]).unwrap();
    for args in [["check", "rules"], ["check", "config"]] {
        let file = if args[1] == "rules" {
            &rules_file
        } else {
            &config_file
        };
        let out = Command::new("promtool")
            .args(args)
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
