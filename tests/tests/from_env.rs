//! `Client::from_env()` of both clients, reading the real process
//! environment. Setting variables in a running test is `unsafe` in edition
//! 2024 (and this workspace forbids `unsafe`), so each case re-runs this test
//! binary as a child with the variables set on the command and reads what
//! the child reports on stdout.

use std::process::Command;

use clouddc_core::{Config, ErrorKind};

/// Set in the child: which client to build.
const CHILD: &str = "CLOUDDC_TEST_FROM_ENV_CHILD";

/// Every variable `from_env` reads; cleared in the child so that the
/// machine's own settings cannot leak into a case.
const READ: &[&str] = &[
    "CLOUDDC_ENDPOINT",
    "CLOUDDC_AUTH_TOKEN",
    "HUAWEICLOUD_SDK_AK",
    "HUAWEICLOUD_SDK_SK",
    "HUAWEICLOUD_SDK_SECURITY_TOKEN",
    "HUAWEICLOUD_SDK_PROJECT_ID",
    "HUAWEICLOUD_SDK_REGION",
    "HUAWEICLOUD_SDK_REGION_CLOUDDC_CN_EAST_3",
    "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
    "HUAWEICLOUD_SDK_IAM_ENDPOINT",
    "CLOUDDC_METADATA_ENDPOINT",
    "USERPROFILE",
];

fn describe<C>(r: Result<C, clouddc_core::Error>, config: impl Fn(&C) -> &Config) -> String {
    match r {
        Ok(c) => {
            let c = config(&c);
            format!(
                "ok endpoint={} project={} credentials={} from {}",
                c.endpoint(),
                c.project_id().map_or("(lookup)".into(), |p| p.to_string()),
                c.credentials().map_or("(metadata)", |c| c.kind()),
                c.origins().credentials,
            )
        }
        Err(e) => format!("err kind={} {e}", e.kind()),
    }
}

/// The child's side: build the client named by [`CHILD`] and report. Not a
/// test of its own (ignored, so that it never counts as one): the tests
/// below run it in a child process with `--ignored`.
#[test]
#[ignore = "the child process of the tests below; run by them"]
fn child() {
    let which = std::env::var(CHILD).expect("run as a child, with the client to build named");
    let line = match which.as_str() {
        "ureq" => describe(clouddc_ureq::Client::from_env(), |c| c.config()),
        "reqwest" => describe(clouddc_reqwest::Client::from_env(), |c| c.config()),
        other => panic!("unknown client {other}"),
    };
    println!("FROM_ENV {line}");
}

/// Runs [`child`] in a new process with exactly `vars` set, `HOME` an
/// empty folder and server metadata off, unless `vars` say otherwise.
fn from_env(client: &str, vars: &[(&str, &str)]) -> String {
    let home = tempfile::tempdir().expect("temp dir");
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        "child",
        "--ignored",
        "--nocapture",
        "--test-threads",
        "1",
    ]);
    for v in READ {
        cmd.env_remove(v);
    }
    cmd.env("HOME", home.path())
        .env("CLOUDDC_METADATA_ENDPOINT", "off");
    cmd.env(CHILD, client).envs(vars.iter().copied());
    let out = cmd.output().expect("run the child");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        // libtest writes "test child ... " before the child's own line.
        .find_map(|l| l.split_once("FROM_ENV ").map(|(_, report)| report))
        .unwrap_or_else(|| panic!("no report from the child: {stdout}"))
        .to_owned()
}

const SECRET: &str = "MARKER-SECRET-5521";

#[test]
fn both_clients_read_the_environment_alike() {
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("CLOUDDC_ENDPOINT", "http://127.0.0.1:8080"),
                ("HUAWEICLOUD_SDK_PROJECT_ID", "p-1"),
                ("CLOUDDC_AUTH_TOKEN", SECRET),
            ],
            "ok endpoint=http://127.0.0.1:8080 project=p-1 credentials=token from env:CLOUDDC_AUTH_TOKEN",
        ),
        (
            vec![
                ("HUAWEICLOUD_SDK_REGION", "cn-east-3"),
                ("HUAWEICLOUD_SDK_PROJECT_ID", "p-2"),
                ("HUAWEICLOUD_SDK_AK", "AK1"),
                ("HUAWEICLOUD_SDK_SK", SECRET),
                ("HUAWEICLOUD_SDK_SECURITY_TOKEN", SECRET),
            ],
            "ok endpoint=https://clouddc.cn-east-3.myhuaweicloud.com project=p-2 credentials=aksk from env:HUAWEICLOUD_SDK_AK",
        ),
        (
            vec![
                ("HUAWEICLOUD_SDK_REGION", "cn-east-3"),
                (
                    "HUAWEICLOUD_SDK_REGION_CLOUDDC_CN_EAST_3",
                    "https://clouddc.example.test,https://second.example.test",
                ),
                ("HUAWEICLOUD_SDK_PROJECT_ID", "p-3"),
                ("HUAWEICLOUD_SDK_AK", "AK1"),
                ("HUAWEICLOUD_SDK_SK", SECRET),
            ],
            "ok endpoint=https://clouddc.example.test project=p-3 credentials=aksk from env:HUAWEICLOUD_SDK_AK",
        ),
        (
            // Nothing but a region: metadata for credentials, IAM for the
            // project, both fetched only when a call needs them.
            vec![
                ("HUAWEICLOUD_SDK_REGION", "cn-east-3"),
                ("CLOUDDC_METADATA_ENDPOINT", "http://127.0.0.1:9"),
            ],
            "ok endpoint=https://clouddc.cn-east-3.myhuaweicloud.com project=(lookup) credentials=(metadata) from metadata",
        ),
    ];
    for (vars, want) in &cases {
        for client in ["ureq", "reqwest"] {
            let got = from_env(client, vars);
            assert_eq!(&got, want, "{client} with {vars:?}");
        }
    }
}

#[test]
fn the_profile_file_is_read_from_home_or_the_named_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("creds");
    std::fs::write(
        &file,
        format!("\u{feff}[basic]\r\nak = AKFILE\r\nsk = {SECRET}\r\nproject_id = p-file\r\n"),
    )
    .unwrap();
    let path = file.to_str().unwrap();
    for client in ["ureq", "reqwest"] {
        let got = from_env(
            client,
            &[
                ("CLOUDDC_ENDPOINT", "http://127.0.0.1:8080"),
                ("HUAWEICLOUD_SDK_CREDENTIALS_FILE", path),
            ],
        );
        assert_eq!(
            got,
            format!(
                "ok endpoint=http://127.0.0.1:8080 project=p-file credentials=aksk from file:{path}:2"
            ),
            "{client}"
        );
        assert!(!got.contains(SECRET));
        // A malformed file: an error naming the file and line.
        std::fs::write(&file, "[basic]\nak AKFILE\n").unwrap();
        let bad = from_env(
            client,
            &[
                ("CLOUDDC_ENDPOINT", "http://127.0.0.1:8080"),
                ("HUAWEICLOUD_SDK_CREDENTIALS_FILE", path),
            ],
        );
        assert!(
            bad.starts_with("err kind=invalid_input") && bad.contains(&format!("{path}:2")),
            "{client}: {bad}"
        );
        std::fs::write(
            &file,
            format!("[basic]\nak = AKFILE\nsk = {SECRET}\nproject_id = p-file\n"),
        )
        .unwrap();
    }
}

#[test]
fn missing_variables_are_named_and_secrets_never_shown() {
    for client in ["ureq", "reqwest"] {
        let none = from_env(client, &[]);
        assert!(
            none.starts_with(&format!("err kind={}", ErrorKind::InvalidInput)),
            "{client}: {none}"
        );
        for name in [
            "CLOUDDC_ENDPOINT",
            "HUAWEICLOUD_SDK_REGION",
            "HUAWEICLOUD_SDK_PROJECT_ID",
            "CLOUDDC_AUTH_TOKEN",
            "HUAWEICLOUD_SDK_AK",
        ] {
            assert!(none.contains(name), "{client} does not name {name}: {none}");
        }
        // An SK without its AK: named, and the SK never echoed.
        let half = from_env(
            client,
            &[
                ("CLOUDDC_ENDPOINT", "http://127.0.0.1:8080"),
                ("HUAWEICLOUD_SDK_PROJECT_ID", "p"),
                ("HUAWEICLOUD_SDK_SK", SECRET),
            ],
        );
        assert!(half.starts_with("err"), "{client}: {half}");
        assert!(half.contains("HUAWEICLOUD_SDK_AK"), "{client}: {half}");
        assert!(!half.contains(SECRET), "{client}: {half}");
        // A token with a control character: refused without echoing it.
        let bad = from_env(
            client,
            &[
                ("CLOUDDC_ENDPOINT", "http://127.0.0.1:8080"),
                ("HUAWEICLOUD_SDK_PROJECT_ID", "p"),
                ("CLOUDDC_AUTH_TOKEN", &format!("{SECRET}\u{7}x")),
            ],
        );
        assert!(bad.starts_with("err"), "{client}: {bad}");
        assert!(!bad.contains(SECRET), "{client}: {bad}");
    }
}
