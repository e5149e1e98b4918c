//! `baton`: the headless command line for Baton's task engine.
//!
//! # Layout
//! - `args`: the command line (clap) and how its parse errors are printed.
//! - `input`: command-line text to engine values (ids, durations, times, prompts).
//! - `commands`: one function per subcommand; each uses the running engine's
//!   API when there is one, else opens the database itself.
//! - `remote`: the client of a running engine's HTTP API (crates/api).
//! - `output`: JSON, the `list` table and the `show` block.
//! - `logging`: tracing on stderr (`BATON_LOG`) and the panic hook.
//! - `error`: [`error::CliError`], its stable codes and exit statuses (0, 1, 2).

mod args;
mod commands;
mod error;
mod input;
mod logging;
mod output;
mod remote;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return args::report_parse_error(e),
    };
    logging::init(cli.command.default_log_level());
    match commands::run_blocking(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.report(),
    }
}
