use std::path::Path;

use proptest::prelude::*;

use super::{Entry, MAX_PROFILE_BYTES, Profile, parse};
use crate::credentials::Credentials;
use crate::error::{Error, ErrorKind};

const PATH: &str = "/home/u/.huaweicloud/credentials";
const MARK: &str = "MARKER-SECRET-7731";

fn ok(text: &str) -> Profile {
    match parse(Path::new(PATH), text.as_bytes()) {
        Ok(p) => p,
        Err(e) => panic!("{text:?}: {e}"),
    }
}

/// The error's message; asserts its kind and that it names the file.
fn err(bytes: impl AsRef<[u8]>) -> String {
    let e = parse(Path::new(PATH), bytes.as_ref()).unwrap_err();
    message(&e)
}

fn message(e: &Error) -> String {
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let text = e.to_string();
    assert!(text.contains(PATH), "{text}");
    text
}

fn entry(value: &str, line: usize) -> Option<Entry> {
    Some(Entry {
        value: value.to_owned(),
        line,
    })
}

/// Every field, for comparing two parses.
fn fields(p: &Profile) -> [Option<Entry>; 5] {
    [
        p.ak.clone(),
        p.sk.clone(),
        p.security_token.clone(),
        p.project_id.clone(),
        p.iam_endpoint.clone(),
    ]
}

#[test]
fn reads_basic_with_lines() {
    let p = ok("[global]\n\
         domain_id = d1\n\
         \n\
         [basic]\n\
         ak = AK1\n\
         sk=SK1\n\
         project_id =  p1  \n\
         security_token = tok==\n\
         iam_endpoint = https://iam.example.com\n");
    assert_eq!(p.path(), Path::new(PATH));
    assert_eq!(p.ak, entry("AK1", 5));
    assert_eq!(p.sk, entry("SK1", 6));
    assert_eq!(p.project_id, entry("p1", 7));
    assert_eq!(p.security_token, entry("tok==", 8));
    assert_eq!(
        p.iam_endpoint(),
        entry("https://iam.example.com", 9).as_ref()
    );
}

#[test]
fn bom_crlf_no_final_newline_whitespace_and_comments() {
    let lf = ok("# c\n  ; c\n\n[ basic ]\t\nak = A  \nsk = 'S'\nproject_id = \"p\"");
    assert_eq!(lf.ak, entry("A", 5));
    assert_eq!(lf.sk, entry("S", 6));
    assert_eq!(lf.project_id, entry("p", 7));
    let crlf = ok(
        "\u{feff}# c\r\n  ; c\r\n\r\n[ basic ]\t\r\nak = A  \r\nsk = 'S'\r\nproject_id = \"p\"\r\n",
    );
    assert_eq!(fields(&lf), fields(&crlf));
}

#[test]
fn quotes_come_off_only_in_matching_pairs() {
    let p = ok("[basic]\nak = \"A'\nsk = 'S\"\nproject_id = \"\"p\"\"\n");
    assert_eq!(p.ak, entry("\"A'", 2));
    assert_eq!(p.sk, entry("'S\"", 3));
    assert_eq!(p.project_id, entry("\"p\"", 4));
}

#[test]
fn keys_match_in_any_case_sections_only_in_theirs() {
    let p = ok("[basic]\nAK = A\nSk = S\n[Basic]\nak = other\n");
    assert_eq!(p.ak, entry("A", 2));
    assert_eq!(p.sk, entry("S", 3));
    assert!(err("[Basic]\nak = A\n").contains("has no [basic] section; add one with ak and sk"));
    assert!(err("[basic]\nak = A\nAK = B\n").contains(":3: `ak` appears again"));
}

#[test]
fn an_unknown_key_in_basic_is_an_error_that_does_not_repeat_it() {
    // A security token wrapped onto a second line that holds a `=`.
    let e = err(format!(
        "[basic]\nak = A\nsk = S\nsecurity_token = abc\n{MARK}=tail\n"
    ));
    assert!(e.contains(":5: [basic] has a key it does not know"), "{e}");
    assert!(!e.contains(MARK), "{e}");
    let e = err(format!(
        "[global]\n{MARK} = 1\n{MARK} = 2\n[basic]\nak=A\nsk=S\n"
    ));
    assert!(e.contains(":3: a key appears again in [global]"), "{e}");
    assert!(!e.contains(MARK), "{e}");
}

#[test]
fn other_sections_are_checked_for_syntax() {
    assert!(
        err("[basic]\nak = A\n[global]\ndomain_id\n").contains(":4: line 4 is not `key = value`")
    );
    assert!(
        err("[basic]\n[global]\nx = 1\nx = 2\n")
            .contains(":4: a key appears again in [global] (first at line 3)")
    );
}

#[test]
fn error_shapes() {
    let cases: &[(&str, &str)] = &[
        ("[basic\nak = A\n", ":1: section header is not closed"),
        ("[basic]]\n", ":1: text follows the section header"),
        ("[ ]\n", ":1: section name is empty"),
        ("[basic]\nak A\n", ":2: line 2 is not `key = value`"),
        ("[basic]\n = A\n", ":2: line 2 is not `key = value`"),
        (
            "ak = A\n[basic]\n",
            ":1: `key = value` comes before any section",
        ),
        (
            "[basic]\n[global]\n[basic]\n",
            ":3: section [basic] appears again (first at line 1)",
        ),
        (
            "[basic]\nak = A\n\nak = B\n",
            ":4: `ak` appears again in [basic] (first at line 2)",
        ),
        ("[basic]\nsk =\n", ":2: `sk` is empty; give it a value"),
        ("[basic]\nsk = ''\n", ":2: `sk` is empty"),
        (
            "[global]\ndomain_id = d\n",
            ": has no [basic] section; add one with ak and sk",
        ),
        ("", ": has no [basic] section"),
    ];
    for (text, want) in cases {
        let got = err(text);
        assert!(got.contains(&format!("{PATH}{want}")), "{text:?}: {got}");
    }
}

#[test]
fn section_header_may_carry_a_comment() {
    let p = ok("[basic] # mine\nak = A\n");
    assert_eq!(p.ak, entry("A", 2));
}

#[test]
fn invalid_utf8_names_its_line() {
    let mut bytes = b"\xEF\xBB\xBF[basic]\r\nak = A\r\nsk = ".to_vec();
    bytes.extend_from_slice(b"\xff\xfe\n");
    assert!(err(&bytes).contains(&format!("{PATH}:3: is not valid UTF-8")));
    assert!(err(b"\xc3").contains(&format!("{PATH}:1: is not valid UTF-8")));
}

#[test]
fn too_large_is_not_a_profile() {
    let mut text = String::from("[basic]\nak = A\nsk = S\n");
    let pad = "#".repeat(99) + "\n";
    while text.len() <= MAX_PROFILE_BYTES {
        text.push_str(&pad);
    }
    assert!(err(&text).contains("more than 1 MiB"));
    text.truncate(MAX_PROFILE_BYTES);
    text.pop();
    text.push('\n');
    assert_eq!(ok(&text).ak, entry("A", 2));
}

#[test]
fn credentials_whole_or_not_at_all() {
    let none = ok("[basic]\nproject_id = p\n");
    assert!(none.credentials().unwrap().is_none());

    let (c, line) = ok("[basic]\n\nak = A\nsk = S\n")
        .credentials()
        .unwrap()
        .unwrap();
    assert_eq!(line, 3);
    assert!(
        matches!(c, Credentials::AkSk { ref access_key, ref secret_key, security_token: None }
        if access_key == "A" && secret_key.expose() == "S")
    );

    let (c, _) = ok("[basic]\nsecurity_token = T\nsk = S\nak = A\n")
        .credentials()
        .unwrap()
        .unwrap();
    assert!(
        matches!(c, Credentials::AkSk { security_token: Some(ref t), .. } if t.expose() == "T")
    );

    let partial: &[(&str, &str)] = &[
        ("[basic]\nak = A\n", ":2: [basic] has `ak` but no `sk`"),
        (
            "[basic]\nak = A\nsecurity_token = T\n",
            ":2: [basic] has `ak` but no `sk`",
        ),
        ("[basic]\n\nsk = S\n", ":3: [basic] has `sk` but no `ak`"),
        (
            "[basic]\nsecurity_token = T\n",
            ":2: [basic] has `security_token` but no `ak` and `sk`",
        ),
    ];
    for (text, want) in partial {
        let got = message(&ok(text).credentials().unwrap_err());
        assert!(got.contains(&format!("{PATH}{want}")), "{text:?}: {got}");
    }
}

#[test]
fn invalid_credential_values_name_their_line_and_are_not_echoed() {
    let cases = [
        (
            format!("[basic]\nak = A {MARK}\nsk = S\n"),
            ":2: access key contains a space",
            "`ak`",
        ),
        (
            format!("[basic]\nak = A\nsk = {MARK}\u{1}x\n"),
            ":3: secret key contains control characters",
            "`sk`",
        ),
        (
            format!("[basic]\nak = A\nsk = S\n\nsecurity_token = {MARK}é\n"),
            ":5: security token contains non-ASCII",
            "`security_token`",
        ),
    ];
    for (text, want, key) in cases {
        let got = message(&ok(&text).credentials().unwrap_err());
        assert!(got.contains(&format!("{PATH}{want}")), "{got}");
        assert!(got.contains(key), "{got}");
        assert!(!got.contains(MARK), "{got}");
        assert!(!got.contains("HUAWEICLOUD_SDK_"), "{got}");
    }
}

#[test]
fn project_id_valid_or_error_without_the_value() {
    assert!(ok("[basic]\n").project_id().unwrap().is_none());
    let (id, line) = ok("[basic]\nproject_id = p1\n")
        .project_id()
        .unwrap()
        .unwrap();
    assert_eq!((id.as_str(), line), ("p1", 2));
    for bad in [format!("{MARK}\u{1}"), "..".to_owned(), MARK.repeat(200)] {
        let p = ok(&format!("[basic]\n\nproject_id = {bad}\n"));
        let got = message(&p.project_id().unwrap_err());
        assert!(
            got.contains(&format!("{PATH}:3: `project_id` is not a valid project id")),
            "{got}"
        );
        assert!(!got.contains(MARK), "{got}");
    }
}

#[test]
fn debug_never_shows_secrets() {
    let p = ok(&format!(
        "[basic]\nak = AK1\nsk = {MARK}\nsecurity_token = {MARK}\nproject_id = {MARK}\niam_endpoint = {MARK}\n"
    ));
    let dbg = format!("{p:?} {p:#?} {:?}", p.sk);
    assert!(!dbg.contains(MARK), "{dbg}");
    assert!(dbg.contains("AK1") && dbg.contains("line: 3"), "{dbg}");
}

#[test]
fn errors_never_echo_values() {
    for text in [
        format!("[basic]\nak = {MARK}\nak = {MARK}\n").into_bytes(),
        format!("[basic]\n{MARK}\n").into_bytes(),
        format!("{MARK} = {MARK}\n").into_bytes(),
        format!("[basic]\nsk = {MARK}\n[basic]\n").into_bytes(),
        [format!("[basic]\nsk = {MARK}\n").as_bytes(), b"\0\xff"].concat(),
    ] {
        assert!(!err(&text).contains(MARK), "{text:?}");
    }
}

#[test]
fn every_prefix_parses_or_fails_cleanly() {
    let text = "\u{feff}# c\r\n[basic]\r\nak = A\r\nsk = 'S'\r\n[global]\r\ndomain_id = d\r\n";
    for n in 0..=text.len() {
        let _ = parse(Path::new(PATH), &text.as_bytes()[..n]);
    }
}

/// A well-formed file: sections with distinct names, each with distinct
/// keys, rendered with a choice of spacing, quoting, comments and blanks.
#[derive(Debug, Clone)]
struct Model {
    sections: Vec<(String, Vec<KeyValue>)>,
}

/// A key, its value, and how its line is written.
type KeyValue = (String, String, Style);

#[derive(Debug, Clone, Copy)]
struct Style {
    spaces: bool,
    quote: Option<char>,
    /// A comment or blank line before the key's line.
    filler: Option<&'static str>,
}

const KEYS: &[&str] = &[
    "ak",
    "sk",
    "security_token",
    "project_id",
    "iam_endpoint",
    "domain_id",
    "region",
    "AK",
];

fn arb_style() -> impl Strategy<Value = Style> {
    (
        any::<bool>(),
        prop::option::of(prop::sample::select(vec!['"', '\''])),
        prop::option::of(prop::sample::select(vec!["", "# hash", "  ; semi", "\t"])),
    )
        .prop_map(|(spaces, quote, filler)| Style {
            spaces,
            quote,
            filler,
        })
}

/// The keys `[basic]` takes, in any case.
const BASIC_KEYS: &[&str] = &[
    "ak",
    "sk",
    "security_token",
    "project_id",
    "iam_endpoint",
    "AK",
    "Sk",
    "Project_ID",
];

fn arb_section(keys: &'static [&'static str]) -> impl Strategy<Value = Vec<KeyValue>> {
    prop::collection::vec(
        (
            prop::sample::select(keys.to_vec()),
            "[A-Za-z0-9+/=_.:-]([A-Za-z0-9+/=_.: -]{0,30}[A-Za-z0-9+/=_.:-])?",
            arb_style(),
        ),
        0..8,
    )
    .prop_map(|kvs| {
        let mut seen = std::collections::HashSet::new();
        kvs.into_iter()
            .filter(|(k, _, _)| seen.insert(k.to_ascii_lowercase()))
            .map(|(k, v, s)| (k.to_owned(), v, s))
            .collect()
    })
}

fn arb_model() -> impl Strategy<Value = Model> {
    (
        prop::collection::vec(
            (
                prop::sample::select(vec!["global", "basic", "other one", "x"]),
                arb_section(KEYS),
            ),
            0..4,
        ),
        arb_section(BASIC_KEYS),
        0usize..4,
    )
        .prop_map(|(others, basic, at)| {
            let mut seen = std::collections::HashSet::new();
            let mut sections: Vec<_> = others
                .into_iter()
                .filter(|(n, _)| *n != "basic" && seen.insert(*n))
                .map(|(n, kvs)| (n.to_owned(), kvs))
                .collect();
            sections.insert(at.min(sections.len()), ("basic".to_owned(), basic));
            Model { sections }
        })
}

/// The file's text, and the expected (key, value, line) of `[basic]`.
fn render(m: &Model) -> (String, Vec<(String, String, usize)>) {
    let mut out = String::new();
    let mut line = 0;
    let mut want = Vec::new();
    let mut push = |out: &mut String, s: &str| {
        out.push_str(s);
        out.push('\n');
        line += 1;
        line
    };
    for (name, kvs) in &m.sections {
        push(&mut out, &format!("[{name}]"));
        for (k, v, s) in kvs {
            if let Some(f) = s.filler {
                push(&mut out, f);
            }
            let v_text = match s.quote {
                Some(q) => format!("{q}{v}{q}"),
                None => v.clone(),
            };
            let eq = if s.spaces { " = " } else { "=" };
            let n = push(&mut out, &format!("{k}{eq}{v_text}"));
            if name == "basic" {
                want.push((k.clone(), v.clone(), n));
            }
        }
    }
    (out, want)
}

/// The invariant of the two properties below, for one input.
fn check_lines(bytes: &[u8]) -> Result<(), TestCaseError> {
    let lines = 1 + bytes.iter().filter(|b| **b == b'\n').count();
    let on_a_line = |n: usize| (1..=lines).contains(&n);
    match parse(Path::new(PATH), bytes) {
        Ok(p) => {
            if let Ok(Some((_, line))) = p.credentials() {
                prop_assert!(on_a_line(line), "credentials on line {} of {}", line, lines);
            }
            if let Ok(Some((_, line))) = p.project_id() {
                prop_assert!(on_a_line(line), "project id on line {} of {}", line, lines);
            }
        }
        Err(e) => {
            let text = e.to_string();
            let rest = text.strip_prefix(&format!("invalid input: {PATH}:"));
            prop_assert!(rest.is_some(), "the file is not named first: {}", text);
            let rest = rest.unwrap_or_default();
            let number = rest
                .split_once(':')
                .map(|(n, _)| n)
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            match number {
                Some(n) => {
                    let n: usize = n.parse().unwrap_or(0);
                    prop_assert!(on_a_line(n), "line {} of {}: {}", n, lines, text);
                }
                None => prop_assert!(rest.starts_with(" has no [basic] section"), "{}", text),
            }
        }
    }
    Ok(())
}

proptest! {
    /// Whatever the bytes, an error names the file and, when it is about
    /// one line, a line the file has; and what a parsed file yields
    /// stands on a line it has.
    #[test]
    fn errors_name_the_file_and_one_of_its_lines(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        check_lines(&bytes)?;
    }

    #[test]
    fn ini_like_text_is_parsed_or_refused_at_one_of_its_lines(text in "[\\[\\]=#; \t\r\nabks_\"'\u{feff}]{0,200}") {
        check_lines(text.as_bytes())?;
    }

    #[test]
    fn well_formed_files_round_trip(m in arb_model(), crlf in any::<bool>(), bom in any::<bool>(), last_newline in any::<bool>()) {
        let (lf, want) = render(&m);
        let p = parse(Path::new(PATH), lf.as_bytes()).unwrap();
        let got = fields(&p);
        let names = ["ak", "sk", "security_token", "project_id", "iam_endpoint"];
        for (i, name) in names.iter().enumerate() {
            let expected = want.iter().find(|(k, _, _)| k.to_ascii_lowercase() == *name).map(|(_, v, n)| Entry { value: v.clone(), line: *n });
            prop_assert_eq!(&got[i], &expected, "{}", name);
        }

        let mut variant = if crlf { lf.replace('\n', "\r\n") } else { lf.clone() };
        if !last_newline {
            variant.truncate(variant.trim_end_matches(['\r', '\n']).len());
        }
        if bom {
            variant.insert(0, '\u{feff}');
        }
        let q = parse(Path::new(PATH), variant.as_bytes()).unwrap();
        prop_assert_eq!(fields(&q), got);
    }
}
