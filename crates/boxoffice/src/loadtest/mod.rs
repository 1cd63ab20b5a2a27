//! `boxoffice loadtest`: placeholder replaced below.
use clap::Args as ClapArgs;
use std::process::ExitCode;

#[derive(ClapArgs, Debug)]
pub struct Args {}

pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}
