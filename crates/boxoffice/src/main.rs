//! The `boxoffice` binary: parses the command line and hands over to the library.
fn main() -> std::process::ExitCode {
    boxoffice::cli::main()
}
