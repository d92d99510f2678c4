//! IAM's project lookup through the heart: signature verification over the
//! canonical query, the project list, trace ids and counters.

use clouddc_core::sign_request;

use super::*;
use crate::iam::{self, IamProject};
use crate::metadata::Metadata;

/// `GET /v3/projects?{query}`, signed with `creds` at `at`.
fn lookup(query: &str, creds: &Credentials, at: SystemTime) -> Request<Vec<u8>> {
    let mut req = Request::get(format!("http://127.0.0.1:8080/v3/projects?{query}"))
        .header("Host", "127.0.0.1:8080")
        .header("Accept", "application/json")
        .body(Vec::new())
        .unwrap();
    match creds {
        Credentials::AkSk {
            access_key,
            secret_key,
            security_token,
        } => {
            if let Some(st) = security_token {
                req.headers_mut()
                    .insert("x-security-token", st.expose().parse().unwrap());
            }
            sign_request(&mut req, access_key, secret_key.expose(), at);
        }
        _ => panic!("sign with AK/SK"),
    }
    req
}

fn iam_sim() -> (Simulator, Instant) {
    sim_with(Auth::ak_sk(AK, SK))
}

fn trace(r: &Reply) -> String {
    r.headers["x-iam-trace-id"].to_str().unwrap().to_owned()
}

fn ids(r: &Reply) -> Vec<String> {
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    json_of(r)["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

fn iam_401(r: &Reply) -> String {
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(!trace(r).is_empty());
    let v = json_of(r);
    assert_eq!(v["error"]["code"], 401);
    assert_eq!(v["error"]["title"], "Unauthorized");
    v["error"]["message"].as_str().unwrap().to_owned()
}

#[test]
fn a_signed_lookup_lists_the_project_of_the_region() {
    let (mut sim, t0) = iam_sim();
    let creds = Credentials::ak_sk(AK, SK).unwrap();
    let d = sim.handle(&lookup("name=cn-east-3", &creds, wall()), t0, wall());
    let r = reply(&d);
    assert_eq!(ids(r), [P]);
    let p = &json_of(r)["projects"][0];
    assert_eq!(p["name"], "cn-east-3");
    assert_eq!(p["domain_id"], iam::DEFAULT_DOMAIN_ID);
    assert_eq!(p["enabled"], true);
    assert_eq!(
        p["links"]["self"],
        format!("http://127.0.0.1:8080/v3/projects/{P}")
    );
    assert!(r.request_id().is_some());
    assert_eq!(r.headers["date"], httpdate::fmt_http_date(wall()));
    // Another region has no project; the trace id differs on every answer.
    let d2 = sim.handle(&lookup("name=cn-south-1", &creds, wall()), t0, wall());
    assert!(ids(reply(&d2)).is_empty());
    assert_ne!(trace(r), trace(reply(&d2)));
    assert_ne!(trace(r), r.request_id().unwrap());
    let c = sim.global_counters();
    assert_eq!((c.iam_requests, c.requests), (2, 0));
}

#[test]
fn the_signature_covers_the_query() {
    let (mut sim, t0) = iam_sim();
    let creds = Credentials::ak_sk(AK, SK).unwrap();
    let good = lookup("name=cn-east-3", &creds, wall());
    // The query changed after signing.
    let mut tampered = good.clone();
    *tampered.uri_mut() = "http://127.0.0.1:8080/v3/projects?name=cn-east-4"
        .parse()
        .unwrap();
    let msg = iam_401(reply(&sim.handle(&tampered, t0, wall())));
    assert!(msg.contains("signature mismatch"), "{msg}");
    let mut added = good.clone();
    *added.uri_mut() = "http://127.0.0.1:8080/v3/projects?name=cn-east-3&enabled=true"
        .parse()
        .unwrap();
    iam_401(reply(&sim.handle(&added, t0, wall())));
    // Wrong secret, unknown key, nothing at all.
    let wrong = lookup(
        "name=cn-east-3",
        &Credentials::ak_sk(AK, "nope").unwrap(),
        wall(),
    );
    assert!(iam_401(reply(&sim.handle(&wrong, t0, wall()))).contains("signature mismatch"));
    let stranger = lookup(
        "name=cn-east-3",
        &Credentials::ak_sk("OTHER", SK).unwrap(),
        wall(),
    );
    assert!(iam_401(reply(&sim.handle(&stranger, t0, wall()))).contains("unknown access key"));
    let bare = Request::get("/v3/projects?name=cn-east-3")
        .body(Vec::new())
        .unwrap();
    assert!(iam_401(reply(&sim.handle(&bare, t0, wall()))).contains("no Authorization"));
    // Still good untouched; other methods are refused.
    assert_eq!(ids(reply(&sim.handle(&good, t0, wall()))), [P]);
    let mut post = good;
    *post.method_mut() = Method::POST;
    let d = sim.handle(&post, t0, wall());
    assert_eq!(reply(&d).status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply(&d).headers["allow"], "GET");
    assert!(reply(&d).headers.contains_key("x-iam-trace-id"));
    assert_eq!(sim.global_counters().iam_requests, 7);
}

#[test]
fn an_expired_x_sdk_date_is_refused_with_words_clients_read_as_skew() {
    let (mut sim, t0) = iam_sim();
    let creds = Credentials::ak_sk(AK, SK).unwrap();
    let late = lookup("name=cn-east-3", &creds, wall() - Duration::from_secs(3600));
    let msg = iam_401(reply(&sim.handle(&late, t0, wall())));
    assert!(msg.contains("request has expired"), "{msg}");
}

#[test]
fn zero_one_or_several_projects() {
    let (mut sim, t0) = iam_sim();
    let creds = Credentials::ak_sk(AK, SK).unwrap();
    let ask = |sim: &mut Simulator, q: &str| {
        let d = sim.handle(&lookup(q, &creds, wall()), t0, wall());
        assert!(reply(&d).headers.contains_key("x-iam-trace-id"));
        ids(reply(&d))
    };
    sim.apply(Op::SetIamProjects(Vec::new()), t0).unwrap();
    assert!(ask(&mut sim, "name=cn-east-3").is_empty());
    sim.apply(
        Op::SetIamProjects(vec![
            IamProject::new("a", "cn-east-3"),
            IamProject::new("b", "cn-east-3_sub"),
            IamProject::new("c", "cn-east-3"),
            IamProject::new("d", "ap-southeast-3"),
        ]),
        t0,
    )
    .unwrap();
    assert_eq!(ask(&mut sim, "name=cn-east-3"), ["a", "c"]);
    assert_eq!(ask(&mut sim, "name=ap-southeast-3"), ["d"]);
    assert_eq!(ask(&mut sim, "name=cn-east-3_sub"), ["b"]);
    assert_eq!(ask(&mut sim, "enabled=true").len(), 4);
    assert!(
        sim.apply(Op::SetIamProjects(vec![IamProject::new("", "x")]), t0)
            .is_err()
    );

    // The same over the admin API; a reset brings the configured list back.
    let (st, v) = admin(
        &mut sim,
        "PUT",
        "/_sim/iam",
        json!({"projects": [{"id": "p-x", "name": "cn-east-3"}, {"id": "p-y", "name": "cn-east-3", "domain_id": "dom", "enabled": false}]}),
        t0,
    );
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["projects"][0]["domain_id"], iam::DEFAULT_DOMAIN_ID);
    assert_eq!(v["projects"][1]["enabled"], false);
    assert_eq!(ask(&mut sim, "name=cn-east-3"), ["p-x", "p-y"]);
    let (_, got) = admin(&mut sim, "GET", "/_sim/iam", Value::Null, t0);
    assert_eq!(got, v);
    for bad in [
        json!({"projects": [{"id": "p"}]}),
        json!({"projects": [{"id": "", "name": "r"}]}),
        json!({}),
        json!({"projects": [], "region": "x"}),
    ] {
        let (st, v) = admin(&mut sim, "PUT", "/_sim/iam", bad.clone(), t0);
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad} -> {v}");
    }
    let (st, _) = admin(&mut sim, "POST", "/_sim/iam", Value::Null, t0);
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    sim.apply(Op::Reset { instances: None }, t0).unwrap();
    assert_eq!(ask(&mut sim, "name=cn-east-3"), [P]);
}

#[test]
fn the_region_names_the_default_project() {
    let t0 = Instant::now();
    let config = SimConfig::builder()
        .project_id(P)
        .auth(Auth::ak_sk(AK, SK))
        .region("ap-southeast-3")
        .build()
        .unwrap();
    let mut sim = Simulator::new(&config, t0);
    let creds = Credentials::ak_sk(AK, SK).unwrap();
    let d = sim.handle(&lookup("name=ap-southeast-3", &creds, wall()), t0, wall());
    assert_eq!(ids(reply(&d)), [P]);
}

#[test]
fn metadata_generations_sign_lookups_while_live() {
    let (mut sim, t0) = sim_with(Auth::token("good-token"));
    sim.apply(
        Op::SetMetadata(
            Metadata::on().with_rotation(Duration::from_secs(2), Duration::from_secs(6)),
        ),
        t0,
    )
    .unwrap();
    let g = sim.metadata_generation(0);
    let creds = Credentials::temporary(
        g.access_key.clone(),
        g.secret_key.expose(),
        g.security_token.expose(),
    )
    .unwrap();
    let req = lookup("name=cn-east-3", &creds, wall());
    assert_eq!(ids(reply(&sim.handle(&req, t0 + ms(5999), wall()))), [P]);
    let msg = iam_401(reply(&sim.handle(&req, t0 + ms(6000), wall())));
    assert!(msg.contains("expired"), "{msg}");
    // The configured token is accepted by IAM as well.
    let with_token = Request::get("/v3/projects?name=cn-east-3")
        .header("X-Auth-Token", "good-token")
        .body(Vec::new())
        .unwrap();
    assert_eq!(ids(reply(&sim.handle(&with_token, t0, wall()))), [P]);
}
