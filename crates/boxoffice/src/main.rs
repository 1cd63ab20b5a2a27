//! The `boxoffice` binary: parses the command line and hands over to the library.
// The request path allocates small buffers from several threads at a high rate;
// mimalloc handles that with less contention than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    boxoffice::cli::main()
}
