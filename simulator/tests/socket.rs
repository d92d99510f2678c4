//! The server shell on real sockets, with a raw `std::net::TcpStream`
//! client: what the heart decides really happens on the wire.

// The helpers below are test code too: a failed setup should panic.
#![allow(clippy::unwrap_used)]
// Measuring the server on the wire takes the real clock.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime};

use clouddc_core::{
    Config, Credentials, Endpoint, InstanceId, ProjectId, Session, build_status_request,
    sign_request,
};
use clouddc_simulator::{
    Auth, BlockingHandle, CloseWith, FaultKind, Faults, FlowPolicy, IamProject, Metadata,
    NewInstance, Op, OversizedBody, Schedule, ServerError, SimConfig, StaleConnections, StallBody,
    StallHeaders, Trigger, start, start_blocking,
};

/// A response as read off the wire.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads the status line and headers.
fn read_head(r: &mut impl BufRead) -> io::Result<(u16, Vec<(String, String)>)> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "closed before a response",
        ));
    }
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| io::Error::other("bad header"))?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    Ok((status, headers))
}

/// Reads one full response (Content-Length framed).
fn read_response(r: &mut impl BufRead) -> io::Result<Raw> {
    let (status, headers) = read_head(r)?;
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(Raw {
        status,
        headers,
        body,
    })
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn head(method: &str, target: &str, addr: SocketAddr, extra: &str, body: &str) -> String {
    format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// One request on a new connection.
fn send(addr: SocketAddr, method: &str, target: &str, extra: &str, body: &str) -> io::Result<Raw> {
    let mut s = connect(addr);
    s.write_all(head(method, target, addr, extra, body).as_bytes())?;
    read_response(&mut BufReader::new(s))
}

fn get_status(sim: &BlockingHandle, id_segment: &str) -> io::Result<Raw> {
    let target = format!("/v1/{}/instances/{id_segment}/status", sim.project_id());
    send(sim.addr(), "GET", &target, "X-Auth-Token: t\r\n", "")
}

fn sim_with(faults: Faults) -> BlockingHandle {
    let sim = start_blocking(SimConfig::builder().faults(faults).build().unwrap()).unwrap();
    sim.control()
        .create_instance(
            NewInstance::new()
                .with_id("i")
                .with_schedule(Schedule::instant()),
        )
        .unwrap();
    sim
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn serves_status_with_request_ids_over_keep_alive() {
    let sim = sim_with(Faults::none());
    sim.control()
        .create_instance(
            NewInstance::new()
                .with_id("a/b")
                .with_schedule(Schedule::instant()),
        )
        .unwrap();
    let mut s = connect(sim.addr());
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut ids = BTreeSet::new();
    for n in 0..40 {
        let target = match n % 3 {
            0 => format!("/v1/{}/instances/i/status", sim.project_id()),
            1 => format!("/v1/{}/instances/a%2Fb/status", sim.project_id()),
            _ => format!("/v1/{}/instances/ghost/status", sim.project_id()),
        };
        s.write_all(head("GET", &target, sim.addr(), "X-Auth-Token: t\r\n", "").as_bytes())
            .unwrap();
        let resp = read_response(&mut r).unwrap();
        let expected = if n % 3 == 2 { 404 } else { 200 };
        assert_eq!(resp.status, expected, "{}", resp.text());
        if expected == 200 {
            assert_eq!(
                resp.text(),
                r#"{"state":"running","operation_state":"install-succeed"}"#
            );
            assert_eq!(resp.header("content-type"), Some("application/json"));
        }
        assert!(resp.header("date").is_some());
        assert!(
            ids.insert(resp.header("x-request-id").unwrap().to_owned()),
            "request ids are unique"
        );
    }
    let c = sim.control().counters();
    assert_eq!(c.global.requests, 40);
    assert_eq!(c.instances["a/b"].requests, 13);
}

#[test]
fn reset_really_resets() {
    let sim = sim_with(Faults {
        reset: Some(Trigger::always().with_times(1)),
        ..Faults::none()
    });
    let err = get_status(&sim, "i").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    // Disarmed after one: the next connection gets an answer.
    assert_eq!(get_status(&sim, "i").unwrap().status, 200);
    assert_eq!(sim.control().counters().global.faults["reset"], 1);
}

#[test]
fn stalled_headers_stall_then_close() {
    let stall = StallHeaders {
        hold: ms(600),
        ..StallHeaders::default()
    };
    let sim = sim_with(Faults {
        stall_headers: Some(stall),
        ..Faults::none()
    });
    let mut s = connect(sim.addr());
    let started = Instant::now();
    s.write_all(
        head(
            "GET",
            &format!("/v1/{}/instances/i/status", sim.project_id()),
            sim.addr(),
            "X-Auth-Token: t\r\n",
            "",
        )
        .as_bytes(),
    )
    .unwrap();
    s.set_read_timeout(Some(ms(250))).unwrap();
    let mut buf = [0u8; 64];
    let e = s.read(&mut buf).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        "{e}"
    );
    // Then the connection is closed with not one byte sent.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(s.read(&mut buf).unwrap(), 0);
    assert!(started.elapsed() >= ms(550), "{:?}", started.elapsed());
    assert_eq!(sim.control().counters().global.faults["stall_headers"], 1);
}

#[test]
fn stalled_body_sends_part_then_stops() {
    let stall = StallBody {
        after_bytes: 10,
        hold: ms(500),
        ..StallBody::default()
    };
    let sim = sim_with(Faults {
        stall_body: Some(stall),
        ..Faults::none()
    });
    let s = connect(sim.addr());
    let mut w = s.try_clone().unwrap();
    w.write_all(
        head(
            "GET",
            &format!("/v1/{}/instances/i/status", sim.project_id()),
            sim.addr(),
            "X-Auth-Token: t\r\n",
            "",
        )
        .as_bytes(),
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let (status, headers) = read_head(&mut r).unwrap();
    assert_eq!(status, 200);
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .unwrap()
        .1
        .parse()
        .unwrap();
    assert_eq!(
        len,
        r#"{"state":"running","operation_state":"install-succeed"}"#.len()
    );
    let mut got = Vec::new();
    let started = Instant::now();
    let _ = r.read_to_end(&mut got); // ends at close (or reset) after the hold
    assert_eq!(got, br#"{"state":""#, "exactly after_bytes, then nothing");
    assert!(started.elapsed() >= ms(400), "{:?}", started.elapsed());
}

#[test]
fn trickled_body_completes_slowly() {
    let stall = StallBody {
        after_bytes: 40,
        trickle: Some(ms(15)),
        hold: ms(5000),
        ..StallBody::default()
    };
    let sim = sim_with(Faults {
        stall_body: Some(stall),
        ..Faults::none()
    });
    let started = Instant::now();
    let resp = get_status(&sim, "i").unwrap();
    let elapsed = started.elapsed();
    assert_eq!(
        resp.text(),
        r#"{"state":"running","operation_state":"install-succeed"}"#
    );
    // 16 bytes at one per 15 ms.
    assert!(elapsed >= ms(200), "{elapsed:?}");
}

#[test]
fn latency_oversized_502_and_5xx_on_the_wire() {
    let sim = sim_with(Faults {
        latency: Some(ms(300)),
        ..Faults::none()
    });
    let started = Instant::now();
    assert_eq!(get_status(&sim, "i").unwrap().status, 200);
    assert!(started.elapsed() >= ms(290));

    sim.control()
        .set_faults(Faults {
            oversized_body: Some(OversizedBody::default().with_times(1)),
            ..Faults::none()
        })
        .unwrap();
    let big = get_status(&sim, "i").unwrap();
    assert_eq!(big.header("content-length"), Some("1048577"));
    assert_eq!(big.body.len(), 1_048_577);

    sim.control()
        .set_faults(Faults {
            html_502: Some(Trigger::always().with_times(1)),
            server_error: Some(ServerError::status(500).with_times(1)),
            invalid_json: Some(Trigger::always().with_times(1)),
            ..Faults::none()
        })
        .unwrap();
    let e500 = get_status(&sim, "i").unwrap();
    assert_eq!(e500.status, 500);
    assert!(e500.text().contains("\"error_code\":\"CLOUDDC.500\""));
    let e502 = get_status(&sim, "i").unwrap();
    assert_eq!(
        (e502.status, e502.header("content-type")),
        (502, Some("text/html"))
    );
    assert!(e502.header("x-request-id").is_some());
    let bad = get_status(&sim, "i").unwrap();
    assert_eq!(bad.status, 200);
    assert!(serde_json::from_slice::<serde_json::Value>(&bad.body).is_err());
    assert_eq!(get_status(&sim, "i").unwrap().status, 200);
}

#[test]
fn rate_limited_requests_get_429_and_retry_after() {
    let sim = start_blocking(SimConfig::builder().token_bucket(1.0).build().unwrap()).unwrap();
    sim.control()
        .create_instance(
            NewInstance::new()
                .with_id("i")
                .with_schedule(Schedule::instant()),
        )
        .unwrap();
    assert_eq!(get_status(&sim, "i").unwrap().status, 200);
    let r = get_status(&sim, "i").unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(sim.control().counters().instances["i"].throttled, 1);
}

#[test]
fn aksk_signed_on_the_wire_is_verified_from_the_raw_path() {
    let (ak, sk) = ("AK-WIRE", "sk-wire-secret");
    let sim = start_blocking(
        SimConfig::builder()
            .project_id("p-1")
            .auth(Auth::ak_sk(ak, sk))
            .build()
            .unwrap(),
    )
    .unwrap();
    sim.control()
        .create_instance(
            NewInstance::new()
                .with_id("x/y z")
                .with_schedule(Schedule::instant()),
        )
        .unwrap();
    let session = Session::new(
        Config::builder()
            .endpoint(Endpoint::parse(sim.url()).unwrap())
            .project_id(ProjectId::new("p-1").unwrap())
            .credentials(Credentials::ak_sk(ak, sk).unwrap())
            .build()
            .unwrap(),
    );
    let wire = |secret_tamper: bool| {
        let req = build_status_request(
            &session,
            &InstanceId::new("x/y z").unwrap(),
            SystemTime::now(),
        )
        .unwrap();
        let mut text = format!("GET {} HTTP/1.1\r\n", req.uri().path());
        for (k, v) in req.headers() {
            let mut v = v.to_str().unwrap().to_owned();
            if secret_tamper && k == "authorization" {
                v = v.replace("Signature=", "Signature=00");
                v.truncate(v.len() - 2);
            }
            text.push_str(&format!("{k}: {v}\r\n"));
        }
        text.push_str("\r\n");
        let mut s = connect(sim.addr());
        s.write_all(text.as_bytes()).unwrap();
        read_response(&mut BufReader::new(s)).unwrap()
    };
    let ok = wire(false);
    assert_eq!(ok.status, 200, "{}", ok.text());
    let bad = wire(true);
    assert_eq!(bad.status, 401);
    assert!(bad.text().contains("APIGW.0301"));
    assert!(bad.header("x-request-id").is_some());
}

#[test]
fn admin_api_over_http() {
    let sim = start_blocking(SimConfig::default()).unwrap();
    let created = send(
        sim.addr(),
        "POST",
        "/_sim/instances",
        "",
        r#"{"id":"web-1","schedule":{"pending_ms":60000}}"#,
    )
    .unwrap();
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(
        get_status(&sim, "web-1").unwrap().text(),
        r#"{"state":"pending","operation_state":"install-processing"}"#
    );
    let jumped = send(
        sim.addr(),
        "POST",
        "/_sim/clock",
        "",
        r#"{"advance_ms":60000}"#,
    )
    .unwrap();
    assert_eq!(jumped.status, 200, "{}", jumped.text());
    assert!(
        get_status(&sim, "web-1")
            .unwrap()
            .text()
            .contains("\"running\"")
    );
    let deleted = send(sim.addr(), "POST", "/_sim/instances/web-1/delete", "", "").unwrap();
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert!(
        get_status(&sim, "web-1")
            .unwrap()
            .text()
            .contains("\"shutting-down\"")
    );
    let counters: serde_json::Value = serde_json::from_slice(
        &send(sim.addr(), "GET", "/_sim/counters", "", "")
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(counters["instances"]["web-1"]["requests"], 3);
    assert_eq!(counters["global"]["admin_requests"], 4);
}

#[test]
fn the_arrival_log_sees_each_request_on_the_wire() {
    let sim = sim_with(Faults::none());
    let before = sim.control().requests(Duration::from_secs(1));
    assert_eq!((before.count, before.max_in_window), (0, 0));
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(get_status(&sim, "i").unwrap().status, 200);
    }
    assert_eq!(get_status(&sim, "ghost").unwrap().status, 404);
    let spent = started.elapsed();
    let counters = send(sim.addr(), "GET", "/_sim/counters", "", "").unwrap();
    assert_eq!(counters.status, 200);

    // Admin requests are not in the log; a window longer than the test
    // holds every request.
    let log = sim.control().requests(Duration::from_secs(3600));
    assert_eq!(log.count, 4);
    assert_eq!(log.count, sim.control().counters().global.requests);
    assert_eq!(log.window, Duration::from_secs(3600));
    assert_eq!(log.arrivals.len(), 4);
    assert_eq!(log.max_in_window, 4);
    assert!(log.arrivals.is_sorted(), "{:?}", log.arrivals);
    let span = log.arrivals[3] - log.arrivals[0];
    assert!(
        span <= spent,
        "{span:?} between arrivals, {spent:?} spent sending"
    );

    // The admin route answers the same log.
    let raw = send(
        sim.addr(),
        "GET",
        "/_sim/requests?window_ms=3600000",
        "",
        "",
    )
    .unwrap();
    assert_eq!(raw.status, 200, "{}", raw.text());
    let v: serde_json::Value = serde_json::from_slice(&raw.body).unwrap();
    assert_eq!(v["count"], 4);
    assert_eq!(v["window_ms"], 3_600_000);
    assert_eq!(v["max_in_window"], 4);
    let us: Vec<u64> = log
        .arrivals
        .iter()
        .map(|d| u64::try_from(d.as_micros()).unwrap())
        .collect();
    assert_eq!(v["arrivals_us"], serde_json::json!(us));

    let reset = send(sim.addr(), "POST", "/_sim/reset", "", "").unwrap();
    assert_eq!(reset.status, 200, "{}", reset.text());
    let after = sim.control().requests(Duration::from_secs(1));
    assert_eq!((after.count, after.arrivals.len()), (0, 0));
}

#[test]
fn shutdown_cuts_stalls_and_frees_the_port() {
    let stall = StallHeaders {
        hold: Duration::from_secs(60),
        ..StallHeaders::default()
    };
    let sim = sim_with(Faults {
        stall_headers: Some(stall),
        ..Faults::none()
    });
    let addr = sim.addr();
    let mut s = connect(addr);
    s.write_all(
        head(
            "GET",
            &format!("/v1/{}/instances/i/status", sim.project_id()),
            addr,
            "X-Auth-Token: t\r\n",
            "",
        )
        .as_bytes(),
    )
    .unwrap();
    assert!(
        sim.control()
            .wait_until(Duration::from_secs(5), |s| s.global_counters().requests
                == 1)
    );
    let started = Instant::now();
    sim.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let mut buf = [0u8; 16];
    assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "closed, nothing sent");
    assert!(TcpStream::connect(addr).is_err(), "no longer listening");
}

#[test]
fn bind_errors_name_the_address() {
    let sim = start_blocking(SimConfig::default()).unwrap();
    let taken = sim.addr();
    let err = start_blocking(SimConfig::builder().listen(taken).build().unwrap()).unwrap_err();
    assert_eq!(err.kind(), "bind");
    assert!(err.to_string().contains(&taken.to_string()), "{err}");
}

#[tokio::test]
async fn async_start_wait_and_run_until() {
    let sim = start(SimConfig::builder().instances(3).seed(5).build().unwrap())
        .await
        .unwrap();
    assert!(sim.url().starts_with("http://127.0.0.1:"));
    assert_eq!(sim.control().instances().len(), 3);
    let addr = sim.addr();
    let project = sim.project_id().to_owned();
    let id = sim.control().instances()[0].id.clone();
    let client = tokio::task::spawn_blocking(move || {
        let target = format!("/v1/{project}/instances/{id}/status");
        send(addr, "GET", &target, "X-Auth-Token: t\r\n", "").map(|r| r.status)
    });
    assert!(
        sim.control()
            .wait_until_async(Duration::from_secs(5), |s| s.global_counters().requests
                == 1)
            .await
    );
    assert_eq!(client.await.unwrap().unwrap(), 200);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sim.run_until(async {
        let _ = rx.await;
    }));
    tx.send(()).unwrap();
    server.await.unwrap();
    assert!(TcpStream::connect(addr).is_err());
}

/// Writes `req` as it is (path and query as signed) and reads the answer.
fn send_request(addr: SocketAddr, req: &clouddc_core::http::Request<Vec<u8>>) -> Raw {
    let target = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let mut text = format!("{} {target} HTTP/1.1\r\n", req.method());
    for (k, v) in req.headers() {
        text.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
    }
    text.push_str("\r\n");
    let mut s = connect(addr);
    s.write_all(text.as_bytes()).unwrap();
    read_response(&mut BufReader::new(s)).unwrap()
}

fn gateway_offset(r: &Raw, local: SystemTime) -> i64 {
    let dates: Vec<_> = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("date"))
        .collect();
    assert_eq!(dates.len(), 1, "one Date header: {:?}", r.headers);
    let gateway = httpdate::parse_http_date(&dates[0].1).unwrap();
    match gateway.duration_since(local) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap(),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap(),
    }
}

#[test]
fn metadata_credentials_iam_and_a_skewed_gateway_on_the_wire() {
    let sim = start_blocking(
        SimConfig::builder()
            .project_id("p-1")
            .auth(Auth::ak_sk("AK-CONFIGURED", "sk-configured"))
            .metadata(Metadata::on().with_rotation(Duration::from_secs(2), Duration::from_secs(6)))
            .clock_offset_secs(3600)
            .build()
            .unwrap(),
    )
    .unwrap();
    sim.control()
        .create_instance(
            NewInstance::new()
                .with_id("i")
                .with_schedule(Schedule::instant()),
        )
        .unwrap();

    // The metadata service: a session token, then the credentials.
    let token = send(
        sim.addr(),
        "PUT",
        "/meta-data/latest/api/token",
        "X-Metadata-Token-Ttl-Seconds: 21600\r\n",
        "",
    )
    .unwrap();
    assert_eq!(token.status, 200, "{}", token.text());
    let key = send(
        sim.addr(),
        "GET",
        "/openstack/latest/securitykey",
        &format!("X-Metadata-Token: {}\r\n", token.text()),
        "",
    )
    .unwrap();
    assert_eq!(key.status, 200, "{}", key.text());
    let v: serde_json::Value = serde_json::from_slice(&key.body).unwrap();
    let c = &v["credential"];
    let expires = humantime::parse_rfc3339(c["expires_at"].as_str().unwrap()).unwrap();
    let left = expires.duration_since(SystemTime::now()).unwrap();
    assert!(
        left <= Duration::from_secs(6) && left > Duration::from_secs(3),
        "{left:?}"
    );
    // The metadata service keeps this machine's time.
    assert!(gateway_offset(&key, SystemTime::now()).abs() <= 2);
    let creds = Credentials::temporary(
        c["access"].as_str().unwrap(),
        c["secret"].as_str().unwrap(),
        c["securitytoken"].as_str().unwrap(),
    )
    .unwrap();
    let current = sim.control().metadata_credentials().unwrap();
    assert!(current.number <= 1);
    assert_eq!(c["access"], current.access_key.as_str());

    // Signed with this machine's clock: refused, and Date tells by how much.
    let session = Session::new(
        Config::builder()
            .endpoint(Endpoint::parse(sim.url()).unwrap())
            .project_id(ProjectId::new("p-1").unwrap())
            .credentials(creds.clone())
            .build()
            .unwrap(),
    );
    let id = InstanceId::new("i").unwrap();
    let local = SystemTime::now();
    let refused = send_request(
        sim.addr(),
        &build_status_request(&session, &id, local).unwrap(),
    );
    assert_eq!(refused.status, 401);
    let body: serde_json::Value = serde_json::from_slice(&refused.body).unwrap();
    assert_eq!(
        body["error_msg"],
        "Incorrect IAM authentication information: The request has expired"
    );
    assert_eq!(body["request_id"].as_str(), refused.header("x-request-id"));
    let offset = gateway_offset(&refused, local);
    assert!((3599..=3601).contains(&offset), "{offset}");
    // Signed with the gateway's time: accepted.
    let fixed = local + Duration::from_secs(3600);
    let ok = send_request(
        sim.addr(),
        &build_status_request(&session, &id, fixed).unwrap(),
    );
    assert_eq!(ok.status, 200, "{}", ok.text());

    // IAM, signed with the same credentials over the canonical query.
    let Credentials::AkSk {
        access_key,
        secret_key,
        security_token,
    } = &creds
    else {
        panic!("temporary credentials are AK/SK")
    };
    let lookup = |at: SystemTime| {
        let mut req =
            clouddc_core::http::Request::get(format!("{}/v3/projects?name=cn-east-3", sim.url()))
                .header("Host", sim.addr().to_string())
                .header(
                    "X-Security-Token",
                    security_token.as_ref().unwrap().expose(),
                )
                .body(Vec::new())
                .unwrap();
        sign_request(&mut req, access_key, secret_key.expose(), at);
        send_request(sim.addr(), &req)
    };
    let projects = lookup(fixed);
    assert_eq!(projects.status, 200, "{}", projects.text());
    assert!(projects.header("x-iam-trace-id").is_some());
    let v: serde_json::Value = serde_json::from_slice(&projects.body).unwrap();
    assert_eq!(v["projects"][0]["id"], "p-1");
    assert_eq!(lookup(local).status, 401);

    // Control: several projects, no offset, no agency.
    sim.control()
        .set_iam_projects([
            IamProject::new("a", "cn-east-3"),
            IamProject::new("b", "cn-east-3"),
        ])
        .unwrap();
    sim.control().apply(Op::SetClockOffset(0)).unwrap();
    assert_eq!(sim.control().with(|s, _| s.clock_offset_secs()), 0);
    let v: serde_json::Value = serde_json::from_slice(&lookup(SystemTime::now()).body).unwrap();
    assert_eq!(v["projects"].as_array().unwrap().len(), 2);
    sim.control()
        .set_metadata(
            sim.control()
                .with(|s, _| s.metadata().clone())
                .with_agency(false),
        )
        .unwrap();
    let no_agency = send(
        sim.addr(),
        "GET",
        "/openstack/latest/securitykey",
        &format!("X-Metadata-Token: {}\r\n", token.text()),
        "",
    )
    .unwrap();
    assert_eq!(no_agency.status, 401);
    assert!(
        no_agency
            .text()
            .contains("Please configure Cloud Service Agency first")
    );

    let counters = sim.control().counters().global;
    assert_eq!(
        (
            counters.metadata_token_requests,
            counters.metadata_key_requests,
            counters.iam_requests,
            counters.requests
        ),
        (1, 2, 3, 2)
    );
    assert!(counters.metadata_generations >= 1);
    assert!(counters.metadata_key_requests <= counters.metadata_generations + 1);
    // The admin API shows the same.
    let m: serde_json::Value = serde_json::from_slice(
        &send(sim.addr(), "GET", "/_sim/metadata", "", "")
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(
        (m["enabled"].clone(), m["agency"].clone()),
        (true.into(), false.into())
    );
}

// ------------------------------------------------- gateway flow control

#[test]
fn the_gateways_429_on_the_wire_has_its_json_and_no_retry_after() {
    let config = SimConfig::builder()
        .flow_policy(FlowPolicy::per_user(2, Duration::from_secs(3600)))
        .build()
        .unwrap();
    let sim = start_blocking(config).unwrap();
    let mut s = connect(sim.addr());
    let mut r = BufReader::new(s.try_clone().unwrap());
    let target = format!("/v1/{}/instances/i/status", sim.project_id());
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..4 {
        s.write_all(head("GET", &target, sim.addr(), "X-Auth-Token: t\r\n", "").as_bytes())
            .unwrap();
        let resp = read_response(&mut r).unwrap();
        statuses.push(resp.status);
        last = Some(resp);
    }
    // No instance "i": 404 twice, then the gateway refuses before routing
    // to the service.
    assert_eq!(statuses, [404, 404, 429, 429]);
    let resp = last.unwrap();
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.header("retry-after"), None);
    let id = resp.header("x-request-id").unwrap();
    assert_eq!(
        resp.text(),
        format!(
            r#"{{"error_msg":"The throttling threshold has been reached: policy user over ratelimit,limit:2,time:1 hour","error_code":"APIGW.0308","request_id":"{id}"}}"#
        )
    );
    // Another user has a quota of their own.
    let other = send(sim.addr(), "GET", &target, "X-Auth-Token: u\r\n", "").unwrap();
    assert_eq!(other.status, 404);
    let c = sim.control().counters().global;
    assert_eq!((c.throttled, c.gateway_throttled, c.requests), (2, 2, 5));
    // The records tell the connections apart.
    let recs = sim.control().request_records();
    let conns: Vec<_> = recs.iter().map(|r| (r.connection, r.reused)).collect();
    assert_eq!(
        conns,
        [
            (Some(1), false),
            (Some(1), true),
            (Some(1), true),
            (Some(1), true),
            (Some(2), false),
        ]
    );
    assert_eq!(recs[3].throttled.unwrap().window_index, 0);
}

#[test]
fn flow_control_set_over_the_admin_api_applies_at_once() {
    let sim = sim_with(Faults::none());
    let put = send(
        sim.addr(),
        "PUT",
        "/_sim/flow-control",
        "",
        r#"{"policies":[{"scope":"api","limit":1,"window_s":60}]}"#,
    )
    .unwrap();
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(get_status(&sim, "i").unwrap().status, 200);
    let refused = get_status(&sim, "i").unwrap();
    assert_eq!(refused.status, 429);
    assert!(
        refused
            .text()
            .contains("policy api over ratelimit,limit:1,time:1 minute")
    );
    assert_eq!(
        sim.control().with(|s, _| s.flow_policies()),
        [FlowPolicy::per_api(1, Duration::from_secs(60))]
    );
    sim.control()
        .apply(Op::SetFlowPolicies(Vec::new()))
        .unwrap();
    assert_eq!(get_status(&sim, "i").unwrap().status, 200);
}

// ------------------------------------------------------ stale connections

/// Sends `request` on `s` and reads whatever comes back until the server
/// closes: the bytes, and the error that ended the read, if any.
fn send_and_drain(s: &mut TcpStream, request: &str) -> (Vec<u8>, Option<io::ErrorKind>) {
    s.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (got, None),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, Some(e.kind())),
        }
    }
}

fn status_request(sim: &BlockingHandle) -> String {
    let target = format!("/v1/{}/instances/i/status", sim.project_id());
    head("GET", &target, sim.addr(), "X-Auth-Token: t\r\n", "")
}

#[test]
fn a_reused_connection_gets_eof_before_any_byte() {
    let sim = sim_with(Faults {
        stale_connections: Some(StaleConnections::reused()),
        ..Faults::none()
    });
    let mut s = connect(sim.addr());
    s.write_all(status_request(&sim).as_bytes()).unwrap();
    let first = read_response(&mut BufReader::new(s.try_clone().unwrap())).unwrap();
    assert_eq!(first.status, 200, "{}", first.text());
    // The second request on the same connection: read, then a clean close.
    let (bytes, error) = send_and_drain(&mut s, &status_request(&sim));
    assert_eq!(String::from_utf8_lossy(&bytes), "", "not one byte");
    assert_eq!(error, None, "an orderly close (EOF), not a reset");
    // A client that opens a new connection is answered.
    assert_eq!(get_status(&sim, "i").unwrap().status, 200);
    let c = sim.control().counters();
    assert_eq!(c.global.stale_closed, 1);
    assert_eq!(c.global.requests, 3);
    let recs = sim.control().request_records();
    assert_eq!(recs[1].fault, Some(FaultKind::StaleConnection));
    let arrived = sim.control().started() + recs[1].at;
    assert!(arrived <= Instant::now() && recs[0].at <= recs[1].at);
    assert_eq!(
        (recs[1].connection, recs[1].reused, recs[1].status),
        (Some(1), true, None)
    );
    assert_eq!((recs[2].connection, recs[2].reused), (Some(2), false));
}

#[test]
fn a_reused_connection_gets_a_reset_before_any_byte() {
    let sim = sim_with(Faults {
        stale_connections: Some(StaleConnections::reused().with_close(CloseWith::Reset)),
        ..Faults::none()
    });
    let mut s = connect(sim.addr());
    s.write_all(status_request(&sim).as_bytes()).unwrap();
    let first = read_response(&mut BufReader::new(s.try_clone().unwrap())).unwrap();
    assert_eq!(first.status, 200);
    let (bytes, error) = send_and_drain(&mut s, &status_request(&sim));
    assert!(bytes.is_empty(), "{:?}", String::from_utf8_lossy(&bytes));
    assert_eq!(error, Some(io::ErrorKind::ConnectionReset));
    assert_eq!(sim.control().counters().global.stale_closed, 1);
}

#[test]
fn a_pool_of_connections_goes_stale_after_an_idle_gap() {
    let idle = ms(500);
    let sim = sim_with(Faults {
        stale_connections: Some(StaleConnections::idle_longer_than(idle)),
        ..Faults::none()
    });
    let mut pool: Vec<TcpStream> = (0..3).map(|_| connect(sim.addr())).collect();
    // Busy: each connection is used twice in quick succession.
    for s in &mut pool {
        for _ in 0..2 {
            s.write_all(status_request(&sim).as_bytes()).unwrap();
            let r = read_response(&mut BufReader::new(s.try_clone().unwrap())).unwrap();
            assert_eq!(r.status, 200);
        }
    }
    std::thread::sleep(idle * 2);
    // After the gap every pooled connection is closed unanswered.
    for s in &mut pool {
        let (bytes, error) = send_and_drain(s, &status_request(&sim));
        assert!(bytes.is_empty() && error.is_none(), "{bytes:?} {error:?}");
    }
    assert_eq!(get_status(&sim, "i").unwrap().status, 200);
    let c = sim.control().counters().global;
    assert_eq!((c.stale_closed, c.requests), (3, 10));
}

#[test]
fn stale_connections_close_metadata_and_iam_requests_too() {
    let config = SimConfig::builder()
        .metadata(Metadata::on())
        .faults(Faults {
            stale_connections: Some(StaleConnections::reused()),
            ..Faults::none()
        })
        .build()
        .unwrap();
    let sim = start_blocking(config).unwrap();
    let requests = [
        head(
            "PUT",
            "/meta-data/latest/api/token",
            sim.addr(),
            "X-Metadata-Token-Ttl-Seconds: 60\r\n",
            "",
        ),
        head(
            "GET",
            "/v3/projects?name=cn-east-3",
            sim.addr(),
            "X-Auth-Token: t\r\n",
            "",
        ),
    ];
    for request in &requests {
        let mut s = connect(sim.addr());
        s.write_all(request.as_bytes()).unwrap();
        let first = read_response(&mut BufReader::new(s.try_clone().unwrap())).unwrap();
        assert_eq!(first.status, 200, "{}", first.text());
        let (bytes, error) = send_and_drain(&mut s, request);
        assert!(bytes.is_empty() && error.is_none(), "{request}");
    }
    // The admin API is never closed.
    let mut s = connect(sim.addr());
    for _ in 0..2 {
        s.write_all(head("GET", "/_sim/counters", sim.addr(), "", "").as_bytes())
            .unwrap();
        let r = read_response(&mut BufReader::new(s.try_clone().unwrap())).unwrap();
        assert_eq!(r.status, 200);
    }
    assert_eq!(sim.control().counters().global.stale_closed, 2);
}
