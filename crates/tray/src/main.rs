use std::process::ExitCode;

fn main() -> ExitCode {
    baton_tray::main(std::env::args().skip(1))
}
