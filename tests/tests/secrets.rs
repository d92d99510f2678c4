//! Secrets never show: both clients, with tracing captured at the most
//! verbose level, through a success and every failure kind, with a token
//! and with AK/SK plus a security token. Checked in every span and event,
//! every error's `Display` and `Debug`, and the clients' `Debug`. The
//! signature is checked by its shape: no run of 64 hex digits (an
//! SDK-HMAC-SHA256 signature) and no `Signature=` anywhere.

use std::time::Duration;

use clouddc_core::{Config, Credentials, Endpoint, ErrorKind, InstanceId, ProjectId};
use clouddc_simulator::{
    Auth, BlockingHandle, Faults, NewInstance, RateLimit, Schedule, ServerError, SimConfig,
    StallHeaders, Trigger,
};
use clouddc_tests::capture::Capture;
use clouddc_tests::{Reply, Server};

const TOKEN: &str = "TOKEN-MARKER-8c1d";
const AK: &str = "AK-PUBLIC-77";
const SK: &str = "SK-MARKER-31ef";
const ST: &str = "ST-MARKER-05b2";

fn sim(auth: Auth) -> BlockingHandle {
    let config = SimConfig::builder()
        .listen(([127, 0, 0, 1], 0).into())
        .auth(auth)
        .instances(0)
        .build()
        .expect("config");
    let sim = clouddc_simulator::start_blocking(config).expect("start");
    let add = |id: &str, faults: Faults| {
        sim.control()
            .create_instance(
                NewInstance::new()
                    .with_id(id)
                    .with_schedule(Schedule::instant())
                    .with_faults(faults),
            )
            .expect("create");
    };
    let none = Faults::none;
    add("ok", none());
    add(
        "five",
        Faults {
            server_error: Some(ServerError::status(503)),
            ..none()
        },
    );
    add(
        "junk",
        Faults {
            invalid_json: Some(Trigger::always()),
            ..none()
        },
    );
    add(
        "rst",
        Faults {
            reset: Some(Trigger::always()),
            ..none()
        },
    );
    add(
        "slow",
        Faults {
            stall_headers: Some(StallHeaders {
                hold: Duration::from_secs(3),
                ..StallHeaders::default()
            }),
            ..none()
        },
    );
    add(
        "busy",
        Faults {
            rate_limit: Some(RateLimit::per_second(0.01).with_burst(1)),
            ..none()
        },
    );
    // Rate limits come before auth: an unauthenticated request spends
    // busy's one token, so every later query is throttled.
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(sim.addr()).expect("connect");
    write!(
        s,
        "GET /v1/{}/instances/busy/status HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        sim.project_id(),
        sim.addr()
    )
    .expect("write");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    sim
}

fn has_signature_shape(text: &str) -> bool {
    let mut run = 0;
    for c in text.chars() {
        if c.is_ascii_hexdigit() {
            run += 1;
            if run >= 64 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    text.contains("Signature=")
}

/// Every id the simulator serves, the kind it must end in, and a wrong
/// project (forbidden) and wrong credentials (unauthorized).
const CASES: &[(&str, Option<ErrorKind>)] = &[
    ("ok", None),
    ("five", Some(ErrorKind::Server)),
    ("junk", Some(ErrorKind::Decode)),
    ("rst", Some(ErrorKind::Transport)),
    ("slow", Some(ErrorKind::Timeout)),
    ("busy", Some(ErrorKind::RateLimited)),
    ("missing", Some(ErrorKind::NotFound)),
];

fn check(kind: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{kind}: {s} leaked in:\n{text}");
    }
    assert!(
        !has_signature_shape(text),
        "{kind}: a signature leaked in:\n{text}"
    );
}

/// The config of every client here.
fn config(url: &str, project: &str, creds: Credentials) -> Config {
    Config::builder()
        .endpoint(Endpoint::parse(url).expect("endpoint"))
        .project_id(ProjectId::new(project).expect("project"))
        .credentials(creds)
        .max_attempts(2)
        .attempt_timeout(Duration::from_millis(500))
        .build()
        .expect("config")
}

macro_rules! client {
    ($krate:ident, $url:expr, $project:expr, $creds:expr) => {
        $krate::Client::new(config($url, $project, $creds)).expect("client")
    };
}

/// Runs every case with one client kind; returns everything printed.
fn run_all(
    url: &str,
    project: &str,
    creds: Credentials,
    reqwest: bool,
) -> Vec<(String, Option<ErrorKind>, Option<ErrorKind>, String)> {
    let mut out = Vec::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for (id, expected) in CASES {
        let capture = Capture::default();
        let iid = InstanceId::new(*id).expect("id");
        let (result, client_debug) = tracing::subscriber::with_default(capture.clone(), || {
            if reqwest {
                let c = client!(clouddc_reqwest, url, project, creds.clone());
                (rt.block_on(c.status(&iid)), format!("{c:?}"))
            } else {
                let c = client!(clouddc_ureq, url, project, creds.clone());
                (c.status(&iid), format!("{c:?}"))
            }
        });
        let (got, shown) = match &result {
            Ok(s) => (None, format!("{s:?}")),
            Err(e) => (
                Some(e.kind()),
                format!("{e}\n{e:?}\n{:?}", std::error::Error::source(e)),
            ),
        };
        out.push((
            (*id).to_owned(),
            *expected,
            got,
            format!("{}\n{shown}\n{client_debug}", capture.everything()),
        ));
    }
    out
}

#[test]
fn no_secret_in_logs_errors_or_debug() {
    let token_sim = sim(Auth::token(TOKEN));
    let aksk_sim = sim(Auth::temporary(AK, SK, ST));
    for reqwest in [false, true] {
        let runs = [
            (&token_sim, Credentials::token(TOKEN).expect("token"), true),
            (
                &token_sim,
                Credentials::token("WRONG-TOKEN-MARKER").expect("token"),
                false,
            ),
            (
                &aksk_sim,
                Credentials::temporary(AK, SK, ST).expect("creds"),
                true,
            ),
            (
                &aksk_sim,
                Credentials::temporary(AK, "WRONG-SK-MARKER", ST).expect("creds"),
                false,
            ),
        ];
        for (sim, creds, right) in runs {
            for (id, expected, got, text) in run_all(sim.url(), sim.project_id(), creds, reqwest) {
                let what = format!("reqwest={reqwest} id={id} right={right}");
                check(
                    &what,
                    &text,
                    &[TOKEN, SK, ST, "WRONG-TOKEN-MARKER", "WRONG-SK-MARKER"],
                );
                // The fleet's DEBUG events (attempts, the finished id) were
                // captured: the check above looked at real log lines.
                assert!(
                    text.contains("DEBUG clouddc"),
                    "{what}: tracing captured nothing:\n{text}"
                );
                // Wrong credentials: everything except faults that fire
                // before auth (resets and stalls are decided after it, rate
                // limits before it) is unauthorized.
                if right {
                    assert_eq!(got, expected, "{what}");
                } else if id != "busy" {
                    assert_eq!(got, Some(ErrorKind::Unauthorized), "{what}");
                }
            }
            // Forbidden: the right credentials for another project.
            for (id, _, got, text) in run_all(
                sim.url(),
                "another-project",
                Credentials::token(TOKEN).expect("t"),
                reqwest,
            )
            .into_iter()
            .filter(|(id, ..)| id == "ok")
            {
                check(&format!("forbidden {id}"), &text, &[TOKEN, SK, ST]);
                if std::ptr::eq(sim, &token_sim) {
                    assert_eq!(got, Some(ErrorKind::Forbidden));
                }
            }
        }
        // Kind `api`: another 4xx, from a scripted server.
        let server = Server::script(vec![Reply::json(
            400,
            r#"{"error_code":"X.400","error_msg":"bad"}"#,
        )]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let capture = Capture::default();
        let creds = Credentials::temporary(AK, SK, ST).expect("creds");
        let iid = InstanceId::new("i").expect("id");
        let err = tracing::subscriber::with_default(capture.clone(), || {
            if reqwest {
                rt.block_on(
                    client!(clouddc_reqwest, &server.url(), "p", creds.clone()).status(&iid),
                )
            } else {
                client!(clouddc_ureq, &server.url(), "p", creds.clone()).status(&iid)
            }
        })
        .expect_err("400");
        assert_eq!(err.kind(), ErrorKind::Api);
        let signature = server.requests()[0]
            .header("authorization")
            .and_then(|a| a.split("Signature=").nth(1))
            .map(str::to_owned)
            .expect("signed");
        let text = format!("{}\n{err}\n{err:?}", capture.everything());
        check("api", &text, &[SK, ST, &signature]);
    }
}

/// Credentials from server metadata and the project from IAM: the
/// generation's secret key and security token never show, in logs,
/// errors or `Debug`, through every case.
#[test]
fn no_metadata_secret_in_logs_errors_or_debug() {
    let s = sim(Auth::token(TOKEN));
    s.control()
        .set_metadata(clouddc_simulator::Metadata::on())
        .expect("metadata");
    let url = Endpoint::parse(s.url()).expect("endpoint");
    for reqwest in [false, true] {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        for (id, expected) in CASES {
            let capture = Capture::default();
            let config = Config::builder()
                .endpoint(url.clone())
                .region("cn-east-3")
                .metadata(url.clone())
                .iam_endpoint(url.clone())
                .max_attempts(2)
                .attempt_timeout(Duration::from_millis(500))
                .build()
                .expect("config");
            let iid = InstanceId::new(*id).expect("id");
            let (result, debug) = tracing::subscriber::with_default(capture.clone(), || {
                if reqwest {
                    let c = clouddc_reqwest::Client::new(config.clone()).expect("client");
                    (
                        rt.block_on(c.status(&iid)),
                        format!("{c:?} {:?}", c.session().credentials()),
                    )
                } else {
                    let c = clouddc_ureq::Client::new(config.clone()).expect("client");
                    (
                        c.status(&iid),
                        format!("{c:?} {:?}", c.session().credentials()),
                    )
                }
            });
            let shown = match &result {
                Ok(st) => format!("{st:?}"),
                Err(e) => format!("{e}\n{e:?}\n{}", clouddc_core::error_chain(e)),
            };
            assert_eq!(result.as_ref().err().map(|e| e.kind()), *expected, "{id}");
            let g = s.control().metadata_credentials().expect("issued");
            let text = format!("{}\n{shown}\n{debug}", capture.everything());
            check(
                &format!("metadata reqwest={reqwest} id={id}"),
                &text,
                &[g.secret_key.expose(), g.security_token.expose(), TOKEN],
            );
            assert!(text.contains("DEBUG clouddc"), "tracing captured nothing");
        }
    }
}
