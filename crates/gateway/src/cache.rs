//! The GET response cache: only anonymous requests (no caller, no Authorization, no Cookie),
//! only 200 responses with a known small length, no `Set-Cookie`, that the upstream marked
//! cacheable (`public`, `max-age`, `s-maxage`) or whose service sets `cache_ttl_secs`;
//! `private`, `no-store`, `no-cache` are never stored. `s-maxage` / `max-age` set the TTL,
//! else the service's, else the default 60 s. Concurrent misses for one key are coalesced:
//! one request goes upstream, the others wait for its result. A key whose response could not
//! be stored is remembered as such for the default TTL ("pass"): its requests go straight
//! upstream side by side instead of queueing behind one another for a response that will not
//! be shared (a cacheable answer among them is still stored, and ends the pass).

use crate::config::CacheConfig;
use bytes::Bytes;
use http::{header, HeaderMap, Method, StatusCode};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio::time::Instant;

#[derive(Debug)]
pub struct Cached {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub stored_at: Instant,
    pub expires: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestPolicy {
    /// Not cacheable: straight to the upstream.
    Bypass,
    /// Serve from the cache when fresh.
    Lookup,
    /// The client asked for a fresh copy (`no-cache`, `max-age=0`): fetch, then store.
    Refresh,
}

pub(crate) type Flight = Arc<OnceCell<Option<Arc<Cached>>>>;

/// What the cache holds for a key.
pub(crate) enum Lookup {
    Hit(Arc<Cached>),
    /// Recently answered with something that could not be stored.
    Pass,
    Miss,
}

/// At most this many keys are remembered as uncacheable.
const MAX_PASS_KEYS: usize = 10_000;

#[derive(Default)]
struct Inner {
    map: HashMap<String, Arc<Cached>>,
    order: VecDeque<String>,
    bytes: usize,
    /// Keys answered uncacheable, until when.
    pass: HashMap<String, Instant>,
}

pub struct Cache {
    cfg: CacheConfig,
    inner: Mutex<Inner>,
    inflight: Mutex<HashMap<String, Flight>>,
}

fn directives(headers: &HeaderMap) -> impl Iterator<Item = String> + '_ {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| d.trim().to_ascii_lowercase())
}

impl Cache {
    pub fn new(cfg: CacheConfig) -> Self {
        Self {
            cfg,
            inner: Mutex::default(),
            inflight: Mutex::default(),
        }
    }

    pub fn request_policy(
        &self,
        method: &Method,
        headers: &HeaderMap,
        authenticated: bool,
    ) -> RequestPolicy {
        if !self.cfg.enabled
            || method != Method::GET
            || authenticated
            || headers.contains_key(header::AUTHORIZATION)
            || headers.contains_key(header::COOKIE)
            || headers.contains_key(header::RANGE)
        {
            return RequestPolicy::Bypass;
        }
        let mut policy = RequestPolicy::Lookup;
        for d in directives(headers) {
            match d.as_str() {
                "no-store" => return RequestPolicy::Bypass,
                "no-cache" | "max-age=0" => policy = RequestPolicy::Refresh,
                _ => {}
            }
        }
        policy
    }

    /// How long a response may be kept, or `None` when it must not be stored.
    pub fn response_ttl(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        service_ttl: Option<u64>,
    ) -> Option<Duration> {
        // Most answers say nothing about caching and their service opted nothing in: done.
        if service_ttl.is_none() && !headers.contains_key(header::CACHE_CONTROL) {
            return None;
        }
        if status != StatusCode::OK || headers.contains_key(header::SET_COOKIE) {
            return None;
        }
        if let Some(vary) = headers.get(header::VARY) {
            // We key on Accept-Encoding only; anything else varies in ways we do not track.
            let v = vary.to_str().ok()?.to_ascii_lowercase();
            if v.split(',').any(|f| f.trim() != "accept-encoding") {
                return None;
            }
        }
        let len: usize = headers
            .get(header::CONTENT_LENGTH)?
            .to_str()
            .ok()?
            .parse()
            .ok()?;
        if len > self.cfg.max_entry_bytes {
            return None;
        }
        let mut max_age = None;
        let mut s_maxage = None;
        let mut public = false;
        for d in directives(headers) {
            match d.as_str() {
                "private" | "no-store" | "no-cache" => return None,
                "public" => public = true,
                _ => {
                    if let Some(v) = d.strip_prefix("s-maxage=") {
                        s_maxage = v.trim_matches('"').parse::<u64>().ok();
                    } else if let Some(v) = d.strip_prefix("max-age=") {
                        max_age = v.trim_matches('"').parse::<u64>().ok();
                    }
                }
            }
        }
        // Only what the upstream marked cacheable, or what the catalogue opted in: a GET
        // answered without caching headers (an account balance, say) is not ours to keep.
        if !public && s_maxage.is_none() && max_age.is_none() && service_ttl.is_none() {
            return None;
        }
        let secs = s_maxage
            .or(max_age)
            .or(service_ttl)
            .unwrap_or(self.cfg.default_ttl_secs);
        (secs > 0).then(|| Duration::from_secs(secs))
    }

    pub fn max_entry_bytes(&self) -> usize {
        self.cfg.max_entry_bytes
    }

    pub(crate) fn lookup(&self, key: &str, now: Instant) -> Lookup {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = inner.map.get(key) {
            if hit.expires > now {
                return Lookup::Hit(hit.clone());
            }
            let size = hit.body.len();
            inner.map.remove(key);
            inner.bytes = inner.bytes.saturating_sub(size);
            return Lookup::Miss;
        }
        match inner.pass.get(key) {
            Some(until) if *until > now => Lookup::Pass,
            Some(_) => {
                inner.pass.remove(key);
                Lookup::Miss
            }
            None => Lookup::Miss,
        }
    }

    /// Remember that `key` was answered with something that could not be stored.
    pub(crate) fn mark_pass(&self, key: &str, now: Instant) {
        let until = now + Duration::from_secs(self.cfg.default_ttl_secs);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.pass.len() >= MAX_PASS_KEYS && !inner.pass.contains_key(key) {
            inner.pass.retain(|_, until| *until > now);
            if inner.pass.len() >= MAX_PASS_KEYS {
                inner.pass.clear();
            }
        }
        inner.pass.insert(key.to_owned(), until);
    }

    pub fn put(&self, key: String, entry: Arc<Cached>) {
        let size = entry.body.len();
        if size > self.cfg.max_total_bytes {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.pass.remove(&key);
        if let Some(old) = inner.map.remove(&key) {
            inner.bytes = inner.bytes.saturating_sub(old.body.len());
        }
        while inner.bytes + size > self.cfg.max_total_bytes {
            let Some(k) = inner.order.pop_front() else {
                break;
            };
            if let Some(old) = inner.map.remove(&k) {
                inner.bytes = inner.bytes.saturating_sub(old.body.len());
            }
        }
        inner.bytes += size;
        inner.order.push_back(key.clone());
        inner.map.insert(key, entry);
        if inner.order.len() > 4 * inner.map.len() + 64 {
            let Inner { map, order, .. } = &mut *inner;
            order.retain(|k| map.contains_key(k));
        }
    }

    pub(crate) fn flight(&self, key: &str) -> Flight {
        self.inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_owned())
            .or_default()
            .clone()
    }

    pub(crate) fn land(&self, key: &str, flight: &Flight) {
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            map.remove(key);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().unwrap().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn cache() -> Cache {
        Cache::new(CacheConfig {
            max_total_bytes: 10,
            ..CacheConfig::default()
        })
    }

    fn resp(cc: Option<&str>, len: usize) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        if let Some(cc) = cc {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_str(cc).unwrap());
        }
        h
    }

    #[test]
    fn request_policy_refuses_credentials_and_honours_cache_control() {
        let c = cache();
        let mut h = HeaderMap::new();
        assert_eq!(
            c.request_policy(&Method::GET, &h, false),
            RequestPolicy::Lookup
        );
        assert_eq!(
            c.request_policy(&Method::GET, &h, true),
            RequestPolicy::Bypass
        );
        assert_eq!(
            c.request_policy(&Method::POST, &h, false),
            RequestPolicy::Bypass
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        assert_eq!(
            c.request_policy(&Method::GET, &h, false),
            RequestPolicy::Refresh
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        assert_eq!(
            c.request_policy(&Method::GET, &h, false),
            RequestPolicy::Bypass
        );
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("fanz_session=x"));
        assert_eq!(
            c.request_policy(&Method::GET, &h, false),
            RequestPolicy::Bypass
        );
    }

    #[test]
    fn response_ttl_rules() {
        let c = cache();
        let ok = StatusCode::OK;
        assert_eq!(
            c.response_ttl(ok, &resp(None, 3), None),
            None,
            "not marked cacheable"
        );
        assert_eq!(
            c.response_ttl(ok, &resp(Some("public"), 3), None),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            c.response_ttl(ok, &resp(Some("public, max-age=5"), 3), None),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            c.response_ttl(ok, &resp(Some("max-age=5, s-maxage=7"), 3), None),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            c.response_ttl(ok, &resp(None, 3), Some(9)),
            Some(Duration::from_secs(9))
        );
        for cc in ["private", "no-store", "no-cache", "max-age=0"] {
            assert_eq!(c.response_ttl(ok, &resp(Some(cc), 3), None), None, "{cc}");
        }
        assert_eq!(
            c.response_ttl(StatusCode::NOT_FOUND, &resp(None, 3), None),
            None
        );
        let mut h = resp(Some("public"), 3);
        h.insert(header::SET_COOKIE, HeaderValue::from_static("a=b"));
        assert_eq!(c.response_ttl(ok, &h, None), None);
        let mut unknown_len = HeaderMap::new();
        unknown_len.insert(header::CACHE_CONTROL, HeaderValue::from_static("public"));
        assert_eq!(
            c.response_ttl(ok, &unknown_len, None),
            None,
            "unknown length"
        );
        assert_eq!(
            c.response_ttl(ok, &resp(Some("public"), 2 << 20), None),
            None,
            "too large"
        );
    }

    #[test]
    fn entries_expire_and_total_size_is_bounded() {
        let c = cache();
        let now = Instant::now();
        let entry = |n: usize| {
            Arc::new(Cached {
                status: StatusCode::OK,
                headers: HeaderMap::new(),
                body: Bytes::from(vec![0u8; n]),
                stored_at: now,
                expires: now + Duration::from_secs(1),
            })
        };
        c.put("a".into(), entry(4));
        c.put("b".into(), entry(4));
        c.put("c".into(), entry(4));
        assert!(
            matches!(c.lookup("a", now), Lookup::Miss),
            "evicted oldest to stay under 10 bytes"
        );
        assert!(matches!(c.lookup("c", now), Lookup::Hit(_)));
        assert_eq!(c.len(), 2);
        assert!(
            matches!(c.lookup("c", now + Duration::from_secs(1)), Lookup::Miss),
            "expired"
        );
    }

    #[test]
    fn uncacheable_keys_pass_until_the_ttl_or_a_cacheable_answer() {
        let c = cache();
        let now = Instant::now();
        c.mark_pass("k", now);
        assert!(matches!(c.lookup("k", now), Lookup::Pass));
        let later = now + Duration::from_secs(c.cfg.default_ttl_secs);
        assert!(
            matches!(c.lookup("k", later), Lookup::Miss),
            "the pass expires"
        );
        c.mark_pass("k", now);
        c.put(
            "k".into(),
            Arc::new(Cached {
                status: StatusCode::OK,
                headers: HeaderMap::new(),
                body: Bytes::from_static(b"ok"),
                stored_at: now,
                expires: now + Duration::from_secs(5),
            }),
        );
        assert!(
            matches!(c.lookup("k", now), Lookup::Hit(_)),
            "stored ends the pass"
        );
    }
}
