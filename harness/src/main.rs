//! `sio-harness` command line: `run`, `diff`, `check`, `init`, the load modes (`storm`,
//! `fanout`, `churn`), `exhaust`, `fuzz`, `record`, `schema` for editors, and `completions` and `man`
//! for shells and packagers; each subcommand lives in its own file under `cli/`.

mod cli;

// mimalloc, as in the server: the load modes allocate per message across worker threads, and the
// load generator must cost as little CPU as it can on the cores it shares with the server.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    cli::main().await
}
