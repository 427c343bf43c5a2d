//! `fake-lm`: a fast fake OpenAI-compatible chat server for benchmarks.

use anyhow::{Context, Result};
use clap::Parser;
use promptsmith_bench::fake::{serve, FakeOptions};
use std::time::Duration;

/// Answers every chat request with the output fields of the requested signature in DSPy's
/// `[[ ## field ## ]]` layout after a fixed latency. Prints `listening on HOST:PORT` once ready.
#[derive(Debug, Parser)]
#[command(name = "fake-lm", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (0: any free port; the chosen one is printed).
    #[arg(long, default_value_t = 8090)]
    port: u16,
    /// Fixed delay before each chat answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Model id listed at /v1/models.
    #[arg(long, default_value = "fake-lm")]
    model: String,
    /// Runtime worker threads (0: one per CPU allowed by the affinity mask).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = promptsmith_bench::runtime(args.threads).context("cannot start the runtime")?;
    runtime.block_on(async {
        let (listener, addr) = promptsmith_bench::bind(&args.host, args.port)
            .await
            .with_context(|| format!("cannot bind {}:{}", args.host, args.port))?;
        println!("listening on {addr}");
        let options = FakeOptions { latency: Duration::from_millis(args.latency_ms), model: args.model };
        serve(listener, options).await.context("server failed")
    })
}
