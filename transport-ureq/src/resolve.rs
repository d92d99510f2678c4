//! Name resolution for the client's agent.
//!
//! Owns one thing: turning the endpoint's host into socket addresses without
//! a lookup per request. ureq 3 resolves the host before every request,
//! pooled connection or not, and when a timeout is set (this client always
//! sets the per-attempt timeout) it does so on a freshly spawned thread. So
//! an IP literal is answered directly, and a name goes through ureq's own
//! resolver, whose answer is kept for [`TTL`]: at most that long, new
//! connections may use addresses the name no longer points to, as with
//! the JVM's default DNS cache. Failed lookups are not kept. Must not make
//! any decision about HTTP.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clouddc_core::http::Uri;
use ureq::config::Config;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long the answer for a host name is reused.
pub(crate) const TTL: Duration = Duration::from_secs(30);

/// IP literals without a lookup; names through `R`, the last answer kept.
#[derive(Debug)]
pub(crate) struct CachingResolver<R = DefaultResolver> {
    inner: R,
    last: Mutex<Option<Cached>>,
}

#[derive(Debug)]
struct Cached {
    host_port: String,
    at: Instant,
    addrs: ResolvedSocketAddrs,
}

impl Default for CachingResolver {
    fn default() -> Self {
        Self::new(DefaultResolver::default())
    }
}

impl<R: Resolver> CachingResolver<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            last: Mutex::new(None),
        }
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Option<Cached>> {
        // The cache holds plain data: a panic elsewhere cannot leave it torn.
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<R: Resolver> Resolver for CachingResolver<R> {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host_port = match (uri.scheme(), uri.authority()) {
            (Some(scheme), Some(authority)) => DefaultResolver::host_and_port(scheme, authority),
            _ => None,
        };
        // Anything unusual is the inner resolver's to judge and report.
        let Some(host_port) = host_port else {
            return self.inner.resolve(uri, config, timeout);
        };
        if let Ok(addr) = host_port.parse::<SocketAddr>() {
            let mut addrs = self.empty();
            addrs.push(addr);
            return Ok(addrs);
        }
        if let Some(c) = self.cached().as_ref()
            && c.host_port == host_port
            && c.at.elapsed() < TTL
        {
            return Ok(c.addrs.clone());
        }
        // The lock is not held while looking up: a slow lookup must not
        // hold up calls that find the answer cached.
        let addrs = self.inner.resolve(uri, config, timeout)?;
        *self.cached() = Some(Cached {
            host_port,
            at: Instant::now(),
            addrs: addrs.clone(),
        });
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Answers 192.0.2.1 for every name and counts the lookups; fails for
    /// hosts starting with `fail`.
    #[derive(Debug, Default)]
    struct Counting(AtomicU32);

    impl Resolver for Counting {
        fn resolve(
            &self,
            uri: &Uri,
            _: &Config,
            _: NextTimeout,
        ) -> Result<ResolvedSocketAddrs, ureq::Error> {
            self.0.fetch_add(1, Ordering::SeqCst);
            if uri.host().is_some_and(|h| h.starts_with("fail")) {
                return Err(ureq::Error::HostNotFound);
            }
            let mut a = self.empty();
            a.push("192.0.2.1:443".parse().unwrap());
            Ok(a)
        }
    }

    fn resolve(r: &CachingResolver<Counting>, uri: &str) -> Result<Vec<SocketAddr>, ureq::Error> {
        let uri: Uri = uri.parse().unwrap();
        r.resolve(&uri, &Config::default(), NextTimeout::default())
            .map(|a| a.iter().copied().collect())
    }

    #[test]
    fn ip_literals_need_no_lookup() {
        let r = CachingResolver::new(Counting::default());
        let cases = [
            ("http://127.0.0.1:8080/x", "127.0.0.1:8080"),
            ("https://10.1.2.3/x", "10.1.2.3:443"),
            ("http://10.1.2.3/x", "10.1.2.3:80"),
            ("http://[::1]:9000/x", "[::1]:9000"),
            ("https://[2001:db8::7]/x", "[2001:db8::7]:443"),
        ];
        for (uri, want) in cases {
            assert_eq!(
                resolve(&r, uri).unwrap(),
                [want.parse::<SocketAddr>().unwrap()],
                "{uri}"
            );
        }
        assert_eq!(r.inner.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_name_is_looked_up_once_per_ttl_and_per_host() {
        let r = CachingResolver::new(Counting::default());
        for _ in 0..5 {
            resolve(&r, "https://clouddc.cn-east-3.myhuaweicloud.com/v1").unwrap();
        }
        assert_eq!(r.inner.0.load(Ordering::SeqCst), 1);
        // Another port is another answer.
        resolve(&r, "https://clouddc.cn-east-3.myhuaweicloud.com:8443/v1").unwrap();
        assert_eq!(r.inner.0.load(Ordering::SeqCst), 2);
        // An answer older than the TTL is looked up again.
        let Some(stale) = Instant::now().checked_sub(TTL) else {
            return; // the monotonic clock is younger than the TTL
        };
        r.cached().as_mut().unwrap().at = stale;
        resolve(&r, "https://clouddc.cn-east-3.myhuaweicloud.com:8443/v1").unwrap();
        assert_eq!(r.inner.0.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn failures_are_not_kept() {
        let r = CachingResolver::new(Counting::default());
        for _ in 0..3 {
            assert!(matches!(
                resolve(&r, "https://fail.example/v1"),
                Err(ureq::Error::HostNotFound)
            ));
        }
        assert_eq!(r.inner.0.load(Ordering::SeqCst), 3);
        assert!(r.cached().is_none());
    }
}
