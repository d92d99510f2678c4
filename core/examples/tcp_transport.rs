//! A hand-written transport: plain HTTP/1.1 over `std::net::TcpStream`,
//! driving a real status query against a tiny loopback server started here.
//!
//! Run: `cargo run -p clouddc-core --example tcp_transport`
//!
//! This is what a constrained device would write: about forty lines of
//! transport, and the core does the rest (signing, parsing, retries).

// Examples are where the clock is supplied; the core itself never reads one.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Instant, SystemTime};

use clouddc_core::{
    Attempt, Call, Config, Credentials, Endpoint, Error, InstanceId, Now, ProjectId, Session, http,
};
use clouddc_core::{Clock, run};

/// The transport: one request per connection, `Connection: close`.
fn send(attempt: Attempt) -> Result<http::Response<Vec<u8>>, Error> {
    let req = attempt.request;
    let authority = req
        .uri()
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let io = |what: &'static str| move |e: std::io::Error| map_io(what, e);
    let mut stream = TcpStream::connect(&authority).map_err(io("connect"))?;
    stream
        .set_read_timeout(Some(attempt.timeout))
        .map_err(io("configure"))?;
    stream
        .set_write_timeout(Some(attempt.timeout))
        .map_err(io("configure"))?;
    let mut head = format!("{} {} HTTP/1.1\r\n", req.method(), req.uri().path());
    for (name, value) in req.headers() {
        head.push_str(&format!("{}: {}\r\n", name, value.to_str().unwrap_or("")));
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).map_err(io("write"))?;

    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(io("read status line"))?;
    let code: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut builder = http::Response::builder().status(code);
    loop {
        line.clear();
        reader.read_line(&mut line).map_err(io("read headers"))?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            builder = builder.header(k.trim(), v.trim());
        }
    }
    // Read at most body_limit + 1 bytes; the core decides what that means.
    let mut body = Vec::new();
    reader
        .take(attempt.body_limit as u64 + 1)
        .read_to_end(&mut body)
        .map_err(io("read body"))?;
    builder
        .body(body)
        .map_err(|e| Error::transport("malformed response head", e))
}

fn map_io(what: &'static str, e: std::io::Error) -> Error {
    use std::io::ErrorKind::{TimedOut, WouldBlock};
    if matches!(e.kind(), TimedOut | WouldBlock) {
        Error::timeout(format!("{what} timed out"), Some(Box::new(e)))
    } else {
        Error::transport(format!("{what} failed"), e)
    }
}

struct SystemClock;
impl Clock for SystemClock {
    fn now(&self) -> Now {
        Now::new(SystemTime::now(), Instant::now())
    }
    fn sleep_until(&self, until: Instant) {
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
    }
}

/// A one-shot loopback server: a 503 first, then the status.
fn serve(listener: TcpListener) {
    for (i, stream) in listener.incoming().take(2).enumerate() {
        let Ok(mut stream) = stream else { return };
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
            line.clear();
        }
        let (status, body) = if i == 0 {
            ("503 Service Unavailable", "<html>busy</html>".to_owned())
        } else {
            (
                "200 OK",
                r#"{"state":"running","operation_state":"install-succeed"}"#.to_owned(),
            )
        };
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nX-Request-Id: demo-{i}\r\nRetry-After: 0\r\n\r\n{body}",
            body.len()
        );
    }
}

fn main() -> Result<(), Error> {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    std::thread::spawn(move || serve(listener));

    let config = Config::builder()
        .endpoint(Endpoint::parse(&format!("http://{addr}"))?)
        .project_id(ProjectId::new("project-local")?)
        .credentials(Credentials::ak_sk("HPUAEXAMPLEAK000003", "example-secret")?)
        .build()?;
    let mut call = Call::new(
        &Session::new(config),
        InstanceId::new("ins-1")?,
        SystemClock.now(),
        7,
    );
    let status = run(&mut call, &send, &SystemClock)?;
    println!(
        "instance ins-1 is {} (operation {}), after {} attempt(s)",
        status.state,
        status
            .operation_state
            .map(|o| o.to_string())
            .unwrap_or_else(|| "-".into()),
        call.attempts()
    );
    Ok(())
}
