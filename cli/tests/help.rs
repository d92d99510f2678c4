//! The `clouddc` binary's command line: which subcommand takes which option
//! (before or after its name), `-o`, the help headings, shell completions
//! and their install line, the demo's `--transport` and `--output json`,
//! and durations that need a unit.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{Run, clouddc, run};

mod common;
use clouddc_simulator::{Auth, BlockingHandle, NewInstance, Schedule, SimConfig};
use serde_json::Value;

const TOKEN: &str = "TOKEN-HELP-7d31";
const PROJECT: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";

/// The options that may come before or after the subcommand, each with a
/// value that every subcommand taking it accepts (`{token_file}` is
/// replaced by a file holding [`TOKEN`]).
const OPTIONS: &[&[&str]] = &[
    &["--output", "json"],
    &["-o", "json"],
    &["-v"],
    &["--endpoint", "{endpoint}"],
    &["--region", "cn-east-3"],
    &["--project-id", "{project}"],
    &["--token", TOKEN],
    &["--token-file", "{token_file}"],
    &["--transport", "{transport}"],
    &["--attempt-timeout", "5s"],
    &["--max-attempts", "2"],
    &["--insecure-http"],
];

/// Which of [`OPTIONS`] (by first word) each subcommand takes: the contract.
fn takes(subcommand: &str, option: &str) -> bool {
    match subcommand {
        "status" | "wait" | "watch" => true,
        "simulate" => matches!(
            option,
            "--output" | "-o" | "-v" | "--project-id" | "--token" | "--token-file"
        ),
        "demo" => matches!(option, "--output" | "-o" | "-v" | "--transport"),
        "completions" => option == "-v",
        other => panic!("unknown subcommand {other}"),
    }
}

/// A transport this build has, and the other one when it has both.
fn transports() -> (&'static str, &'static str) {
    let built = [
        #[cfg(feature = "reqwest")]
        "reqwest",
        #[cfg(feature = "ureq")]
        "ureq",
    ];
    (built[0], built[built.len() - 1])
}

fn sim() -> BlockingHandle {
    let config = SimConfig::builder()
        .listen(([127, 0, 0, 1], 0).into())
        .auth(Auth::token(TOKEN))
        .instances(0)
        .build()
        .expect("sim config");
    let sim = clouddc_simulator::start_blocking(config).expect("start the simulator");
    sim.control()
        .create_instance(
            NewInstance::new()
                .with_id("i-1")
                .with_schedule(Schedule::instant()),
        )
        .expect("create instance");
    sim
}

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

/// A file holding [`TOKEN`], removed on drop.
struct TokenFile(PathBuf);

impl TokenFile {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("clouddc-help-{}-{name}.token", std::process::id()));
        std::fs::write(&path, format!("{TOKEN}\n")).expect("write token file");
        Self(path)
    }
}

impl Drop for TokenFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `option` with its placeholders filled in.
fn fill(option: &[&str], endpoint: &str, project: &str, token_file: &TokenFile) -> Vec<String> {
    let (transport, _) = transports();
    option
        .iter()
        .map(|w| match *w {
            "{endpoint}" => endpoint.to_owned(),
            "{project}" => project.to_owned(),
            "{token_file}" => token_file.0.display().to_string(),
            "{transport}" => transport.to_owned(),
            other => other.to_owned(),
        })
        .collect()
}

/// Whether the run was refused for an unknown or misplaced option.
fn refused(r: &Run) -> bool {
    r.code == 2 && (r.stderr.contains("unexpected argument") || r.stderr.contains("does not take"))
}

/// The option given before and after the subcommand, for `sub` (whose
/// first word is the subcommand and the rest its own arguments).
fn both_positions(sub: &[&str], option: &[String]) -> [Vec<String>; 2] {
    let sub: Vec<String> = sub.iter().map(|s| (*s).to_owned()).collect();
    [
        option.iter().chain(&sub).cloned().collect(),
        sub.iter().chain(option).cloned().collect(),
    ]
}

#[test]
fn an_option_a_subcommand_does_not_use_is_refused_in_either_position() {
    let token_file = TokenFile::new("refused");
    let subcommands: &[&[&str]] = &[
        &["completions", "bash"],
        &["demo"],
        &["simulate", "--listen", "127.0.0.1:0"],
    ];
    for sub in subcommands {
        for option in OPTIONS {
            if takes(sub[0], option[0]) {
                continue;
            }
            let option = fill(option, "https://clouddc.example", PROJECT, &token_file);
            for args in both_positions(sub, &option) {
                let mut c = clouddc();
                c.args(&args).timeout(Duration::from_secs(10));
                let r = run(c);
                assert!(refused(&r), "{args:?}: exit {}: {}", r.code, r.stderr);
                assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
                assert!(r.stderr.contains(&option[0]), "{args:?}: {}", r.stderr);
                // The message names the subcommands that do take it.
                assert!(r.stderr.contains("status, wait"), "{args:?}: {}", r.stderr);
            }
        }
    }
}

#[test]
fn the_named_cases_of_the_contract_exit_2() {
    for args in [
        &["completions", "bash", "--endpoint", "foo"][..],
        &["--endpoint", "foo", "completions", "bash"],
        &["demo", "--attempt-timeout", "5s"],
        &["--attempt-timeout", "5s", "demo"],
        &["simulate", "--max-attempts", "2"],
    ] {
        let mut c = clouddc();
        c.args(args);
        let r = run(c);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn the_api_subcommands_take_every_option_in_either_position() {
    let sim = sim();
    let token_file = TokenFile::new("api");
    let subcommands: &[&[&str]] = &[
        &["status", "i-1"],
        &["wait", "i-1", "--until", "running", "--interval", "100ms"],
        &[
            "watch",
            "i-1",
            "--until-all",
            "running",
            "--interval",
            "100ms",
        ],
    ];
    for sub in subcommands {
        for option in OPTIONS {
            assert!(takes(sub[0], option[0]));
            let name = option[0];
            let option = fill(option, sim.url(), sim.project_id(), &token_file);
            for args in both_positions(sub, &option) {
                let mut c = clouddc();
                // Where to go, unless the option under test says it (an
                // option given twice on one side is an error of its own).
                if name != "--endpoint" {
                    c.args(["--endpoint", sim.url()]);
                }
                if name != "--project-id" {
                    c.args(["--project-id", sim.project_id()]);
                }
                c.env("CLOUDDC_AUTH_TOKEN", TOKEN);
                c.args(&args);
                let r = run(c);
                assert!(!refused(&r), "{args:?}: {}", r.stderr);
                // And the command runs to its end with the option: i-1 is
                // running, so the wait and the watch end at once with 0.
                assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
                assert!(r.stdout.contains("running"), "{args:?}: {}", r.stdout);
            }
        }
    }
}

/// Starts `clouddc ARGS` as a simulator; true when it printed its first
/// line (it is then stopped), false when it exited first.
fn simulator_starts(args: &[String]) -> (bool, String) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("clouddc"))
        .args(args)
        .env_remove("CLOUDDC_AUTH_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn simulate");
    let mut first = String::new();
    let read = BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .unwrap_or(0);
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait for simulate");
    (read > 0, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn simulate_takes_its_options_in_either_position() {
    let token_file = TokenFile::new("simulate");
    for option in OPTIONS {
        if !takes("simulate", option[0]) {
            continue;
        }
        let option = fill(option, "", PROJECT, &token_file);
        for args in both_positions(&["simulate", "--listen", "127.0.0.1:0"], &option) {
            let (started, stderr) = simulator_starts(&args);
            assert!(started, "{args:?}: {stderr}");
        }
    }
    let (started, stderr) = simulator_starts(&[
        "-o".into(),
        "json".into(),
        "simulate".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ]);
    assert!(started, "{stderr}");
}

#[test]
fn short_o_is_output() {
    let sim = sim();
    for args in [
        &["-o", "json", "status", "i-1"][..],
        &["status", "i-1", "-o", "json"],
    ] {
        let mut c = clouddc();
        c.args(["--endpoint", sim.url(), "--project-id", sim.project_id()]);
        c.env("CLOUDDC_AUTH_TOKEN", TOKEN);
        c.args(args);
        let r = run(c);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        let recs = json_lines(&r.stdout);
        assert_eq!(recs.len(), 1, "{}", r.stdout);
        assert_eq!(recs[0]["state"], "running");
    }
}

#[test]
fn completions_take_only_the_shell_and_verbose() {
    for args in [
        &["completions", "bash"][..],
        &["-v", "completions", "bash"],
        &["completions", "bash", "-v"],
    ] {
        let mut c = clouddc();
        c.args(args);
        let r = run(c);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(r.stdout.contains("complete"), "{args:?}");
    }
}

#[test]
fn completions_offer_the_states_and_regions_and_say_how_to_install() {
    let mut c = clouddc();
    c.args(["completions", "bash"]);
    let r = run(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let script = &r.stdout;
    for option in ["--until)", "--until-all)", "--region)"] {
        assert!(script.contains(option), "no case for {option}");
    }
    let until = script
        .split("--until)")
        .nth(1)
        .and_then(|rest| rest.lines().nth(1))
        .unwrap_or_default();
    for state in [
        "pending",
        "running",
        "shutting-down",
        "terminated",
        "failed",
    ] {
        assert!(until.contains(state), "{state} not in {until}");
    }
    assert!(script.contains("cn-east-3"));
    // The install line is on stderr, not in the script.
    assert!(
        r.stderr.contains(
            "clouddc completions bash > ~/.local/share/bash-completion/completions/clouddc"
        ),
        "{}",
        r.stderr
    );
    assert!(!script.contains("bash-completion/completions"));

    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let mut c = clouddc();
        c.args(["completions", shell]);
        let r = run(c);
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        // Elvish and PowerShell scripts complete option names only.
        if matches!(shell, "zsh" | "fish") {
            assert!(r.stdout.contains("shutting-down"), "{shell}");
        }
        // The install line first (zsh adds what to put in ~/.zshrc).
        assert!(r.stderr.lines().count() <= 2, "{shell}: {}", r.stderr);
        let first = r.stderr.lines().next().unwrap_or("");
        assert!(first.starts_with("# install: "), "{shell}: {}", r.stderr);
        assert!(
            first.contains(&format!("clouddc completions {shell}")),
            "{shell}: {}",
            r.stderr
        );
    }
}

#[test]
fn help_groups_the_options_under_headings() {
    let help = |args: &[&str]| {
        let mut c = clouddc();
        c.args(args);
        let r = run(c);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        r.stdout
    };
    for args in [&["--help"][..], &["status", "--help"], &["wait", "--help"]] {
        let text = help(args);
        assert!(text.contains("Global options:"), "{args:?}: {text}");
        assert!(text.contains("Connection options:"), "{args:?}: {text}");
        let global = text.split("Global options:").nth(1).unwrap_or_default();
        assert!(global.contains("-o, --output"), "{args:?}: {text}");
        let connection = text.split("Connection options:").nth(1).unwrap_or_default();
        assert!(connection.contains("--attempt-timeout"), "{args:?}: {text}");
    }
    let text = help(&["completions", "--help"]);
    assert!(!text.contains("Connection options"), "{text}");
    assert!(
        !text.contains("--endpoint") && !text.contains("--output"),
        "{text}"
    );
    let text = help(&["demo", "--help"]);
    assert!(
        text.contains("--transport") && text.contains("--output"),
        "{text}"
    );
    assert!(
        !text.contains("--endpoint") && !text.contains("--attempt-timeout"),
        "{text}"
    );
    let text = help(&["watch", "--help"]);
    for option in ["--for", "--until-all", "--interval", "--no-progress"] {
        assert!(text.contains(option), "{option}: {text}");
    }
    let text = help(&["status", "--help"]);
    for option in ["--unordered", "--no-progress"] {
        assert!(text.contains(option), "{option}: {text}");
    }
}

#[test]
fn watch_for_and_until_all_exclude_each_other() {
    let mut c = clouddc();
    c.args(["watch", "i-1", "--for", "1m", "--until-all", "running"]);
    let r = run(c);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--for"), "{}", r.stderr);
}

#[test]
fn durations_need_a_unit_and_at_most_a_century() {
    let sim = sim();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "wait",
                "i-1",
                "--until",
                "running",
                "--timeout",
                "15",
                "minutes",
            ],
            "did you mean 15s?",
        ),
        (
            &["wait", "i-1", "--until", "running", "--interval", "5"],
            "did you mean 5s?",
        ),
        (
            &["status", "i-1", "--attempt-timeout", "10"],
            "did you mean 10s?",
        ),
        (&["--attempt-timeout", "101y", "status", "i-1"], "100 years"),
        (
            &[
                "wait",
                "i-1",
                "--until",
                "running",
                "--timeout",
                "99999999999999999999s",
            ],
            "100 years",
        ),
        (&["watch", "i-1", "--for", "0s"], "greater than zero"),
    ];
    for (args, needle) in cases {
        let mut c = clouddc();
        c.args(["--endpoint", sim.url(), "--project-id", sim.project_id()]);
        c.env("CLOUDDC_AUTH_TOKEN", TOKEN);
        c.args(*args);
        let r = run(c);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
    assert_eq!(sim.control().counters().global.requests, 0);
}

/// `clouddc ARGS demo ARGS` with JSON output: stdout is the records alone.
fn demo_json(before: &[&str], after: &[&str]) {
    let mut c = clouddc();
    c.args(before).arg("demo").args(after);
    c.timeout(Duration::from_secs(30));
    let r = run(c);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let records = json_lines(&r.stdout);
    // Six status records, then four wait records.
    assert_eq!(records.len(), 10, "{}", r.stdout);
    assert!(
        records[..6]
            .iter()
            .all(|v| v["ok"] == true && v.get("outcome").is_none())
    );
    let outcomes: Vec<&str> = records[6..]
        .iter()
        .map(|v| v["outcome"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(outcomes, ["reached", "reached", "reached", "failed"]);
    // The narration is on stderr.
    assert!(
        r.stderr.contains("3 reached running, 1 failed fast"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("$ clouddc wait"), "{}", r.stderr);
}

#[test]
fn demo_json_stdout_is_only_records_with_the_other_transport() {
    let (_, other) = transports();
    demo_json(&["--output", "json"], &["--transport", other]);
}

#[test]
fn demo_takes_transport_before_and_output_after() {
    let (_, other) = transports();
    demo_json(&["--transport", other], &["-o", "json"]);
}

#[test]
fn demo_with_a_transport_this_build_lacks_is_a_usage_error() {
    let built = [
        #[cfg(feature = "reqwest")]
        "reqwest",
        #[cfg(feature = "ureq")]
        "ureq",
    ];
    let Some(missing) = ["reqwest", "ureq"].into_iter().find(|t| !built.contains(t)) else {
        return; // this build has both
    };
    let mut c = clouddc();
    c.args(["demo", "--transport", missing]);
    let r = run(c);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(r.stderr.contains("lacks the"), "{}", r.stderr);
}
