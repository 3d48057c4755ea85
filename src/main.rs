//! The `ppsd` command: parses the command line and hands over to [`ppsd::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    ppsd::cli::main()
}
