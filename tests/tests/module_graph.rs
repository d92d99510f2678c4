//! No crate of the workspace has modules that import each other in a
//! circle, directly or through others.
//!
//! An edge is a `crate::` path from one top-level module of a crate (a file
//! `src/x.rs` together with its folder `src/x/`) to another, outside
//! `#[cfg(test)]` code, test files and comments (so doc links do not count).
//! The test reads the sources as text; it builds nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates whose modules are checked, by folder.
const CRATES: &[&str] = &[
    "core",
    "transport-ureq",
    "transport-reqwest",
    "simulator",
    "cli",
    "tests",
    "bench",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_owned()
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A file that holds only test code: `tests.rs` or anything under a
/// `tests/` folder inside `src/`.
fn is_test_file(rel: &Path) -> bool {
    rel.components()
        .any(|c| c.as_os_str() == "tests" || c.as_os_str() == "tests.rs")
}

/// `text` without comments and without the items that follow a
/// `#[cfg(test)]` attribute (a `mod x { … }` block or a one-line item).
fn production_code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("//") {
            continue;
        }
        if t.starts_with("#[cfg(test)]") || t.starts_with("#[cfg(all(test") {
            // Skip attributes, then the item: to its `;` or its closing brace.
            let mut depth = 0i64;
            let mut opened = false;
            for next in lines.by_ref() {
                let n = next.trim_start();
                if n.starts_with("#[") && !opened {
                    continue;
                }
                for c in next.chars() {
                    match c {
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                if (opened && depth <= 0) || (!opened && n.ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        let code = match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The top-level module names a text refers to with `crate::` paths.
fn referenced(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::` or `my_crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::{c, d}, e}`: the names at depth one.
            let mut depth = 1;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => start = true,
                    c if c.is_whitespace() => {}
                    _ if start && depth == 1 => {
                        found.insert(ident(&group[j..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found
}

/// The module graph of the crate in `dir`: module → modules it uses.
fn graph(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let src = dir.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let module_of = |p: &Path| -> Option<String> {
        let rel = p.strip_prefix(&src).ok()?;
        let first = rel.components().next()?.as_os_str().to_str()?;
        let name = first.strip_suffix(".rs").unwrap_or(first);
        (!matches!(name, "lib" | "main" | "bin")).then(|| name.to_owned())
    };
    let modules: BTreeSet<String> = files.iter().filter_map(|p| module_of(p)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(m) = module_of(file) else { continue };
        let rel = file.strip_prefix(&src).expect("under src");
        let inner: PathBuf = rel.components().skip(1).collect();
        if is_test_file(&inner) {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("readable source");
        let to = edges.entry(m.clone()).or_default();
        for r in referenced(&production_code(&text)) {
            if r != m && modules.contains(&r) {
                to.insert(r);
            }
        }
    }
    edges
}

/// A circle in `edges`, if there is one, as the modules along it.
fn circle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(m.to_owned(), Mark::Open);
        path.push(m.to_owned());
        for n in edges.get(m).into_iter().flatten() {
            match marks.get(n.as_str()).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let start = path.iter().position(|p| p == n).unwrap_or(0);
                    let mut c = path[start..].to_vec();
                    c.push(n.clone());
                    return Some(c);
                }
                Mark::New => {
                    if let Some(c) = visit(n, edges, marks, path) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks.insert(m.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for m in edges.keys() {
        if marks.get(m.as_str()).copied().unwrap_or(Mark::New) == Mark::New
            && let Some(c) = visit(m, edges, &mut marks, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_crate_has_an_import_circle() {
    let root = workspace();
    let mut circles = Vec::new();
    for krate in CRATES {
        let edges = graph(&root.join(krate));
        assert!(!edges.is_empty(), "no modules read in {krate}");
        if let Some(c) = circle(&edges) {
            circles.push(format!("{krate}: {}", c.join(" -> ")));
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_checker_sees_a_circle_and_ignores_tests_and_comments() {
    let code = "use crate::{a::X, b};\nfn f() { crate::c::g(); }\n// crate::d\n\
                #[cfg(test)]\nmod tests {\n    use crate::e;\n}\n#[cfg(test)]\nuse crate::f;\n";
    let r = referenced(&production_code(code));
    assert_eq!(r, ["a", "b", "c"].map(String::from).into());
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    assert_eq!(circle(&edges), None);
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        circle(&edges),
        Some(["a", "b", "c", "a"].map(String::from).to_vec())
    );
}
