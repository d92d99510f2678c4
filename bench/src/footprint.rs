//! Item 5: clean release build times, stripped CLI sizes and the core's
//! crate count. Slow (minutes): each build starts from an empty target
//! directory under the system temp dir.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::child::BoxError;
use crate::report::{Goal, Row, Section, Unit};

/// The workspace root (this crate's parent directory).
pub(crate) fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Runs the builds and counts; a build that fails becomes a row saying so.
pub(crate) fn run(rounds: usize) -> Result<Section, BoxError> {
    let root = workspace_root();
    let base = std::env::temp_dir().join("clouddc-bench-footprint");
    std::fs::create_dir_all(&base)?;
    let cli_member = workspace_has(&root, "clouddc-cli")?;
    let mut rows = Vec::new();
    let mut notes = Vec::new();

    let mut ws_times = Vec::new();
    let mut ureq_times = Vec::new();
    let mut errors = Vec::new();
    for round in 0..rounds.max(1) {
        eprintln!(
            "footprint: clean release build of the workspace ({}/{}; minutes)",
            round + 1,
            rounds.max(1)
        );
        match clean_build(&root, &base.join("workspace"), &["--workspace"]) {
            Ok(secs) => ws_times.push(secs),
            Err(e) => errors.push(format!("workspace build: {e}")),
        }
        if cli_member {
            eprintln!("footprint: clean release build of the CLI with only `ureq`");
            let args = [
                "-p",
                "clouddc-cli",
                "--no-default-features",
                "--features",
                "ureq",
            ];
            match clean_build(&root, &base.join("cli-ureq"), &args) {
                Ok(secs) => ureq_times.push(secs),
                Err(e) => errors.push(format!("CLI (ureq only) build: {e}")),
            }
        }
    }
    rows.push(time_row(
        "clean release build, whole workspace (`cargo build --release --workspace`)",
        &ws_times,
    ));
    let not_member = "not measured: `cli` is not a workspace member";
    if cli_member {
        rows.push(time_row(
            "clean release build, CLI with only `ureq` (`-p clouddc-cli --no-default-features --features ureq`)",
            &ureq_times,
        ));
        for (what, dir) in [
            (
                "stripped `clouddc` binary, default features (reqwest + ureq)",
                "workspace",
            ),
            ("stripped `clouddc` binary, only `ureq`", "cli-ureq"),
        ] {
            let bin = base.join(dir).join("release").join("clouddc");
            rows.push(match stripped_size(&bin, &base) {
                Ok(bytes) => Row::exact("5", what, bytes as f64 / 1024.0 / 1024.0, Unit::MiB),
                Err(e) => Row::text("5", what, format!("not measured: {e}")),
            });
        }
    } else {
        rows.push(Row::text(
            "5",
            "clean release build, CLI with only `ureq`",
            not_member,
        ));
        rows.push(Row::text(
            "5",
            "stripped `clouddc` binary, both ways",
            not_member,
        ));
    }
    match crate_count(&root) {
        Ok((listed, unique)) => {
            rows.push(Row::exact(
                "5",
                "crates in `clouddc-core`'s normal dependency tree (`cargo tree … | sort -u | wc -l`)",
                listed as f64,
                Unit::Count,
            ));
            notes.push(crate::discussion::footprint(
                &rows,
                listed,
                unique,
                rounds.max(1),
            ));
        }
        Err(e) => rows.push(Row::text(
            "5",
            "crates of `clouddc-core`",
            format!("not measured: {e}"),
        )),
    }
    for e in errors {
        notes.push(format!("Footprint: {e}"));
    }
    Ok(Section { rows, notes })
}

fn time_row(what: &str, secs: &[f64]) -> Row {
    if secs.is_empty() {
        Row::text("5", what, "not measured: the build failed (see below)")
    } else {
        Row::measured("5", what, secs, Unit::Secs, Goal::None)
    }
}

/// Whether `cargo metadata` lists `package` as a workspace member.
fn workspace_has(root: &Path, package: &str) -> Result<bool, BoxError> {
    let out = Command::new(cargo())
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err("cargo metadata failed".into());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let members: Vec<&str> = v["workspace_members"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m.as_str()).collect())
        .unwrap_or_default();
    Ok(v["packages"].as_array().is_some_and(|ps| {
        ps.iter().any(|p| {
            p["name"] == package && p["id"].as_str().is_some_and(|id| members.contains(&id))
        })
    }))
}

/// `cargo build --release <args>` in an empty target directory: seconds.
fn clean_build(root: &Path, target: &Path, args: &[&str]) -> Result<f64, BoxError> {
    if target.exists() {
        std::fs::remove_dir_all(target)?;
    }
    std::fs::create_dir_all(target)?;
    let log = std::fs::File::create(target.with_extension("log"))?;
    let t = Instant::now();
    let status = Command::new(cargo())
        .args(["build", "--release"])
        .args(args)
        .current_dir(root)
        .env("CARGO_TARGET_DIR", target)
        .stdout(Stdio::null())
        .stderr(log)
        .status()?;
    let secs = t.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!(
            "cargo exited with {status}; see {}",
            target.with_extension("log").display()
        )
        .into());
    }
    Ok(secs)
}

/// The size of a stripped copy of `bin`.
fn stripped_size(bin: &Path, scratch: &Path) -> Result<u64, BoxError> {
    if !bin.exists() {
        return Err(format!("{} was not built", bin.display()).into());
    }
    let copy = scratch.join(format!(
        "{}.stripped",
        bin.parent()
            .and_then(Path::parent)
            .and_then(Path::file_name)
            .map_or_else(|| "bin".into(), |n| n.to_string_lossy())
    ));
    std::fs::copy(bin, &copy)?;
    let status = Command::new("strip").arg(&copy).status();
    match status {
        Ok(s) if s.success() => Ok(std::fs::metadata(&copy)?.len()),
        Ok(s) => Err(format!("strip exited with {s}").into()),
        Err(e) => Err(format!("strip did not run: {e}").into()),
    }
}

/// `cargo tree -p clouddc-core -e normal --prefix none | sort -u | wc -l`,
/// and the number of distinct crates (without the `(*)` repeats).
fn crate_count(root: &Path) -> Result<(usize, usize), BoxError> {
    let out = Command::new(cargo())
        .args([
            "tree",
            "-p",
            "clouddc-core",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err("cargo tree failed".into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let listed: std::collections::BTreeSet<&str> = text.lines().collect();
    let unique: std::collections::BTreeSet<&str> = listed
        .iter()
        .map(|l| l.trim_end_matches(" (*)").trim_end())
        .collect();
    Ok((listed.len(), unique.len()))
}
