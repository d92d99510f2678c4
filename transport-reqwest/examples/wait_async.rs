//! Waits until an instance is running, polling with backoff.
//!
//! Run: `cargo run -p clouddc-reqwest --example wait_async -- ins-7f3c2a10`
//!
//! Configuration comes from the environment, as in the `status_async` example.

use std::time::Duration;

use clouddc_reqwest::{Client, Error, InstanceId, InstanceState, WaitOptions, WaitOutcome};

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {}", clouddc_reqwest::core::error_chain(&e));
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Error> {
    let id = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ins-7f3c2a10".into());
    let client = Client::from_env()?;
    let options = WaitOptions::new()
        .min_delay(Duration::from_secs(2))
        .max_delay(Duration::from_secs(15))
        .max_wait(Duration::from_secs(600));
    let id_value = InstanceId::new(id.as_str())?;
    let report = client
        .wait_until(&id_value, InstanceState::Running, options)
        .await;
    let secs = report.elapsed.as_secs();
    match report.outcome {
        WaitOutcome::Reached(_) => println!("{id} is running ({} polls, {secs} s)", report.polls),
        WaitOutcome::Failed(s) => println!("{id} will not run: it is {}", s.state),
        WaitOutcome::TimedOut { last, .. } => println!(
            "gave up after {secs} s; last state: {}",
            last.map_or_else(|| "unknown".to_owned(), |s| s.state.to_string())
        ),
        WaitOutcome::Error(e) => return Err(e),
        other => println!("{}", other.as_str()),
    }
    Ok(())
}
