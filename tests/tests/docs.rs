//! The crate docs' examples need exactly the dependencies their snippets
//! list: every crate a Rust example at the top of a crate's docs names
//! (`use x::...`, `x::...`, `#[x::main]`) is the crate itself, the standard
//! library, or in that doc's `[dependencies]` snippet. Doctests compile
//! with the crate's dev-dependencies too, so without this check an example
//! could need a crate its readers are never told to add.

use std::collections::BTreeSet;
use std::path::Path;

/// The crates whose top docs carry a copy-paste example, by folder.
const CRATES: [(&str, &str); 4] = [
    ("core", "clouddc_core"),
    ("transport-ureq", "clouddc_ureq"),
    ("transport-reqwest", "clouddc_reqwest"),
    ("simulator", "clouddc_simulator"),
];

/// The `//!` header of a source file, without the markers.
fn crate_doc(source: &str) -> String {
    source
        .lines()
        .take_while(|l| l.starts_with("//!") || l.trim().is_empty())
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The fenced blocks of `doc`: (info string, body).
fn blocks(doc: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut open: Option<(String, Vec<&str>)> = None;
    for line in doc.lines() {
        let t = line.trim_start();
        match (&mut open, t.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_owned(), Vec::new())),
            (Some(_), Some(_)) => {
                let (info, body) = open.take().unwrap_or_default();
                out.push((info, body.join("\n")));
            }
            (Some((_, body)), None) => body.push(line),
            (None, None) => {}
        }
    }
    out
}

fn is_rust(info: &str) -> bool {
    let first = info.split(',').next().unwrap_or("").trim();
    matches!(
        first,
        "" | "rust" | "no_run" | "should_panic" | "compile_fail"
    ) && !info.contains("ignore")
        && !info.contains("text")
}

/// The crate names of a `[dependencies]` snippet, as Rust spells them.
fn listed(toml: &str) -> BTreeSet<String> {
    let mut in_deps = false;
    let mut names = BTreeSet::new();
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]" || line == "[dev-dependencies]";
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once('=') {
            let name = name.trim().split('.').next().unwrap_or("").trim();
            if !name.is_empty() {
                names.insert(name.replace('-', "_"));
            }
        }
    }
    names
}

/// Every crate a Rust example names at the start of a path.
fn named(code: &str) -> BTreeSet<String> {
    let code: String = code
        .lines()
        .map(|l| l.trim_start().strip_prefix("# ").unwrap_or(l))
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let bytes = code.as_bytes();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        if bytes[i].is_ascii_lowercase() || bytes[i] == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let before = code[..start].chars().next_back();
            let path_start = !matches!(before, Some(c) if c == ':' || c == '.' || c.is_alphanumeric() || c == '_' || c == '"' || c == '\'');
            let rest = &code[i..];
            if path_start && rest.starts_with("::") && !rest.starts_with("::<") {
                names.insert(code[start..i].to_owned());
            }
        } else if bytes[i] == b'"' {
            // Skip string literals.
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else {
            i += 1;
        }
    }
    // Modules the example declares itself are not crates.
    for local in code
        .lines()
        .filter_map(|l| l.trim().strip_prefix("mod "))
        .map(|l| l.trim_end_matches([';', '{', ' ']).to_owned())
        .collect::<Vec<_>>()
    {
        names.remove(&local);
    }
    names
}

#[test]
fn crate_doc_examples_name_only_listed_crates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut problems = Vec::new();
    let mut examples = 0;
    for (folder, krate) in CRATES {
        let source = std::fs::read_to_string(root.join(folder).join("src/lib.rs")).unwrap();
        let doc = crate_doc(&source);
        let blocks = blocks(&doc);
        let mut allowed: BTreeSet<String> = ["std", "core", "alloc", "crate", "self", "super"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        allowed.insert(krate.to_owned());
        for (_, toml) in blocks.iter().filter(|(info, _)| info == "toml") {
            allowed.extend(listed(toml));
        }
        for (_, code) in blocks.iter().filter(|(info, _)| is_rust(info)) {
            examples += 1;
            for name in named(code) {
                if !allowed.contains(&name) {
                    problems.push(format!(
                        "{folder}/src/lib.rs: an example uses `{name}::`, which its [dependencies] snippet does not list"
                    ));
                }
            }
        }
    }
    assert!(examples >= 4, "found only {examples} examples");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_scanner_finds_what_it_should() {
    let code = "use futures_util::StreamExt;\n# async fn f() {\nlet v = x.iter().collect::<Vec<_>>();\nlet s = \"a::b\";\n#[tokio::main]\nstd::time::Duration::ZERO;\nhttp::Response::new(());\n# }";
    let found: Vec<String> = named(code).into_iter().collect();
    assert_eq!(found, ["futures_util", "http", "std", "tokio"]);
    let deps = listed("[dependencies]\nclouddc-reqwest = \"0.1\"\ntokio = { version = \"1\" }\n");
    assert_eq!(
        deps.into_iter().collect::<Vec<_>>(),
        ["clouddc_reqwest", "tokio"]
    );
}
