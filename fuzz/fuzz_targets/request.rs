//! Id and endpoint validation and request building: never a panic; every
//! request built has exactly one segment per id, verifies with the signer it
//! was signed with, and is signed byte for byte as the general signer signs
//! it.
#![no_main]

use clouddc_core::{sign_request, verify_request};
use clouddc_core::{Config, Credentials, Endpoint, InstanceId, ProjectId, Session, build_status_request};
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
    auth: Auth,
    secs: u32,
}

#[derive(Debug, arbitrary::Arbitrary)]
enum Auth {
    Token(String),
    AkSk,
    Temporary(String),
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
    let creds = match &i.auth {
        Auth::Token(t) => Credentials::token(t.clone()),
        Auth::AkSk => Credentials::ak_sk(i.ak.clone(), i.sk.clone()),
        Auth::Temporary(st) => Credentials::temporary(i.ak.clone(), i.sk.clone(), st.clone()),
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
    let Ok(req) = build_status_request(&Session::new(config), &id, wall) else { return };
    let path = req.uri().path();
    let rest = path.strip_prefix(endpoint.prefix()).expect("prefix kept");
    let segs: Vec<&str> = rest.split('/').collect();
    assert_eq!(segs.len(), 6, "{rest}"); // "", v1, project, instances, id, status
    assert_eq!(segs[4], id.to_path_segment());
    if !matches!(i.auth, Auth::Token(_)) {
        let sk = i.sk.clone();
        let ok = verify_request(&req, |_| Some(sk.clone()), wall, Duration::from_secs(1));
        assert!(ok.is_ok(), "{ok:?}");
        let mut general = req.clone();
        general.headers_mut().remove("authorization");
        general.headers_mut().remove("x-sdk-date");
        sign_request(&mut general, &i.ak, &i.sk, wall);
        assert_eq!(req.headers()["authorization"], general.headers()["authorization"]);
        assert_eq!(req.headers()["x-sdk-date"], general.headers()["x-sdk-date"]);
        assert_eq!(req.headers().len(), general.headers().len());
    }
});
