//! `clouddc completions SHELL`: the shell completion script on stdout, and
//! how to install it on stderr (so that `> file` keeps only the script).
//!
//! Owns the install line of each shell. Must not define options: the
//! script is generated from the same definitions as `--help` (`args`).

use clap::CommandFactory;
use clap_complete::Shell;

use crate::args::Cli;
use crate::{exit, stdio};

/// Prints the completion script for `shell`.
pub(crate) fn run(shell: Shell) -> u8 {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "clouddc", &mut script);
    if let Err(stop) = stdio::bytes(&script) {
        return stop.exit_code();
    }
    stdio::err(format_args!("{}", install_hint(shell)));
    exit::OK
}

/// How to install the completion script for `shell`: for bash, zsh and
/// fish, the first line is a command that works as written on a fresh
/// account (it makes the folder).
fn install_hint(shell: Shell) -> &'static str {
    match shell {
        Shell::Bash => {
            "# install: mkdir -p ~/.local/share/bash-completion/completions && clouddc completions bash > ~/.local/share/bash-completion/completions/clouddc"
        }
        Shell::Zsh => {
            "# install: mkdir -p ~/.zfunc && clouddc completions zsh > ~/.zfunc/_clouddc\n# then: add fpath+=(~/.zfunc) before compinit in ~/.zshrc"
        }
        Shell::Fish => {
            "# install: mkdir -p ~/.config/fish/completions && clouddc completions fish > ~/.config/fish/completions/clouddc.fish"
        }
        Shell::Elvish => {
            "# install: add `eval (clouddc completions elvish | slurp)` to ~/.config/elvish/rc.elv"
        }
        Shell::PowerShell => {
            "# install: add `clouddc completions powershell | Out-String | Invoke-Expression` to $PROFILE"
        }
        _ => "# install: save the script where your shell loads completions from",
    }
}
