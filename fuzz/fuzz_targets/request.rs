//! Id and endpoint validation and request building: never a panic; every
//! request built has exactly one segment per id and verifies with the
//! signer it was signed with.
#![no_main]

use clouddc_core::signing::verify_request;
use clouddc_core::{Config, Credentials, Endpoint, InstanceId, ProjectId, build_status_request};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, SystemTime};

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    endpoint: String,
    insecure: bool,
    project: String,
    id: String,
    ak: String,
    sk: String,
    token: Option<String>,
    secs: u32,
}

fuzz_target!(|i: Input| {
    let endpoint = if i.insecure {
        Endpoint::parse_allow_insecure(&i.endpoint)
    } else {
        Endpoint::parse(&i.endpoint)
    };
    let (Ok(endpoint), Ok(project), Ok(id)) =
        (endpoint, ProjectId::new(i.project.clone()), InstanceId::new(i.id.clone()))
    else {
        return;
    };
    let creds = match &i.token {
        Some(t) => Credentials::token(t.clone()),
        None => Credentials::ak_sk(i.ak.clone(), i.sk.clone()),
    };
    let Ok(creds) = creds else { return };
    let Ok(config) = Config::builder()
        .endpoint(endpoint.clone())
        .project_id(project)
        .credentials(creds)
        .build()
    else {
        return;
    };
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(i.secs));
    let Ok(req) = build_status_request(&config, &id, wall) else { return };
    let path = req.uri().path();
    let rest = path.strip_prefix(endpoint.prefix()).expect("prefix kept");
    let segs: Vec<&str> = rest.split('/').collect();
    assert_eq!(segs.len(), 6, "{rest}"); // "", v1, project, instances, id, status
    assert_eq!(segs[4], id.to_path_segment());
    if i.token.is_none() {
        let sk = i.sk.clone();
        let ok = verify_request(&req, |_| Some(sk.clone()), wall, Duration::from_secs(1));
        assert!(ok.is_ok(), "{ok:?}");
    }
});
