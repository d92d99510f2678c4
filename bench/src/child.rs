//! Child processes: servers on one CPU, clients on the other, each reporting
//! one line of JSON.
//!
//! Every measured piece runs in a process of its own, so it can be pinned
//! with `taskset -c N` (no `unsafe` affinity calls here) and so a client's
//! peak RSS is its own. Protocol: a server prints `LISTENING <what>` once it
//! accepts connections and serves until its stdin closes, then prints any
//! closing lines and exits; a client prints `RESULT <json>`.

use std::error::Error;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// Boxed errors, with the command that failed in the message.
pub(crate) type BoxError = Box<dyn Error + Send + Sync>;

/// Which CPUs servers and clients are pinned to, if any.
#[derive(Debug, Clone)]
pub(crate) struct Pin {
    cpus: Option<(usize, usize)>,
    why_not: String,
}

impl Pin {
    /// Pins when `taskset` runs and this process may use two CPUs or more.
    pub(crate) fn detect() -> Self {
        let allowed = allowed_cpus();
        let taskset = Command::new("taskset")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        match (taskset, allowed.as_slice()) {
            (true, [a, b, ..]) => Self {
                cpus: Some((*a, *b)),
                why_not: String::new(),
            },
            (false, _) => Self {
                cpus: None,
                why_not: "taskset is not installed".to_owned(),
            },
            (true, _) => Self {
                cpus: None,
                why_not: "fewer than two CPUs are available".to_owned(),
            },
        }
    }

    /// This binary with `args`, pinned to the server CPU.
    pub(crate) fn server(&self, args: &[&str]) -> Result<Command, BoxError> {
        self.command(self.cpus.map(|c| c.0), args)
    }

    /// This binary with `args`, pinned to the client CPU.
    pub(crate) fn client(&self, args: &[&str]) -> Result<Command, BoxError> {
        self.command(self.cpus.map(|c| c.1), args)
    }

    fn command(&self, cpu: Option<usize>, args: &[&str]) -> Result<Command, BoxError> {
        let exe = std::env::current_exe()?;
        let mut cmd = match cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        cmd.args(args);
        Ok(cmd)
    }

    /// One sentence for the report.
    pub(crate) fn describe(&self) -> String {
        match self.cpus {
            Some((s, c)) => format!(
                "servers pinned to CPU {s} and clients (and `wrk`) to CPU {c} with `taskset -c`"
            ),
            None => format!("unpinned: {}", self.why_not),
        }
    }
}

/// The CPUs this process may run on (`Cpus_allowed_list`), else `0..nproc`.
fn allowed_cpus() -> Vec<usize> {
    let listed = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|l| parse_cpu_list(l.trim()))
        })
        .unwrap_or_default();
    if listed.is_empty() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        (0..n).collect()
    } else {
        listed
    }
}

/// Parses `0-3,8,10-11`.
fn parse_cpu_list(s: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut ends = part.splitn(2, '-').map(|x| x.trim().parse::<usize>());
        match (ends.next(), ends.next()) {
            (Some(Ok(a)), None) => out.push(a),
            (Some(Ok(a)), Some(Ok(b))) if a <= b => out.extend(a..=b),
            _ => return Vec::new(),
        }
    }
    out
}

/// A server child, listening.
#[derive(Debug)]
pub(crate) struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// What followed `LISTENING ` on its first line.
    pub(crate) listening: String,
}

impl Server {
    /// Starts `cmd` and waits for its `LISTENING` line.
    pub(crate) fn start(mut cmd: Command) -> Result<Self, BoxError> {
        let shown = format!("{cmd:?}");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {shown}: {e}"))?;
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let Some(listening) = line.trim_end().strip_prefix("LISTENING ") else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{shown} did not start: {line:?}").into());
        };
        Ok(Self {
            listening: listening.to_owned(),
            child,
            stdin,
            stdout,
        })
    }

    /// Closes its stdin and returns the lines it printed before exiting.
    pub(crate) fn stop(mut self) -> Result<Vec<String>, BoxError> {
        drop(self.stdin.take());
        let lines: Vec<String> = (&mut self.stdout).lines().collect::<Result<_, _>>()?;
        let status = self.child.wait()?;
        if !status.success() {
            return Err(format!("a server exited with {status}").into());
        }
        Ok(lines)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a client child to the end and parses its `RESULT` line.
pub(crate) fn run_client<T: serde::de::DeserializeOwned>(mut cmd: Command) -> Result<T, BoxError> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{shown} exited with {}", out.status).into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let json = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| format!("{shown} printed no RESULT line"))?;
    Ok(serde_json::from_str(json)?)
}

/// Prints `RESULT <json>` for the parent.
pub(crate) fn report<T: serde::Serialize>(value: &T) -> Result<(), BoxError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "RESULT {}", serde_json::to_string(value)?)?;
    out.flush()?;
    Ok(())
}

/// Prints `LISTENING <what>` for the parent.
pub(crate) fn listening(what: &str) -> Result<(), BoxError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "LISTENING {what}")?;
    out.flush()?;
    Ok(())
}

/// Blocks until the parent closes our stdin.
pub(crate) fn until_stdin_closes() {
    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
}

/// This process's peak resident set size (`VmHWM`) in KiB.
pub(crate) fn peak_rss_kib() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpu_list("0-1"), vec![0, 1]);
        assert_eq!(parse_cpu_list("0-2,8, 10-11"), vec![0, 1, 2, 8, 10, 11]);
        assert_eq!(parse_cpu_list("3"), vec![3]);
        assert!(parse_cpu_list("x").is_empty());
        assert!(parse_cpu_list("3-1").is_empty());
    }

    #[test]
    fn peak_rss_reads_proc_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_kib().is_some_and(|k| k > 0));
        }
    }
}
