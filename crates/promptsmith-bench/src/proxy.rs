//! A counting reverse proxy in front of an OpenAI-compatible server: the one place where the
//! LM calls of every system under test are counted.
//!
//! Every request is forwarded unchanged (bodies are buffered, so streaming answers arrive in
//! one piece). `GET /_stats` returns the counts as JSON, `POST /_reset` zeroes them. Optional:
//! `record` appends each chat exchange (request and response bodies) to a JSONL file;
//! `cache` answers a chat request whose exact bytes were seen before from a JSONL file, so
//! long runs against a slow model resume where they stopped (hits are counted apart).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// What the proxy forwards to and what it keeps.
#[derive(Debug, Clone, Default)]
pub struct ProxyOptions {
    /// Upstream root, e.g. `http://127.0.0.1:8080`; request paths are appended unchanged.
    pub upstream: String,
    /// Append every chat exchange to this JSONL file.
    pub record: Option<PathBuf>,
    /// Answer repeated chat requests from (and add new answers to) this JSONL file.
    pub cache: Option<PathBuf>,
}

/// Counters, all since the last reset.
#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    chat_completions: AtomicU64,
    upstream_chat_calls: AtomicU64,
    cache_hits: AtomicU64,
    other_requests: AtomicU64,
    status_2xx: AtomicU64,
    status_4xx: AtomicU64,
    status_5xx: AtomicU64,
    upstream_errors: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    request_bytes: AtomicU64,
    response_bytes: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    /// Microseconds after `base` of the first request and the last response (u64::MAX / 0: none).
    first_request_us: AtomicU64,
    last_response_us: AtomicU64,
    reset_us: AtomicU64,
    connections: AtomicU64,
}

/// A snapshot of the counters, as served at `GET /_stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Every proxied request (chat or not, cache hits included).
    pub requests: u64,
    /// Chat-completion requests (`POST .../chat/completions`), cache hits included: the LM calls.
    pub chat_completions: u64,
    /// Chat-completion requests that reached the upstream server.
    pub upstream_chat_calls: u64,
    /// Chat-completion requests answered from the cache file.
    pub cache_hits: u64,
    /// Requests to other paths (`/v1/models`, `/props`, ...).
    pub other_requests: u64,
    /// Counts by path for requests that are not chat completions.
    pub other_paths: BTreeMap<String, u64>,
    /// Responses by status class.
    pub status_2xx: u64,
    /// Responses with a 4xx status.
    pub status_4xx: u64,
    /// Responses with a 5xx status (including the proxy's own 502s).
    pub status_5xx: u64,
    /// Requests the upstream could not answer at all (connection errors).
    pub upstream_errors: u64,
    /// Prompt tokens reported in upstream chat responses' `usage`.
    pub prompt_tokens: u64,
    /// Completion tokens reported in upstream chat responses' `usage`.
    pub completion_tokens: u64,
    /// Request body bytes received.
    pub request_bytes: u64,
    /// Response body bytes sent.
    pub response_bytes: u64,
    /// Requests being handled now.
    pub in_flight: u64,
    /// The most requests handled at once.
    pub max_in_flight: u64,
    /// Seconds from the first request to the last response (0 when none).
    pub busy_seconds: f64,
    /// Seconds since the last reset (or the start).
    pub since_reset_seconds: f64,
    /// Client connections accepted (a client that reuses connections opens few).
    pub connections: u64,
}

/// The proxy's shared state: counters, upstream client, recorder and cache.
pub struct Proxy {
    upstream: String,
    client: Client<HttpConnector, Full<Bytes>>,
    base: Instant,
    counters: Counters,
    other_paths: Mutex<BTreeMap<String, u64>>,
    recorder: Option<Mutex<std::io::BufWriter<std::fs::File>>>,
    cache: Option<ResponseCache>,
    sequence: AtomicU64,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("upstream", &self.upstream).finish_non_exhaustive()
    }
}

/// Recorded chat answers keyed by the SHA-256 of the request's method, path and body.
struct ResponseCache {
    entries: RwLock<HashMap<String, Bytes>>,
    file: Mutex<std::fs::File>,
}

#[derive(Serialize, Deserialize)]
struct CacheLine {
    key: String,
    body: String,
}

impl ResponseCache {
    fn open(path: &Path) -> std::io::Result<Self> {
        let mut entries = HashMap::new();
        if path.exists() {
            let reader = std::io::BufReader::new(std::fs::File::open(path)?);
            for line in reader.lines() {
                let line = line?;
                // A line cut short by a crash is skipped, not fatal.
                if let Ok(entry) = serde_json::from_str::<CacheLine>(&line) {
                    entries.insert(entry.key, Bytes::from(entry.body));
                }
            }
        }
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        // End a line torn by a crash so the next entry starts on its own line.
        let text_len = file.metadata()?.len();
        if text_len > 0 && !std::fs::read(path)?.ends_with(b"\n") {
            file.write_all(b"\n")?;
        }
        Ok(Self { entries: RwLock::new(entries), file: Mutex::new(file) })
    }

    fn get(&self, key: &str) -> Option<Bytes> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner).get(key).cloned()
    }

    fn put(&self, key: String, body: &Bytes) {
        let Ok(text) = std::str::from_utf8(body) else { return };
        let line = match serde_json::to_string(&CacheLine { key: key.clone(), body: text.to_string() }) {
            Ok(l) => l,
            Err(_) => return,
        };
        {
            let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
            // One write per line so a crash leaves at most one partial line.
            let _ = file.write_all(format!("{line}\n").as_bytes());
        }
        self.entries.write().unwrap_or_else(PoisonError::into_inner).insert(key, body.clone());
    }

    fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// Whether `path` is an OpenAI chat-completions endpoint.
pub fn is_chat_path(path: &str) -> bool {
    path.ends_with("/chat/completions")
}

/// Token counts from an OpenAI-style response body (`usage`); zeros when absent.
pub fn usage_of(body: &[u8]) -> (u64, u64) {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        usage: Option<UsageIn>,
    }
    #[derive(Deserialize)]
    struct UsageIn {
        #[serde(default)]
        prompt_tokens: u64,
        #[serde(default)]
        completion_tokens: u64,
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope { usage: Some(u) }) => (u.prompt_tokens, u.completion_tokens),
        _ => (0, 0),
    }
}

/// The cache key of a request.
pub fn cache_key(method: &Method, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update(b" ");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

/// Headers that describe one connection and are not forwarded.
const HOP_BY_HOP: [header::HeaderName; 8] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::TE,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
    header::TRAILER,
    header::CONTENT_LENGTH,
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
    headers.remove("keep-alive");
}

fn json_response(status: StatusCode, value: &impl Serialize) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

impl Proxy {
    /// A proxy to `options.upstream`; opens the record and cache files.
    pub fn new(options: &ProxyOptions) -> std::io::Result<Self> {
        let upstream = options.upstream.trim_end_matches('/').to_string();
        if !upstream.starts_with("http://") || upstream.parse::<Uri>().is_err() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("upstream must be an http:// URL, got '{}'", options.upstream),
            ));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(usize::MAX)
            .build(connector);
        let recorder = match &options.record {
            Some(p) => {
                let f = std::fs::OpenOptions::new().create(true).append(true).open(p)?;
                Some(Mutex::new(std::io::BufWriter::new(f)))
            }
            None => None,
        };
        let cache = options.cache.as_deref().map(ResponseCache::open).transpose()?;
        let proxy = Self {
            upstream,
            client,
            base: Instant::now(),
            counters: Counters::default(),
            other_paths: Mutex::new(BTreeMap::new()),
            recorder,
            cache,
            sequence: AtomicU64::new(0),
        };
        proxy.reset();
        Ok(proxy)
    }

    /// Entries in the response cache (0 without one).
    pub fn cached_entries(&self) -> usize {
        self.cache.as_ref().map_or(0, ResponseCache::len)
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Zeroes every counter.
    pub fn reset(&self) {
        let c = &self.counters;
        for a in [
            &c.requests,
            &c.chat_completions,
            &c.upstream_chat_calls,
            &c.cache_hits,
            &c.other_requests,
            &c.status_2xx,
            &c.status_4xx,
            &c.status_5xx,
            &c.upstream_errors,
            &c.prompt_tokens,
            &c.completion_tokens,
            &c.request_bytes,
            &c.response_bytes,
            &c.max_in_flight,
            &c.last_response_us,
            &c.connections,
        ] {
            a.store(0, Ordering::Relaxed);
        }
        c.max_in_flight.store(c.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
        c.first_request_us.store(u64::MAX, Ordering::Relaxed);
        c.reset_us.store(self.now_us(), Ordering::Relaxed);
        self.other_paths.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// The counters now.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let first = get(&c.first_request_us);
        let last = get(&c.last_response_us);
        let busy = if first == u64::MAX || last < first { 0.0 } else { (last - first) as f64 / 1e6 };
        Stats {
            requests: get(&c.requests),
            chat_completions: get(&c.chat_completions),
            upstream_chat_calls: get(&c.upstream_chat_calls),
            cache_hits: get(&c.cache_hits),
            other_requests: get(&c.other_requests),
            other_paths: self.other_paths.lock().unwrap_or_else(PoisonError::into_inner).clone(),
            status_2xx: get(&c.status_2xx),
            status_4xx: get(&c.status_4xx),
            status_5xx: get(&c.status_5xx),
            upstream_errors: get(&c.upstream_errors),
            prompt_tokens: get(&c.prompt_tokens),
            completion_tokens: get(&c.completion_tokens),
            request_bytes: get(&c.request_bytes),
            response_bytes: get(&c.response_bytes),
            in_flight: get(&c.in_flight),
            max_in_flight: get(&c.max_in_flight),
            busy_seconds: busy,
            since_reset_seconds: self.now_us().saturating_sub(get(&c.reset_us)) as f64 / 1e6,
            connections: get(&c.connections),
        }
    }

    /// Handles one request: the control endpoints, or counting and forwarding.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        match (req.method(), path.as_str()) {
            (&Method::GET, "/_stats") => return json_response(StatusCode::OK, &self.stats()),
            (&Method::POST, "/_reset") => {
                self.reset();
                return json_response(StatusCode::OK, &serde_json::json!({"reset": true}));
            }
            _ => {}
        }
        let (parts, body) = req.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &serde_json::json!({"error": {"message": format!("cannot read request body: {e}")}}),
                )
            }
        };
        self.forward(parts, body).await
    }

    async fn forward(&self, parts: hyper::http::request::Parts, body: Bytes) -> Response<Full<Bytes>> {
        let c = &self.counters;
        let started = Instant::now();
        c.first_request_us.fetch_min(self.now_us(), Ordering::Relaxed);
        c.requests.fetch_add(1, Ordering::Relaxed);
        c.request_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        let now_in_flight = c.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        c.max_in_flight.fetch_max(now_in_flight, Ordering::Relaxed);
        let path = parts.uri.path().to_string();
        let chat = parts.method == Method::POST && is_chat_path(&path);
        if chat {
            c.chat_completions.fetch_add(1, Ordering::Relaxed);
        } else {
            c.other_requests.fetch_add(1, Ordering::Relaxed);
            *self.other_paths.lock().unwrap_or_else(PoisonError::into_inner).entry(path.clone()).or_insert(0) += 1;
        }
        let key = match (&self.cache, chat) {
            (Some(_), true) => Some(cache_key(&parts.method, &path, &body)),
            _ => None,
        };
        let cached = match (&self.cache, &key) {
            (Some(cache), Some(k)) => cache.get(k),
            _ => None,
        };
        let (resp, response_body, from_cache) = match cached {
            Some(hit) => {
                c.cache_hits.fetch_add(1, Ordering::Relaxed);
                let mut resp = Response::new(Full::new(hit.clone()));
                resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                (resp, hit, true)
            }
            None => {
                if chat {
                    c.upstream_chat_calls.fetch_add(1, Ordering::Relaxed);
                }
                let (resp, response_body) = self.send_upstream(parts, body.clone()).await;
                if chat && resp.status().is_success() {
                    let (p, q) = usage_of(&response_body);
                    c.prompt_tokens.fetch_add(p, Ordering::Relaxed);
                    c.completion_tokens.fetch_add(q, Ordering::Relaxed);
                    if let (Some(cache), Some(k)) = (&self.cache, key) {
                        cache.put(k, &response_body);
                    }
                }
                (resp, response_body, false)
            }
        };
        let status = resp.status();
        match status.as_u16() {
            200..=299 => c.status_2xx.fetch_add(1, Ordering::Relaxed),
            400..=499 => c.status_4xx.fetch_add(1, Ordering::Relaxed),
            500..=599 => c.status_5xx.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        c.response_bytes.fetch_add(response_body.len() as u64, Ordering::Relaxed);
        if chat {
            self.record(&path, status, started.elapsed(), from_cache, &body, &response_body);
        }
        c.in_flight.fetch_sub(1, Ordering::Relaxed);
        c.last_response_us.fetch_max(self.now_us(), Ordering::Relaxed);
        resp
    }

    async fn send_upstream(&self, parts: hyper::http::request::Parts, body: Bytes) -> (Response<Full<Bytes>>, Bytes) {
        let path_and_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let uri = match format!("{}{}", self.upstream, path_and_query).parse::<Uri>() {
            Ok(u) => u,
            Err(e) => return self.bad_gateway(format!("bad upstream URI: {e}")),
        };
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        headers.remove(header::HOST);
        let mut upstream_req = Request::new(Full::new(body));
        *upstream_req.method_mut() = parts.method;
        *upstream_req.uri_mut() = uri;
        *upstream_req.headers_mut() = headers;
        let resp = match self.client.request(upstream_req).await {
            Ok(r) => r,
            Err(e) => return self.bad_gateway(format!("upstream {}: {e}", self.upstream)),
        };
        let (mut rparts, rbody) = resp.into_parts();
        let bytes = match rbody.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return self.bad_gateway(format!("upstream body: {e}")),
        };
        strip_hop_by_hop(&mut rparts.headers);
        let resp = Response::from_parts(rparts, Full::new(bytes.clone()));
        (resp, bytes)
    }

    fn bad_gateway(&self, message: impl std::fmt::Display) -> (Response<Full<Bytes>>, Bytes) {
        self.counters.upstream_errors.fetch_add(1, Ordering::Relaxed);
        let value = serde_json::json!({"error": {"message": message.to_string(), "type": "proxy_error"}});
        let body = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
        let mut resp = Response::new(Full::new(body.clone()));
        *resp.status_mut() = StatusCode::BAD_GATEWAY;
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        (resp, body)
    }

    fn record(
        &self,
        path: &str,
        status: StatusCode,
        elapsed: Duration,
        cached: bool,
        request: &Bytes,
        response: &Bytes,
    ) {
        let Some(recorder) = &self.recorder else { return };
        let as_json = |b: &Bytes| {
            serde_json::from_slice::<Value>(b)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned()))
        };
        let line = serde_json::json!({
            "seq": self.sequence.fetch_add(1, Ordering::Relaxed),
            "path": path,
            "status": status.as_u16(),
            "ms": elapsed.as_secs_f64() * 1e3,
            "cached": cached,
            "request": as_json(request),
            "response": as_json(response),
        });
        let mut w = recorder.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = writeln!(w, "{line}");
        let _ = w.flush();
    }
}

/// Accepts connections on `listener` and serves them with `proxy` until the task is dropped.
pub async fn serve(listener: TcpListener, proxy: Arc<Proxy>) -> std::io::Result<()> {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            // Out of file descriptors and the like: wait a little instead of spinning.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        proxy.counters.connections.fetch_add(1, Ordering::Relaxed);
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let proxy = proxy.clone();
                async move { Ok::<_, std::convert::Infallible>(proxy.handle(req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_paths_are_recognised() {
        assert!(is_chat_path("/v1/chat/completions"));
        assert!(is_chat_path("/chat/completions"));
        assert!(!is_chat_path("/v1/models"));
        assert!(!is_chat_path("/props"));
    }

    #[test]
    fn usage_is_read_from_responses() {
        let body = br#"{"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}}"#;
        assert_eq!(usage_of(body), (12, 5));
        assert_eq!(usage_of(br#"{"choices": []}"#), (0, 0));
        assert_eq!(usage_of(b"not json"), (0, 0));
    }

    #[test]
    fn cache_key_depends_on_method_path_and_body() {
        let a = cache_key(&Method::POST, "/v1/chat/completions", b"{}");
        assert_eq!(a, cache_key(&Method::POST, "/v1/chat/completions", b"{}"));
        assert_ne!(a, cache_key(&Method::POST, "/v1/chat/completions", b"{ }"));
        assert_ne!(a, cache_key(&Method::POST, "/chat/completions", b"{}"));
        assert_ne!(a, cache_key(&Method::GET, "/v1/chat/completions", b"{}"));
    }

    #[test]
    fn rejects_non_http_upstreams() {
        assert!(Proxy::new(&ProxyOptions { upstream: "https://x".into(), ..Default::default() }).is_err());
        assert!(Proxy::new(&ProxyOptions { upstream: "127.0.0.1:80".into(), ..Default::default() }).is_err());
    }

    #[tokio::test]
    async fn counters_reset_and_busy_time() {
        let proxy = Proxy::new(&ProxyOptions { upstream: "http://127.0.0.1:9".into(), ..Default::default() }).unwrap();
        let stats = proxy.stats();
        assert_eq!((stats.requests, stats.chat_completions, stats.busy_seconds), (0, 0, 0.0));
        proxy.counters.chat_completions.fetch_add(3, Ordering::Relaxed);
        proxy.counters.first_request_us.store(1_000, Ordering::Relaxed);
        proxy.counters.last_response_us.store(2_501_000, Ordering::Relaxed);
        let stats = proxy.stats();
        assert_eq!(stats.chat_completions, 3);
        assert!((stats.busy_seconds - 2.5).abs() < 1e-9);
        proxy.reset();
        assert_eq!(proxy.stats().chat_completions, 0);
        assert_eq!(proxy.stats().busy_seconds, 0.0);
    }

    #[test]
    fn cache_file_round_trip_skips_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.jsonl");
        {
            let cache = ResponseCache::open(&path).unwrap();
            cache.put("k1".into(), &Bytes::from_static(b"{\"a\":1}"));
            assert_eq!(cache.get("k1"), Some(Bytes::from_static(b"{\"a\":1}")));
        }
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"key\": \"k2\", \"bo").unwrap();
        drop(f);
        {
            let cache = ResponseCache::open(&path).unwrap();
            assert_eq!(cache.len(), 1);
            assert_eq!(cache.get("k1"), Some(Bytes::from_static(b"{\"a\":1}")));
            assert_eq!(cache.get("k2"), None);
            cache.put("k3".into(), &Bytes::from_static(b"{}"));
        }
        // The entry written after the torn line is readable.
        let cache = ResponseCache::open(&path).unwrap();
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("k3"), Some(Bytes::from_static(b"{}")));
    }
}
