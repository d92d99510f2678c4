//! Test support for the cross-crate tests: a small scripted HTTP/1.1 server
//! on `127.0.0.1:0`.
//!
//! It is written on std threads on purpose, so it can misbehave in ways a
//! server framework will not: never answer, reset the connection, stream a
//! body far larger than any client should read, or hold requests until a
//! number of them are in flight at once. It records every request exactly as
//! it arrived (method, raw request-target, headers in order, body) and counts
//! requests in flight, open connections and bodies cut short by the client.
//!
//! For byte-level abuse ([`Reply::Raw`], [`Reply::Trickle`],
//! [`Reply::Stream`]) the test writes the status line and headers itself,
//! so nothing about the response has to be well formed.
//!
//! ```
//! use clouddc_tests::{Reply, Server};
//! use std::io::{Read, Write};
//! let server = Server::script(vec![Reply::json(200, r#"{"state":"running"}"#)]);
//! let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
//! s.write_all(b"GET /v1/p/instances/a%2Fb/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
//! let mut answer = String::new();
//! s.read_to_string(&mut answer).unwrap();
//! assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert_eq!(server.requests()[0].target, "/v1/p/instances/a%2Fb/status");
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod capture;

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use clouddc_core::http;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The method.
    pub method: String,
    /// The request-target exactly as sent (still percent-encoded).
    pub target: String,
    /// Header names and values in the order they arrived.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// When the head was read.
    pub at: Instant,
    /// Which connection (0-based, in accept order) carried it.
    pub connection: usize,
}

impl Recorded {
    /// Every value of a header, case-insensitively.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The first value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).into_iter().next()
    }

    /// The path segments of the target (split on `/`, still encoded).
    pub fn segments(&self) -> Vec<&str> {
        let path = self.target.split('?').next().unwrap_or("");
        path.trim_start_matches('/').split('/').collect()
    }

    /// The request as an `http::Request`, e.g. for signature verification.
    pub fn to_http(&self) -> http::Request<Vec<u8>> {
        let mut b = http::Request::builder()
            .method(self.method.as_str())
            .uri(self.target.as_str());
        for (k, v) in &self.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        b.body(self.body.clone())
            .expect("a request the server parsed is a valid http::Request")
    }
}

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete response with `Content-Length`.
    Respond {
        /// The status code.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// A 200 announcing and streaming `bytes` bytes of JSON-looking filler,
    /// through a small send buffer so that the kernel cannot absorb it all:
    /// a client that stops reading makes the write fail ("cut short").
    Huge {
        /// The body length.
        bytes: usize,
    },
    /// Reads the request and never answers; the connection stays open until
    /// the server is dropped.
    Hang,
    /// Sends a 200 head announcing 100 body bytes, sends ten, and stalls
    /// until the server is dropped.
    StallBody,
    /// Reads the request and resets the connection (linger 0, then close).
    Reset,
    /// Writes `bytes` exactly as given (status line, headers, any body),
    /// then ends as `end` says.
    Raw {
        /// What goes on the wire.
        bytes: Vec<u8>,
        /// What happens next.
        end: End,
    },
    /// Writes `head`, then the bytes of `drip` one at a time, `every` apart
    /// (cycling through `drip`), until the client goes away or the server
    /// is dropped.
    Trickle {
        /// Written at once.
        head: Vec<u8>,
        /// Written a byte at a time; must not be empty.
        drip: Vec<u8>,
        /// The pause between two bytes.
        every: Duration,
    },
    /// Writes `head`, then `pattern` repeated up to `bytes` bytes, then
    /// `tail`, generated as it goes (never held in memory) through a small
    /// send buffer, like `Huge`: counted in `cut_short` or `sent_in_full`.
    Stream {
        /// Written first, verbatim (e.g. a status line and headers).
        head: Vec<u8>,
        /// Repeated, then cut at `bytes`; must not be empty.
        pattern: Vec<u8>,
        /// How many bytes of `pattern` to write.
        bytes: usize,
        /// Written last.
        tail: Vec<u8>,
    },
    /// Holds the request until `in_flight` requests are in flight at once, or
    /// `total` requests have arrived, or `timeout` passes; then answers.
    Gated {
        /// In-flight requests that release the gate.
        in_flight: usize,
        /// Total requests that release the gate (for the last batch).
        total: usize,
        /// The longest hold.
        timeout: Duration,
        /// The answer after the gate.
        then: Box<Self>,
    },
}

impl Reply {
    /// A response with a JSON body.
    pub fn json(status: u16, body: &str) -> Self {
        Self::Respond {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// A response with a text or HTML body and its content type.
    pub fn text(status: u16, content_type: &str, body: &str) -> Self {
        Self::Respond {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// Adds a header to a `Respond` (other replies are returned unchanged).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let Self::Respond { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

/// How a [`Reply::Raw`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Close the connection (a FIN; the request was read in full first).
    Close,
    /// Keep the connection open, sending nothing, until the server is
    /// dropped.
    Hang,
    /// Pause for the given time, then reset the connection (linger 0).
    Reset(Duration),
}

/// Counters the server keeps.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Requests whose answer has not been written yet.
    pub in_flight: usize,
    /// The most requests in flight at once.
    pub max_in_flight: usize,
    /// Connections open now.
    pub open: usize,
    /// The most connections open at once.
    pub max_open: usize,
    /// Connections accepted so far.
    pub accepted: usize,
    /// `Huge` and `Stream` bodies the client stopped reading before the end.
    pub cut_short: usize,
    /// `Huge` and `Stream` bodies written to the end.
    pub sent_in_full: usize,
}

type Handler = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

struct State {
    requests: Vec<Recorded>,
    stats: Stats,
    shutdown: bool,
}

struct Shared {
    handler: Box<Handler>,
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }

    /// Waits until `done` holds or `timeout` passes; true if it holds.
    fn wait(&self, timeout: Duration, done: impl Fn(&State) -> bool) -> bool {
        let guard = self.lock();
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |s| !done(s) && !s.shutdown)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        done(&guard)
    }
}

/// A scripted HTTP/1.1 server on `127.0.0.1`, stopped when dropped.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Server {
    /// Starts a server whose answer to the `n`-th request (0-based) is
    /// `handler(request, n)`.
    pub fn start(handler: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            handler: Box::new(handler),
            state: Mutex::new(State {
                requests: Vec::new(),
                stats: Stats::default(),
                shutdown: false,
            }),
            changed: Condvar::new(),
        });
        let accept = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept.lock().shutdown {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let conn = Arc::clone(&accept);
                std::thread::spawn(move || serve(&conn, stream));
            }
        });
        Self { addr, shared }
    }

    /// Answers the `n`-th request with `replies[n]`, and every request past
    /// the end with the last reply.
    pub fn script(replies: Vec<Reply>) -> Self {
        assert!(!replies.is_empty(), "a script needs at least one reply");
        Self::start(move |_, n| replies[n.min(replies.len() - 1)].clone())
    }

    /// The address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }

    /// Waits until `done(stats)` holds or `timeout` passes; true if it holds.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&Stats) -> bool) -> bool {
        self.shared.wait(timeout, |s| done(&s.stats))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.update(|s| s.shutdown = true);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

fn serve(shared: &Shared, stream: TcpStream) {
    let mut connection = 0;
    shared.update(|s| {
        connection = s.stats.accepted;
        s.stats.accepted += 1;
        s.stats.open += 1;
        s.stats.max_open = s.stats.max_open.max(s.stats.open);
    });
    // Idle keep-alive connections end on their own after a while.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if let Ok(read_half) = stream.try_clone() {
        let mut reader = BufReader::new(read_half);
        while let Some(mut request) = read_request(&mut reader) {
            request.connection = connection;
            let mut n = 0;
            shared.update(|s| {
                n = s.requests.len();
                s.requests.push(request.clone());
                s.stats.in_flight += 1;
                s.stats.max_in_flight = s.stats.max_in_flight.max(s.stats.in_flight);
            });
            let reply = (shared.handler)(&request, n);
            let close = request
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
            let keep_going = answer(shared, &stream, reply) && !close;
            shared.update(|s| s.stats.in_flight -= 1);
            if !keep_going {
                break;
            }
        }
    }
    shared.update(|s| s.stats.open -= 1);
}

/// Reads one request; `None` at end of stream or on garbage.
fn read_request(reader: &mut impl BufRead) -> Option<Recorded> {
    let mut line = Vec::new();
    let mut next_line = |reader: &mut dyn BufRead| -> Option<String> {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(
                String::from_utf8_lossy(&line)
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
            ),
        }
    };
    let request_line = next_line(reader)?;
    let at = Instant::now();
    let mut parts = request_line.split(' ');
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let l = next_line(reader)?;
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Recorded {
        method,
        target,
        headers,
        body,
        at,
        connection: 0,
    })
}

/// Writes the reply; false when the connection must not be used again.
fn answer(shared: &Shared, mut stream: &TcpStream, reply: Reply) -> bool {
    match reply {
        Reply::Respond {
            status,
            headers,
            body,
        } => {
            let reason = http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Unknown");
            let mut head = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes()).is_ok()
                && stream.write_all(&body).is_ok()
                && stream.flush().is_ok()
        }
        Reply::Huge { bytes } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {bytes}\r\n\r\n"
            );
            stream_out(shared, stream, head.as_bytes(), b" ", bytes, b"")
        }
        Reply::Stream {
            head,
            pattern,
            bytes,
            tail,
        } => stream_out(shared, stream, &head, &pattern, bytes, &tail),
        Reply::Raw { bytes, end } => {
            let _ = stream.write_all(&bytes).and_then(|()| stream.flush());
            match end {
                End::Close => {
                    let _ = stream.shutdown(Shutdown::Write);
                }
                End::Hang => {
                    shared.wait(Duration::from_secs(60), |s| s.shutdown);
                }
                End::Reset(after) => {
                    shared.wait(after, |s| s.shutdown);
                    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
                }
            }
            false
        }
        Reply::Trickle { head, drip, every } => {
            let mut ok = stream.write_all(&head).is_ok();
            for byte in drip.iter().cycle() {
                if !ok || shared.wait(every, |s| s.shutdown) {
                    break;
                }
                ok = stream.write_all(&[*byte]).is_ok() && stream.flush().is_ok();
            }
            false
        }
        Reply::Hang => {
            shared.wait(Duration::from_secs(60), |s| s.shutdown);
            let _ = stream.shutdown(Shutdown::Both);
            false
        }
        Reply::StallBody => {
            let head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"state\":";
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.flush();
            shared.wait(Duration::from_secs(60), |s| s.shutdown);
            false
        }
        Reply::Reset => {
            let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
            false // the caller drops both halves: the kernel sends RST
        }
        Reply::Gated {
            in_flight,
            total,
            timeout,
            then,
        } => {
            shared.wait(timeout, |s| {
                s.stats.in_flight >= in_flight || s.requests.len() >= total
            });
            answer(shared, stream, *then)
        }
    }
}

/// Writes `head`, `pattern` repeated up to `bytes` bytes, and `tail`,
/// through a small send buffer so that a client that stops reading makes a
/// write fail; counts the outcome. True when everything was written.
fn stream_out(
    shared: &Shared,
    mut stream: &TcpStream,
    head: &[u8],
    pattern: &[u8],
    bytes: usize,
    tail: &[u8],
) -> bool {
    let sock = socket2::SockRef::from(stream);
    let _ = sock.set_send_buffer_size(16 * 1024);
    // A client that neither reads nor closes cannot pin this thread forever.
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let mut chunk = Vec::with_capacity(16 * 1024 + pattern.len());
    while chunk.len() < 16 * 1024 && !pattern.is_empty() {
        chunk.extend_from_slice(pattern);
    }
    let mut left = bytes;
    let mut ok = stream.write_all(head).is_ok();
    while ok && left > 0 && !chunk.is_empty() {
        let n = left.min(chunk.len());
        ok = stream.write_all(&chunk[..n]).is_ok();
        left -= n;
    }
    ok = ok && stream.write_all(tail).is_ok() && stream.flush().is_ok();
    shared.update(|s| {
        if ok {
            s.stats.sent_in_full += 1;
        } else {
            s.stats.cut_short += 1;
        }
    });
    ok
}
