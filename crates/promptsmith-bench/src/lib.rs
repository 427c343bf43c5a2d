//! Benchmark harness pieces shared by the `fake-lm` and `lm-proxy` binaries and the scripts
//! under `bench/`: a fast fake OpenAI-compatible model that answers in DSPy's
//! `[[ ## field ## ]]` chat layout, and a counting reverse proxy that is the single place
//! where LM calls of every system under test are counted.

pub mod answer;
pub mod fake;
pub mod proxy;

/// Binds `host:port` (port 0 picks a free one) and returns the listener and its address.
pub async fn bind(host: &str, port: u16) -> std::io::Result<(tokio::net::TcpListener, std::net::SocketAddr)> {
    let listener = tokio::net::TcpListener::bind((host, port)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// A tokio runtime with `threads` workers (0: one per CPU this process may run on, which
/// respects `taskset`).
pub fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, usize::from) } else { threads };
    if threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()
    }
}
