//! What the CLI's test files share: the binary with a clean environment.
#![allow(dead_code)] // Each test file uses its own share of these.

use std::time::Duration;

use assert_cmd::Command;
use clouddc_simulator::{Auth, BlockingHandle, Faults, NewInstance, Schedule, SimConfig};

/// The transports this build has.
pub(crate) const TRANSPORTS: &[&str] = &[
    #[cfg(feature = "reqwest")]
    "reqwest",
    #[cfg(feature = "ureq")]
    "ureq",
];

/// The binary with a clean environment.
pub(crate) fn clouddc() -> Command {
    let mut c = Command::cargo_bin("clouddc").expect("binary");
    for v in [
        "CLOUDDC_ENDPOINT",
        "CLOUDDC_AUTH_TOKEN",
        "HUAWEICLOUD_SDK_REGION",
        "HUAWEICLOUD_SDK_PROJECT_ID",
        "HUAWEICLOUD_SDK_AK",
        "HUAWEICLOUD_SDK_SK",
        "HUAWEICLOUD_SDK_SECURITY_TOKEN",
        "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
        "HUAWEICLOUD_SDK_IAM_ENDPOINT",
        "HUAWEICLOUD_SDK_IDP_ID",
        "HUAWEICLOUD_SDK_ID_TOKEN_FILE",
        "USERPROFILE",
    ] {
        c.env_remove(v);
    }
    // No profile file of the machine's user, and never the metadata
    // address: a test that wants either sets it.
    c.env("HOME", empty_home())
        .env("CLOUDDC_METADATA_ENDPOINT", "off");
    c.timeout(Duration::from_secs(60));
    c
}

/// An empty folder to be `HOME` for every run of the binary.
pub(crate) fn empty_home() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("clouddc-cli-home-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("home");
    dir
}

/// What a run of the binary printed, and its exit code.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `c` to the end.
pub(crate) fn run(mut c: Command) -> Run {
    let out = c.output().expect("run clouddc");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A simulator on a free loopback port that accepts `auth`, with no
/// instance.
pub(crate) fn simulator(auth: Auth) -> BlockingHandle {
    let config = SimConfig::builder()
        .listen(([127, 0, 0, 1], 0).into())
        .auth(auth)
        .instances(0)
        .build()
        .expect("sim config");
    clouddc_simulator::start_blocking(config).expect("start the simulator")
}

/// Creates instance `id` in `sim`.
pub(crate) fn add_instance(sim: &BlockingHandle, id: &str, schedule: Schedule, faults: Faults) {
    sim.control()
        .create_instance(
            NewInstance::new()
                .with_id(id)
                .with_schedule(schedule)
                .with_faults(faults),
        )
        .expect("create instance");
}
