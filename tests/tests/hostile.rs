//! A hostile server against both transports: ONE table of byte-level abuses
//! and two runners (ureq, reqwest), the same pattern as `adapters.rs`.
//!
//! Every case asserts the documented error kind, that the call ends within
//! the per-attempt timeout + 1 s (attempts are short, 500 ms unless a case
//! says otherwise, and a single attempt where retries are not the point),
//! and that memory stays bounded.
//!
//! # How memory is measured
//! The workspace forbids `unsafe`, so there is no counting global
//! allocator. Instead, while a case runs, a background thread reads this
//! process's resident set (`VmRSS` in `/proc/self/status`) every
//! millisecond; the case fails when the peak exceeds the reading taken just
//! before it by 32 MiB or more. `VmHWM` cannot be reset, so it is only
//! printed at the end as a cross-check. Cases run one at a time across both
//! tables (a lock), so no other case, nor the backtrace of a failing one,
//! allocates during a reading. Freed memory that the allocator keeps could
//! hide growth, so the table lists the cases that try to eat memory first,
//! before anything else has allocated much; after them, what is kept is a
//! few MiB at most, far below the bound. The server runs in the same
//! process and is part of the reading; it generates its big bodies as it
//! writes them, never holding them. Run with `--nocapture` to see the
//! figures. Off Linux there is no `/proc`, and the memory bound is skipped
//! (the time and kind assertions still hold).
//!
//! # Compression
//! Neither adapter enables compression: ureq is built without its `gzip` and
//! `brotli` features and reqwest without `gzip`, `brotli`, `zstd` and
//! `deflate` (see `cargo tree -e features`). So the gzip-bomb case asserts
//! both that no `Accept-Encoding` is sent and that a `Content-Encoding:
//! gzip` body is handed to the core as opaque bytes: a decode error for
//! invalid UTF-8 (gzip's second magic byte, 0x8b, is never valid UTF-8),
//! where an inflating client would have seen valid JSON (or a body over the
//! cap). Were a user to switch a library's decompression on through feature
//! unification, the cap still applies to the inflated bytes, because both
//! adapters count the bytes the library hands them.

// Helpers outside `#[test]` functions unwrap too: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clouddc_core::DecodeReason;
use clouddc_core::{
    Config, Credentials, Endpoint, Error, ErrorKind, InstanceId, InstanceState, InstanceStatus,
    ProjectId, RetryPolicy,
};
use clouddc_tests::{End, Recorded, Reply, Server};

const PROJECT: &str = "p1";
const TOKEN: &str = "tok-MARKER-3c5d";
const RUNNING: &str = r#"{"state":"running"}"#;
/// The per-attempt timeout of most cases.
const ATTEMPT: Duration = Duration::from_millis(500);
/// The most a watched case may add to the resident set.
const MEMORY_BOUND_KIB: u64 = 32 * 1024;
/// One gibibyte.
const GIB: usize = 1 << 30;
/// Ten years, in seconds.
const TEN_YEARS: u64 = 10 * 365 * 24 * 3600;

/// What a case configures; both runners build their client from it with the
/// same calls (see `config` and `build_client!`).
#[derive(Clone)]
struct Settings {
    url: String,
    attempt_timeout: Duration,
    retry: RetryPolicy,
    body_limit: Option<usize>,
}

impl Settings {
    fn new(url: String) -> Self {
        Self {
            url,
            attempt_timeout: ATTEMPT,
            retry: RetryPolicy::default()
                .with_max_attempts(1)
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(50)),
            body_limit: None,
        }
    }
    fn max_attempts(mut self, n: u32) -> Self {
        self.retry = self.retry.with_max_attempts(n);
        self
    }
}

/// The config both runners build their client from: one type, so the
/// clients cannot be configured apart.
fn config(s: &Settings) -> Config {
    let mut b = Config::builder()
        .endpoint(Endpoint::parse(&s.url).unwrap())
        .project_id(ProjectId::new(PROJECT).unwrap())
        .credentials(Credentials::token(TOKEN).unwrap())
        .attempt_timeout(s.attempt_timeout)
        .retry(s.retry.clone());
    if let Some(n) = s.body_limit {
        b = b.body_limit(n);
    }
    b.build().expect("the config builds")
}

/// The same call for both clients: the surfaces must match.
macro_rules! build_client {
    ($client:ty, $settings:expr) => {
        <$client>::new(config($settings)).expect("the client builds")
    };
}

trait Runner {
    /// `ureq` or `reqwest`, as in the crate name.
    const NAME: &'static str;
    /// One client, then `status` for each id in turn.
    fn statuses(&self, s: &Settings, ids: &[InstanceId]) -> Vec<Result<InstanceStatus, Error>>;
}

struct Ureq;

impl Runner for Ureq {
    const NAME: &'static str = "ureq";
    fn statuses(&self, s: &Settings, ids: &[InstanceId]) -> Vec<Result<InstanceStatus, Error>> {
        let client = build_client!(clouddc_ureq::Client, s);
        ids.iter().map(|id| client.status(id)).collect()
    }
}

struct Reqwest;

impl Runner for Reqwest {
    const NAME: &'static str = "reqwest";
    fn statuses(&self, s: &Settings, ids: &[InstanceId]) -> Vec<Result<InstanceStatus, Error>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let client = build_client!(clouddc_reqwest::Client, s);
            let mut out = Vec::new();
            for id in ids {
                out.push(client.status(id).await);
            }
            out
        })
    }
}

/// The servers of a case: the one the client talks to, and optionally a
/// bystander that must never hear from the client.
struct Stage {
    server: Server,
    bystander: Option<Server>,
}

impl From<Server> for Stage {
    fn from(server: Server) -> Self {
        Self {
            server,
            bystander: None,
        }
    }
}

/// One row of the table.
struct Case {
    name: &'static str,
    stage: fn() -> Stage,
    settings: fn(Settings) -> Settings,
    ids: &'static [&'static str],
    check: fn(&Run<'_>),
}

/// What a case observed.
struct Run<'a> {
    runner: &'static str,
    stage: &'a Stage,
    results: Vec<Result<InstanceStatus, Error>>,
    elapsed: Duration,
}

impl Run<'_> {
    fn requests(&self) -> Vec<Recorded> {
        self.stage.server.requests()
    }
    fn assert_requests(&self, n: usize) {
        assert_eq!(self.requests().len(), n, "requests the server saw");
    }
    /// Every result is an error of `kind`; returns them.
    fn errors(&self, kind: ErrorKind) -> Vec<&Error> {
        self.results
            .iter()
            .map(|r| match r {
                Err(e) => {
                    assert_eq!(e.kind(), kind, "{e} / {e:?}");
                    e
                }
                Ok(s) => panic!("expected a {kind} error, got {s:?}"),
            })
            .collect()
    }
    /// The only result is an error of `kind`.
    fn error(&self, kind: ErrorKind) -> &Error {
        assert_eq!(self.results.len(), 1);
        self.errors(kind)[0]
    }
    /// The only result is a decode error for `reason`.
    fn decode(&self, reason: DecodeReason) {
        let e = self.error(ErrorKind::Decode);
        assert_eq!(decode_reason(e), reason, "{e}");
    }
    /// The server's big body was cut short by the client, not sent in full.
    fn assert_cut_short(&self) {
        let server = &self.stage.server;
        let cut = server.wait_for(Duration::from_secs(5), |s| s.cut_short == 1);
        assert!(cut, "the client stopped reading: {:?}", server.stats());
        assert_eq!(server.stats().sent_in_full, 0);
    }
    /// The call gave up at its attempt timeout, not before.
    fn assert_timed_out_at(&self, timeout: Duration) {
        self.error(ErrorKind::Timeout);
        let early = timeout.saturating_sub(Duration::from_millis(50));
        assert!(self.elapsed >= early, "{:?}", self.elapsed);
    }
}

fn decode_reason(e: &Error) -> DecodeReason {
    match e {
        Error::Decode(d) => d.reason(),
        other => panic!("not a decode error: {other:?}"),
    }
}

fn ok(body: &str) -> Reply {
    Reply::json(200, body)
}

/// A response written verbatim, then a FIN.
fn raw(bytes: impl Into<Vec<u8>>) -> Reply {
    Reply::Raw {
        bytes: bytes.into(),
        end: End::Close,
    }
}

/// A response with arbitrary body bytes and a correct `Content-Length`.
fn bytes_body(status: u16, body: &[u8]) -> Reply {
    Reply::Respond {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_vec(),
    }
}

/// `head`, then `pattern` up to `bytes` bytes, then `tail`, generated lazily.
fn stream(head: &str, pattern: &str, bytes: usize, tail: &str) -> Reply {
    Reply::Stream {
        head: head.as_bytes().to_vec(),
        pattern: pattern.as_bytes().to_vec(),
        bytes,
        tail: tail.as_bytes().to_vec(),
    }
}

/// A 200 head announcing a body of `len` bytes.
fn head_with_length(len: usize) -> String {
    format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n")
}

const CHUNKED_HEAD: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";

/// `[[[…]]]`, `depth` deep.
fn nested(depth: usize) -> String {
    let mut s = "[".repeat(depth);
    s.push_str(&"]".repeat(depth));
    s
}

fn status_path(id: &str) -> String {
    format!("/v1/{PROJECT}/instances/{id}/status")
}

// --- gzip, written by hand: no compression library in the dependency tree.

/// CRC-32 (IEEE, reflected), as gzip's trailer needs it.
struct Crc32 {
    table: [u32; 256],
    value: u32,
}

impl Crc32 {
    fn new() -> Self {
        let mut table = [0u32; 256];
        for (n, slot) in (0u32..).zip(table.iter_mut()) {
            let mut c = n;
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        Self {
            table,
            value: 0xFFFF_FFFF,
        }
    }
    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            let i = usize::from((self.value as u8) ^ b);
            self.value = self.table[i] ^ (self.value >> 8);
        }
    }
    fn finish(&self) -> u32 {
        !self.value
    }
}

/// A DEFLATE bit stream (RFC 1951): values LSB first, Huffman codes MSB first.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, len: u32) {
        self.acc |= value << self.n;
        self.n += len;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }
    fn code(&mut self, code: u32, len: u32) {
        let reversed = (0..len).fold(0, |r, i| r | (((code >> i) & 1) << (len - 1 - i)));
        self.put(reversed, len);
    }
    /// A literal byte with the fixed Huffman code.
    fn literal(&mut self, b: u8) {
        let b = u32::from(b);
        if b < 144 {
            self.code(0x30 + b, 8);
        } else {
            self.code(0x190 + b - 144, 9);
        }
    }
    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// A gzip member whose content is `text` followed by `1 + 258 * repeats`
/// spaces: one fixed-Huffman block where each repeat is a single 13-bit
/// "copy 258 bytes from distance 1" (a ratio of about 160 to 1).
fn gzip(text: &str, repeats: usize) -> Vec<u8> {
    let mut bits = Bits::default();
    bits.put(1, 1); // BFINAL
    bits.put(1, 2); // BTYPE = fixed Huffman
    let mut crc = Crc32::new();
    crc.update(text.as_bytes());
    for b in text.bytes() {
        bits.literal(b);
    }
    let mut len = text.len();
    if repeats > 0 {
        bits.literal(b' ');
        crc.update(b" ");
        len += 1;
        let run = [b' '; 258];
        for _ in 0..repeats {
            bits.code(0xC5, 8); // length symbol 285: 258 bytes, no extra bits
            bits.code(0, 5); // distance symbol 0: distance 1
            crc.update(&run);
        }
        len += 258 * repeats;
    }
    bits.code(0, 7); // end of block (symbol 256)
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.extend(bits.finish());
    out.extend(crc.finish().to_le_bytes());
    out.extend((len as u32).to_le_bytes());
    out
}

/// A gzip body as the server sends it: announced, never negotiated.
fn gzip_reply(body: Vec<u8>) -> Reply {
    Reply::Respond {
        status: 200,
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("Content-Encoding".into(), "gzip".into()),
        ],
        body,
    }
}

/// Repeats that keep a bomb's compressed size under the default 64 KiB cap
/// while it inflates to about 9.8 MB.
const BOMB_REPEATS: usize = 38_000;

// --- memory

/// A `kB` field of `/proc/self/status`, in KiB.
fn proc_status_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim_start_matches(':')
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The resident set sampled every millisecond on a background thread.
struct RssWatch {
    before: u64,
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// Figures of one watched case, in KiB.
struct Rss {
    before: u64,
    peak: u64,
}

impl RssWatch {
    /// Starts sampling; `None` where there is no `/proc` (not Linux).
    fn start() -> Option<Self> {
        let Some(before) = proc_status_kib("VmRSS") else {
            if cfg!(target_os = "linux") {
                panic!("/proc/self/status has no VmRSS on Linux");
            }
            return None;
        };
        let peak = Arc::new(AtomicU64::new(before));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (Arc::clone(&peak), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(now) = proc_status_kib("VmRSS") {
                    p.fetch_max(now, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        Some(Self {
            before,
            peak,
            stop,
            thread,
        })
    }

    fn finish(self) -> Rss {
        if let Some(now) = proc_status_kib("VmRSS") {
            self.peak.fetch_max(now, Ordering::Relaxed);
        }
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        Rss {
            before: self.before,
            peak: self.peak.load(Ordering::Relaxed),
        }
    }
}

// --- the table

fn cases() -> Vec<Case> {
    vec![
        // Bodies and heads too big to hold, first (see "How memory is
        // measured"): each is generated lazily by the server and must be cut
        // off by the client.
        Case {
            name: "1 GB body with Content-Length: decode at the cap, the rest never read",
            stage: || Server::script(vec![Reply::Huge { bytes: GIB }]).into(),
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| {
                r.decode(DecodeReason::TooLarge { limit: 64 * 1024 });
                r.assert_cut_short();
                r.assert_requests(1);
            },
        },
        Case {
            name: "1 GB chunked body: decode at the cap, the rest never read",
            stage: || {
                let head = format!("{CHUNKED_HEAD}{GIB:x}\r\n");
                Server::script(vec![stream(&head, " ", GIB, "\r\n0\r\n\r\n")]).into()
            },
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| {
                r.decode(DecodeReason::TooLarge { limit: 64 * 1024 });
                r.assert_cut_short();
            },
        },
        Case {
            name: "1 GB body delimited by the close: decode at the cap, the rest never read",
            stage: || {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
                Server::script(vec![stream(head, " ", GIB, "")]).into()
            },
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| {
                r.decode(DecodeReason::TooLarge { limit: 64 * 1024 });
                r.assert_cut_short();
            },
        },
        Case {
            name: "a state string of 10 MB: decode by the cap",
            stage: || {
                let (open, close, n) = (r#"{"state":""#, r#""}"#, 10 << 20);
                let head = format!("{}{open}", head_with_length(open.len() + n + close.len()));
                Server::script(vec![stream(&head, "a", n, close)]).into()
            },
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| {
                r.decode(DecodeReason::TooLarge { limit: 64 * 1024 });
                r.assert_cut_short();
            },
        },
        Case {
            name: "a header line that never ends (1 GB): transport, bounded",
            stage: || {
                Server::script(vec![stream("HTTP/1.1 200 OK\r\nX-Filler: ", "a", GIB, "")]).into()
            },
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| {
                r.error(ErrorKind::Transport);
                r.assert_cut_short();
            },
        },
        Case {
            name: "a million headers: transport, bounded",
            stage: || {
                let pattern = "X-A: b\r\n";
                let head = "HTTP/1.1 200 OK\r\n";
                Server::script(vec![stream(head, pattern, pattern.len() << 20, "\r\n")]).into()
            },
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| {
                r.error(ErrorKind::Transport);
                r.assert_cut_short();
            },
        },
        Case {
            name: "a chunk-size line with a 1 GB extension: transport, bounded",
            stage: || {
                let head = format!("{CHUNKED_HEAD}13;x=");
                Server::script(vec![stream(&head, "a", GIB, "\r\n")]).into()
            },
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| {
                r.error(ErrorKind::Transport);
                r.assert_cut_short();
            },
        },
        Case {
            name: "an endless stream of 100 Continue: bounded (transport or timeout)",
            stage: || {
                let pattern = "HTTP/1.1 100 Continue\r\n\r\n";
                Server::script(vec![stream("", pattern, GIB, "")]).into()
            },
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| {
                // ureq counts every 1xx head against its 64 KiB head limit;
                // hyper skips 1xx heads without a count, so for reqwest only
                // the attempt deadline ends it. Either way: bounded.
                let kind = match r.runner {
                    "ureq" => ErrorKind::Transport,
                    _ => ErrorKind::Timeout,
                };
                r.error(kind);
                r.assert_cut_short();
            },
        },
        Case {
            name: "gzip, never negotiated: no Accept-Encoding, body is opaque bytes (decode)",
            stage: || {
                let small = gzip(RUNNING, 0);
                let bomb = gzip(RUNNING, BOMB_REPEATS);
                assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
                Server::script(vec![gzip_reply(small), gzip_reply(bomb)]).into()
            },
            settings: |s| s,
            ids: &["ins-1", "ins-2"],
            check: |r| {
                // Inflated, the first is `{"state":"running"}` and the second
                // that and 9.8 MB of spaces: an inflating client would get Ok
                // and TooLarge.
                for e in r.errors(ErrorKind::Decode) {
                    assert_eq!(decode_reason(e), DecodeReason::InvalidUtf8, "{e}");
                }
                let reqs = r.requests();
                assert_eq!(reqs.len(), 2);
                for q in &reqs {
                    assert_eq!(q.header("accept-encoding"), None, "{:?}", q.headers);
                }
            },
        },
        Case {
            name: "100,000 nested arrays (1 MiB cap so the parser sees them): decode, no overflow",
            stage: || {
                let deep = nested(100_000);
                Server::script(vec![
                    ok(&deep),
                    ok(&format!(r#"{{"state":"running","error":{deep}}}"#)),
                    ok(&format!(r#"{{"state":"running","extra":{deep}}}"#)),
                    Reply::json(500, &deep),
                ])
                .into()
            },
            settings: |s| Settings {
                body_limit: Some(1 << 20),
                ..s
            },
            ids: &["ins-1", "ins-2", "ins-3", "ins-4"],
            check: |r| {
                assert_eq!(r.results.len(), 4);
                for res in &r.results[..2] {
                    let e = res.as_ref().unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::Decode, "{e}");
                    assert_eq!(decode_reason(e), DecodeReason::InvalidJson, "{e}");
                }
                // An unknown field is skipped without recursion (serde_json's
                // `ignore_value` keeps one byte per level, bounded by the
                // cap), so depth there costs nothing and the status stands.
                assert_eq!(r.results[2].as_ref().unwrap().state, InstanceState::Running);
                // In an error body the depth only costs the error its code.
                let e = r.results[3].as_ref().unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Server, "{e}");
                assert_eq!(e.error_code(), None);
            },
        },
        // Slow servers: only an attempt-wide deadline ends these.
        Case {
            name: "stalled headers (half a head, then a header byte every 100 ms): timeout",
            stage: || {
                Server::script(vec![Reply::Trickle {
                    head: b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: ".to_vec(),
                    drip: b"a".to_vec(),
                    every: Duration::from_millis(100),
                }])
                .into()
            },
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| r.assert_timed_out_at(ATTEMPT),
        },
        Case {
            name: "stalled body (1 byte/s, 1.5 s attempts): timeout",
            stage: || {
                let mut head = head_with_length(100).into_bytes();
                head.extend_from_slice(br#"{"state":""#);
                Server::script(vec![Reply::Trickle {
                    head,
                    drip: b"r".to_vec(),
                    every: Duration::from_secs(1),
                }])
                .into()
            },
            settings: |s| Settings {
                attempt_timeout: Duration::from_millis(1500),
                ..s
            },
            ids: &["ins-1"],
            check: |r| r.assert_timed_out_at(Duration::from_millis(1500)),
        },
        Case {
            name: "body trickled at 10 bytes/s: timeout",
            stage: || {
                let mut head = head_with_length(1000).into_bytes();
                head.extend_from_slice(br#"{"state":"running","x":""#);
                Server::script(vec![Reply::Trickle {
                    head,
                    drip: b"a".to_vec(),
                    every: Duration::from_millis(100),
                }])
                .into()
            },
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| r.assert_timed_out_at(ATTEMPT),
        },
        // Framing lies.
        Case {
            name: "a body that ends early (Content-Length 100, 19 sent, FIN): transport",
            stage: || {
                Server::script(vec![raw(format!("{}{RUNNING}", head_with_length(100)))]).into()
            },
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| {
                // The 19 bytes are a valid status: taking them would be wrong.
                r.error(ErrorKind::Transport);
            },
        },
        Case {
            name: "Content-Length smaller than the body: the body ends there (decode)",
            stage: || {
                Server::script(vec![raw(format!("{}{RUNNING}", head_with_length(10)))]).into()
            },
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| {
                r.decode(DecodeReason::InvalidJson);
                let e = r.error(ErrorKind::Decode);
                let Error::Decode(d) = e else { unreachable!() };
                assert_eq!(d.snippet(), r#"{"state":""#);
            },
        },
        Case {
            name: "Content-Length smaller, the excess a whole response: never taken as the next one",
            stage: || {
                let smuggled = format!("{}{}", head_with_length(19), r#"{"state":"stopped"}"#);
                let first = Reply::Raw {
                    bytes: format!("{}{RUNNING}{smuggled}", head_with_length(19)).into_bytes(),
                    end: End::Hang,
                };
                Server::script(vec![first, ok(RUNNING)]).into()
            },
            settings: |s| s,
            ids: &["ins-1", "ins-2"],
            check: |r| {
                for res in &r.results {
                    assert_eq!(res.as_ref().unwrap().state, InstanceState::Running);
                }
                let reqs = r.requests();
                assert_eq!(reqs.len(), 2, "the second call reached the server");
                assert_ne!(reqs[0].connection, reqs[1].connection);
            },
        },
        Case {
            name: "Content-Length and Transfer-Encoding both: the chunked framing wins",
            stage: || {
                let head =
                    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
                Server::script(vec![raw(format!("{head}13\r\n{RUNNING}\r\n0\r\n\r\n"))]).into()
            },
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| {
                // RFC 9112 section 6.3, rule 3. Honouring the 5 bytes would
                // be a decode error. (Both libraries keep the connection for
                // reuse afterwards, which the RFC allows a client.)
                assert_eq!(r.results[0].as_ref().unwrap().state, InstanceState::Running);
            },
        },
        Case {
            name: "two different Content-Length headers: transport",
            stage: || {
                let head = "HTTP/1.1 200 OK\r\nContent-Length: 19\r\nContent-Length: 100\r\n\r\n";
                Server::script(vec![raw(format!("{head}{RUNNING}"))]).into()
            },
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| {
                r.error(ErrorKind::Transport);
            },
        },
        Case {
            name: "invalid chunked encoding (size not hex, size overflowing, data past its size, no last chunk): transport",
            stage: || {
                Server::script(vec![
                    raw(format!("{CHUNKED_HEAD}13\r\n{RUNNING}\r\nzz\r\n\r\n")),
                    // 0x1_0000_0000_0000_0000_13 wraps to 0x13 in 64 bits.
                    raw(format!(
                        "{CHUNKED_HEAD}10000000000000000013\r\n{RUNNING}\r\n0\r\n\r\n"
                    )),
                    raw(format!("{CHUNKED_HEAD}5\r\n{RUNNING}\r\n0\r\n\r\n")),
                    raw(format!("{CHUNKED_HEAD}13\r\n{RUNNING}\r\n")),
                ])
                .into()
            },
            settings: |s| s,
            ids: &["ins-1", "ins-2", "ins-3", "ins-4"],
            check: |r| {
                // Every one carries a valid status first: taking it is wrong.
                assert_eq!(r.errors(ErrorKind::Transport).len(), 4);
            },
        },
        Case {
            name: "1xx heads before the answer, and bare LF line ends: tolerated",
            stage: || {
                let informational =
                    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n";
                // `raw` closes the connection after the answer; saying so
                // keeps the client from reusing it for the second id before
                // the close arrives (a race this case is not about).
                let last = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 19\r\n\r\n";
                Server::script(vec![
                    raw(format!("{informational}{last}{RUNNING}")),
                    raw(format!("HTTP/1.1 200 OK\nContent-Length: 19\n\n{RUNNING}")),
                ])
                .into()
            },
            settings: |s| s,
            ids: &["ins-1", "ins-2"],
            check: |r| {
                // RFC 9110 section 15.2 (a client parses 1xx before the final
                // response) and RFC 9112 section 2.2 (a bare LF may end a line).
                for res in &r.results {
                    assert_eq!(res.as_ref().unwrap().state, InstanceState::Running);
                }
            },
        },
        Case {
            name: "status lines: 999 is api with its status; two digits or an SSH banner are transport",
            stage: || {
                Server::script(vec![
                    raw("HTTP/1.1 999 Weird\r\nContent-Length: 0\r\n\r\n"),
                    raw("HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n"),
                    raw("SSH-2.0-OpenSSH_9.6\r\n"),
                ])
                .into()
            },
            settings: |s| s,
            ids: &["ins-1", "ins-2", "ins-3"],
            check: |r| {
                let e = r.results[0].as_ref().unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Api, "{e}");
                assert_eq!(e.http_status().map(|s| s.as_u16()), Some(999));
                for res in &r.results[1..] {
                    let e = res.as_ref().unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::Transport, "{e}");
                }
            },
        },
        Case {
            name: "a reset after the headers: transport",
            stage: || {
                let bytes = format!("{}{{\"state\":", head_with_length(100)).into_bytes();
                Server::script(vec![Reply::Raw {
                    bytes,
                    end: End::Reset(Duration::from_millis(100)),
                }])
                .into()
            },
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| {
                let e = r.error(ErrorKind::Transport);
                assert!(std::error::Error::source(e).is_some(), "{e:?}");
            },
        },
        // Content.
        Case {
            name: "invalid UTF-8 in a 200 body (bad byte, overlong, surrogate, cut short): decode",
            stage: || {
                Server::script(vec![
                    bytes_body(200, b"{\"state\":\"run\xffning\"}"),
                    bytes_body(200, b"{\"state\":\"run\xc0\xafning\"}"),
                    bytes_body(200, b"{\"state\":\"run\xed\xa0\x80ning\"}"),
                    bytes_body(200, b"{\"state\":\"running\xe2\x82\"}"),
                ])
                .into()
            },
            settings: |s| s,
            ids: &["ins-1", "ins-2", "ins-3", "ins-4"],
            check: |r| {
                for e in r.errors(ErrorKind::Decode) {
                    assert_eq!(decode_reason(e), DecodeReason::InvalidUtf8, "{e}");
                }
            },
        },
        Case {
            name: "invalid UTF-8 in an error body and in X-Request-Id: the status's kind",
            stage: || {
                let body = b"{\"error_code\":\"CDC.\xff\",\"error_msg\":\"caf\xe9\"}";
                let mut bytes = b"HTTP/1.1 404 Not Found\r\nX-Request-Id: r\xffid\r\n".to_vec();
                bytes.extend(format!("Content-Length: {}\r\n\r\n", body.len()).bytes());
                bytes.extend_from_slice(body);
                Server::script(vec![raw(bytes)]).into()
            },
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| {
                let e = r.error(ErrorKind::NotFound);
                assert_eq!(e.request_id(), None);
                assert_eq!(e.error_code(), None);
                assert!(e.to_string().contains("404"), "{e}");
            },
        },
        Case {
            name: "an error body with a 60 KB message of newlines and escapes: one short line",
            stage: || {
                let line = r"forged\n2030-01-01 ERROR token=tok-stolen\r\u001b[2J\u0007 ";
                let msg = line.repeat(60_000 / line.len());
                let body = format!(r#"{{"error_code":"CDC.\n4000\u001b[0m","error_msg":"{msg}"}}"#);
                Server::script(vec![
                    Reply::json(400, &body).header("X-Request-Id", &"r".repeat(8000)),
                ])
                .into()
            },
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| {
                let e = r.error(ErrorKind::Api);
                for text in [
                    e.to_string(),
                    e.error_code().unwrap().to_owned(),
                    e.error_msg().unwrap().to_owned(),
                ] {
                    assert!(!text.contains(char::is_control), "{text:?}");
                    assert!(
                        text.chars().count() < 1200,
                        "{} chars",
                        text.chars().count()
                    );
                }
                assert!(e.error_code().unwrap().starts_with("CDC."));
                assert!(e.error_msg().unwrap().starts_with("forged 2030-01-01"));
                assert_eq!(e.request_id().map(str::len), Some(256));
            },
        },
        Case {
            name: "duplicate state keys (plain and escaped): decode",
            stage: || {
                Server::script(vec![
                    ok(r#"{"state":"running","state":"stopped"}"#),
                    ok(r#"{"state":"running","st\u0061te":"stopped"}"#),
                ])
                .into()
            },
            settings: |s| s,
            ids: &["ins-1", "ins-2"],
            check: |r| {
                for e in r.errors(ErrorKind::Decode) {
                    assert_eq!(decode_reason(e), DecodeReason::InvalidJson, "{e}");
                }
            },
        },
        // Retry-After.
        Case {
            name: "429 with Retry-After of 10 years (seconds, date, overflowing): not retried, kept",
            stage: || {
                let throttled = |v: &str| {
                    Reply::text(429, "text/plain", "Too Many Requests").header("Retry-After", v)
                };
                Server::script(vec![
                    throttled(&TEN_YEARS.to_string()),
                    throttled("Fri, 31 Dec 9999 23:59:59 GMT"),
                    throttled("99999999999999999999999"),
                ])
                .into()
            },
            settings: |s| s.max_attempts(3),
            ids: &["ins-1", "ins-2", "ins-3"],
            check: |r| {
                let errors = r.errors(ErrorKind::RateLimited);
                assert_eq!(
                    errors[0].retry_after(),
                    Some(Duration::from_secs(TEN_YEARS))
                );
                for e in errors {
                    let ra = e.retry_after().expect("retry_after kept");
                    assert!(ra >= Duration::from_secs(TEN_YEARS), "{ra:?}");
                }
                r.assert_requests(3); // one per call: none retried
            },
        },
        Case {
            name: "503 with a negative Retry-After: retried with backoff, none kept",
            stage: || {
                let throttled = |v: &str| {
                    Reply::text(503, "text/plain", "Service Unavailable").header("Retry-After", v)
                };
                Server::script(vec![throttled("-1"), throttled("-30"), throttled("-0")]).into()
            },
            settings: |s| s.max_attempts(3),
            ids: &["ins-1"],
            check: |r| {
                assert_eq!(r.error(ErrorKind::Server).retry_after(), None);
                r.assert_requests(3);
            },
        },
        Case {
            name: "503 with a garbage Retry-After: retried with backoff, none kept",
            stage: || {
                let throttled = |v: &str| {
                    Reply::text(503, "text/plain", "Service Unavailable").header("Retry-After", v)
                };
                Server::script(vec![
                    throttled("soon"),
                    throttled("1.5"),
                    throttled("Sun, 99 Foo 2026 99:99:99 GMT"),
                ])
                .into()
            },
            settings: |s| s.max_attempts(3),
            ids: &["ins-1"],
            check: |r| {
                assert_eq!(r.error(ErrorKind::Server).retry_after(), None);
                r.assert_requests(3);
            },
        },
        // Redirects.
        Case {
            name: "redirects to another host (301, 302, 307, 308): api with the status, never followed",
            stage: || {
                let bystander = Server::script(vec![ok(RUNNING)]);
                let port = bystander.addr().port();
                let moved = |status, location: String| {
                    Reply::text(status, "text/plain", "moved").header("Location", &location)
                };
                let path = status_path("ins-1");
                let server = Server::script(vec![
                    moved(302, format!("http://127.0.0.1:{port}{path}")),
                    moved(301, format!("http://localhost:{port}{path}")),
                    moved(307, format!("http://127.0.0.1:{port}{path}")),
                    moved(308, format!("//127.0.0.1:{port}{path}")),
                ]);
                Stage {
                    server,
                    bystander: Some(bystander),
                }
            },
            settings: |s| s.max_attempts(3),
            ids: &["ins-1", "ins-1", "ins-1", "ins-1"],
            check: |r| {
                let statuses: Vec<u16> = r
                    .errors(ErrorKind::Api)
                    .iter()
                    .map(|e| e.http_status().unwrap().as_u16())
                    .collect();
                assert_eq!(statuses, [302, 301, 307, 308]);
                r.assert_requests(4); // not retried either
                let bystander = r.stage.bystander.as_ref().unwrap();
                assert!(
                    bystander.requests().is_empty(),
                    "{:?}",
                    bystander.requests()
                );
                assert_eq!(bystander.stats().accepted, 0, "not even a connection");
            },
        },
    ]
}

/// Held by each case, so that the resident set read during one case is not
/// also another's (nor that of a failing case's backtrace).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run_case<R: Runner>(runner: &R, case: &Case) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let stage = (case.stage)();
    let settings = (case.settings)(Settings::new(stage.server.url()));
    let ids: Vec<InstanceId> = case
        .ids
        .iter()
        .map(|s| InstanceId::new(*s).unwrap())
        .collect();
    let watch = RssWatch::start();
    let started = Instant::now();
    let results = runner.statuses(&settings, &ids);
    let elapsed = started.elapsed();
    let rss = watch.map(RssWatch::finish);
    let growth = rss.as_ref().map(|m| m.peak.saturating_sub(m.before));
    eprintln!(
        "{}: {}: {elapsed:?}{}",
        R::NAME,
        case.name,
        rss.as_ref().map_or(String::new(), |m| format!(
            ", VmRSS {} KiB before, {} KiB peak (+{} KiB)",
            m.before,
            m.peak,
            m.peak.saturating_sub(m.before)
        ))
    );
    let run = Run {
        runner: R::NAME,
        stage: &stage,
        results,
        elapsed,
    };
    (case.check)(&run);
    // Every call ends within its attempt timeout + 1 s (the cases that retry
    // do so after short pauses that fit in the same second).
    let budget = settings.attempt_timeout + Duration::from_secs(1);
    assert!(elapsed < budget, "took {elapsed:?}, budget {budget:?}");
    if let Some(growth) = growth {
        assert!(
            growth < MEMORY_BOUND_KIB,
            "the resident set grew by {growth} KiB"
        );
    }
}

fn run_table<R: Runner>(runner: &R) {
    let cases = cases();
    let started = Instant::now();
    let mut failed = Vec::new();
    for case in &cases {
        let outcome = catch_unwind(AssertUnwindSafe(|| run_case(runner, case)));
        if outcome.is_err() {
            failed.push(case.name);
        }
    }
    eprintln!(
        "{}: {} cases in {:?}; VmHWM {:?} KiB",
        R::NAME,
        cases.len(),
        started.elapsed(),
        proc_status_kib("VmHWM")
    );
    assert!(failed.is_empty(), "{}: failed cases: {failed:#?}", R::NAME);
}

#[test]
fn ureq_survives_the_hostile_table() {
    run_table(&Ureq);
}

#[test]
fn reqwest_survives_the_hostile_table() {
    run_table(&Reqwest);
}

#[test]
fn the_hand_made_gzip_is_well_formed() {
    // The check value of CRC-32 ("123456789"), and the smallest member.
    let mut crc = Crc32::new();
    crc.update(b"123456789");
    assert_eq!(crc.finish(), 0xCBF4_3926);
    let g = gzip("", 0);
    assert_eq!(&g[..4], &[0x1f, 0x8b, 8, 0]);
    assert_eq!(&g[g.len() - 8..], &[0; 8], "CRC and size of nothing");
    // A bomb's size: 13 bits per 258 bytes, plus framing.
    let bomb = gzip(RUNNING, BOMB_REPEATS);
    let bits = 3 + 8 * RUNNING.len() + 8 + 13 * BOMB_REPEATS + 7;
    assert_eq!(bomb.len(), 10 + bits.div_ceil(8) + 8);
    let isize = u32::from_le_bytes(bomb[bomb.len() - 4..].try_into().unwrap());
    assert_eq!(isize as usize, RUNNING.len() + 1 + 258 * BOMB_REPEATS);
}
