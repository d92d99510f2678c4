//! Queries the status of one instance.
//!
//! Run: `cargo run -p clouddc-ureq --example status -- ins-7f3c2a10`
//!
//! Configuration comes from the environment: `CLOUDDC_ENDPOINT` (or
//! `HUAWEICLOUD_SDK_REGION`), `HUAWEICLOUD_SDK_PROJECT_ID`, and
//! `CLOUDDC_AUTH_TOKEN` (or `HUAWEICLOUD_SDK_AK` + `HUAWEICLOUD_SDK_SK`).

use clouddc_ureq::{Client, Error, InstanceId};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {}", clouddc_ureq::core::error_chain(&e));
        std::process::exit(1);
    }
}

fn run() -> Result<(), Error> {
    let id = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ins-7f3c2a10".into());
    let client = Client::from_env()?;
    let status = client.status(&InstanceId::new(id.as_str())?)?;
    let operation = status.operation_state.map(|o| o.to_string());
    println!(
        "{id}: {} (operation: {})",
        status.state,
        operation.as_deref().unwrap_or("-")
    );
    Ok(())
}
