//! The `aviary` binary: a thin shell over `cli::main_with`.

use std::io::{IsTerminal, stderr, stdout};

fn main() {
    let out = stdout();
    let err = stderr();
    let stdout_is_terminal = out.is_terminal();
    let stderr_is_terminal = err.is_terminal();
    let mut out = out.lock();
    // Not locked: the progress bar writes to stderr from worker threads, and
    // a lock held here for the whole run would deadlock it.
    let mut err = err;
    let mut io = cli::Io {
        out: &mut out,
        err: &mut err,
        stdout_is_terminal,
        stderr_is_terminal,
    };
    let code = cli::main_with(std::env::args_os(), &mut io);
    std::process::exit(code);
}
