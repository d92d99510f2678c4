//! Queries many instances at once, at most 8 in flight, printing each
//! result as it arrives.
//!
//! Run: `cargo run -p clouddc-reqwest --example statuses -- ins-1 ins-2 ins-3`
//!
//! Configuration comes from the environment, as in the `status_async` example.

use clouddc_reqwest::{Client, Error, InstanceId};
use futures_util::StreamExt;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {}", clouddc_reqwest::core::error_chain(&e));
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Error> {
    let ids = std::env::args()
        .skip(1)
        .map(InstanceId::new)
        .collect::<Result<Vec<_>, _>>()?;
    let client = Client::from_env()?;
    let mut failed = 0;
    let mut results = client.statuses(ids, 8);
    while let Some((id, result)) = results.next().await {
        match result {
            Ok(status) => println!("{id}: {}", status.state),
            Err(e) => {
                failed += 1;
                println!("{id}: error: {}", clouddc_reqwest::core::error_chain(&e));
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} queries failed");
        std::process::exit(2);
    }
    Ok(())
}
