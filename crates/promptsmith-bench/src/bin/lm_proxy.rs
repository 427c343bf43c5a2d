//! `lm-proxy`: a counting reverse proxy in front of an OpenAI-compatible server.

use anyhow::{Context, Result};
use clap::Parser;
use promptsmith_bench::proxy::{serve, Proxy, ProxyOptions};
use std::path::PathBuf;
use std::sync::Arc;

/// Forwards every request to the upstream server and counts requests and tokens.
/// `GET /_stats` returns the counts, `POST /_reset` zeroes them. Prints `listening on HOST:PORT`.
#[derive(Debug, Parser)]
#[command(name = "lm-proxy", version)]
struct Args {
    /// Upstream server root, e.g. http://127.0.0.1:8090 (paths are forwarded unchanged).
    #[arg(long)]
    upstream: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (0: any free port; the chosen one is printed).
    #[arg(long, default_value_t = 8091)]
    port: u16,
    /// Append every chat exchange (request and response bodies) to this JSONL file.
    #[arg(long)]
    record: Option<PathBuf>,
    /// Answer chat requests seen before from this JSONL file and add new answers to it.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Runtime worker threads (0: one per CPU allowed by the affinity mask).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let options = ProxyOptions { upstream: args.upstream.clone(), record: args.record, cache: args.cache };
    let runtime = promptsmith_bench::runtime(args.threads).context("cannot start the runtime")?;
    runtime.block_on(async {
        let proxy = Arc::new(Proxy::new(&options).context("cannot start the proxy")?);
        let (listener, addr) = promptsmith_bench::bind(&args.host, args.port)
            .await
            .with_context(|| format!("cannot bind {}:{}", args.host, args.port))?;
        if options.cache.is_some() {
            eprintln!("cache: {} entries", proxy.cached_entries());
        }
        println!("listening on {addr} -> {}", args.upstream);
        serve(listener, proxy).await.context("proxy failed")
    })
}
