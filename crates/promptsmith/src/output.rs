//! Printing that a closed pipe cannot crash.
//!
//! `promptsmith registry show qa | head -3` closes the pipe after three lines. Rust ignores
//! SIGPIPE, so the next write fails with `BrokenPipe`, and std's `println!` panics on that
//! ("failed printing to stdout: Broken pipe"). Like ripgrep, promptsmith instead ends quietly
//! with exit status 0: the reader has all it wanted.
//!
//! Two paths lead there:
//! - `println!`, `print!`, `eprintln!` and `eprint!` are shadowed for the whole crate by the
//!   macros below (`main.rs` declares this module first with `#[macro_use]`, and a
//!   `macro_rules!` macro in scope takes precedence over the std prelude's). They print as
//!   std's do, but a broken stdout ends the process at once with status 0 (see
//!   [`stdout_failed`]), and a failed write to stderr is ignored (there is nowhere left to
//!   report it). So no `println!` anywhere in the crate can panic on EPIPE, including in the
//!   modules that print while an optimization or an evaluation is running.
//! - Code that writes to a locked stdout with `writeln!(out, ...)?` gets the `io::Error` back;
//!   it travels up as the command's error, and `main` recognises it with [`is_broken_pipe`]
//!   and exits 0 without a message.

use std::fmt;
use std::io::{self, Write};

/// `println!` that never panics: see the module docs.
macro_rules! println {
    () => {
        $crate::output::stdout_fmt(format_args!("\n"), true)
    };
    ($($arg:tt)*) => {
        $crate::output::stdout_fmt(format_args!($($arg)*), true)
    };
}

/// `print!` that never panics: see the module docs.
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::output::stdout_fmt(format_args!($($arg)*), false)
    };
}

/// `eprintln!` that never panics: see the module docs.
macro_rules! eprintln {
    () => {
        $crate::output::stderr_fmt(format_args!("\n"), true)
    };
    ($($arg:tt)*) => {
        $crate::output::stderr_fmt(format_args!($($arg)*), true)
    };
}

/// `eprint!` that never panics: see the module docs.
#[allow(unused_macros)]
macro_rules! eprint {
    ($($arg:tt)*) => {
        $crate::output::stderr_fmt(format_args!($($arg)*), false)
    };
}

/// Writes to stdout (with a newline when `newline`); a failed write ends the process through
/// [`stdout_failed`].
pub(crate) fn stdout_fmt(args: fmt::Arguments<'_>, newline: bool) {
    let mut out = io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| if newline { out.write_all(b"\n") } else { Ok(()) });
    if let Err(e) = written {
        drop(out);
        stdout_failed(&e);
    }
}

/// Writes to stderr (with a newline when `newline`), ignoring failures.
pub(crate) fn stderr_fmt(args: fmt::Arguments<'_>, newline: bool) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| if newline { err.write_all(b"\n") } else { Ok(()) });
}

/// Ends the process after stdout failed: quietly with status 0 when its reader went away
/// (`| head`), else with the error on stderr and status 1 (e.g. a full disk behind `>`).
/// Destructors do not run, as when SIGPIPE kills a C program: data already written stays
/// consistent (store transactions commit or roll back as a unit).
pub(crate) fn stdout_failed(error: &io::Error) -> ! {
    if error.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    stderr_fmt(format_args!("error: cannot write to stdout: {error}"), true);
    std::process::exit(1);
}

/// Whether a command failed because stdout's reader went away (an `io::Error` of kind
/// `BrokenPipe` anywhere in its chain, directly or inside a JSON writer's error).
pub(crate) fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || cause.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind)
                == Some(io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_pipes_are_recognised_through_context() {
        let pipe = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing the list");
        assert!(is_broken_pipe(&pipe));
        let json = serde_json::to_writer(BrokenWriter, &vec![1, 2, 3]).unwrap_err();
        assert!(is_broken_pipe(&anyhow::Error::new(json)));
        assert!(!is_broken_pipe(&anyhow::Error::new(io::Error::from(io::ErrorKind::NotFound))));
        assert!(!is_broken_pipe(&anyhow::anyhow!("Broken pipe")));
    }

    struct BrokenWriter;

    impl Write for BrokenWriter {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
}
