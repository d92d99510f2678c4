//! `clouddc simulate`: the local CloudDC simulator in the foreground, until
//! Ctrl-C or SIGTERM.
//!
//! Owns mapping flags onto the simulator's configuration and the start-up
//! line. Must not contain simulator logic (that is `clouddc-simulator`).

use std::fmt::Write;

use clouddc_simulator::{Auth, EXAMPLE_TOKEN, SimConfig};
use serde_json::json;

use crate::args::{GlobalArgs, OutputFormat, SimulateArgs};
use crate::settings::Env;
use crate::usage::UsageError;
use crate::{exit, stdio};

fn auth(g: &GlobalArgs, a: &SimulateArgs, env: Env<'_>) -> Result<(Auth, Option<String>), String> {
    if a.ak.is_some() && (g.token.is_some() || g.token_file.is_some()) {
        return Err(
            "--token (or --token-file) and --ak/--sk exclude each other: the simulator accepts a token or an AK/SK pair; give one of them"
                .to_owned(),
        );
    }
    if let (Some(ak), Some(sk)) = (&a.ak, &a.sk) {
        return Ok(match &a.security_token {
            Some(st) => (Auth::temporary(ak, sk, st), None),
            None => (Auth::ak_sk(ak, sk), None),
        });
    }
    if let Some(t) = &g.token {
        return Ok((Auth::token(t), None));
    }
    if let Some(path) = &g.token_file {
        let t = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        return Ok((Auth::token(t.trim()), None));
    }
    if let Some(t) = env("CLOUDDC_AUTH_TOKEN").filter(|t| !t.trim().is_empty()) {
        return Ok((Auth::token(t.trim()), None));
    }
    Ok((Auth::any_token(), Some(EXAMPLE_TOKEN.to_owned())))
}

/// The first stdout line with `--output json`.
#[derive(serde::Serialize)]
struct StartLine<'a> {
    url: &'a str,
    project_id: &'a str,
    instances: &'a [serde_json::Value],
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
}

/// Runs the simulator until Ctrl-C / SIGTERM.
pub(crate) fn run(g: &GlobalArgs, a: &SimulateArgs, env: Env<'_>) -> u8 {
    let usage = |m: String| UsageError(m).report();
    let (auth, show_token) = match auth(g, a, env) {
        Ok(x) => x,
        Err(m) => return usage(m),
    };
    let mut b = SimConfig::builder()
        .listen(a.listen)
        .auth(auth)
        .seed(a.seed)
        .instances(a.instances);
    if let Some(p) = &g.project_id {
        b = b.project_id(p.clone());
    }
    if let Some(policy) = a.rate_limit {
        b = b.flow_policy(policy);
    }
    let config = match b.build() {
        Ok(c) => c,
        Err(e) => return usage(e.to_string()),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return usage(format!("cannot start the async runtime: {e}")),
    };
    rt.block_on(async {
        let sim = match clouddc_simulator::start(config).await {
            Ok(s) => s,
            Err(e @ clouddc_simulator::Error::Bind { .. }) => {
                return usage(format!(
                    "{}; pick another --listen address, or port 0 for a free one",
                    clouddc_core::error_chain(&e)
                ));
            }
            Err(e) => return usage(clouddc_core::error_chain(&e)),
        };
        let instances: Vec<_> = sim
            .control()
            .instances()
            .into_iter()
            .map(|i| json!({"id": i.id, "state": i.state.to_string()}))
            .collect();
        let mut out = String::new();
        if g.output == OutputFormat::Json {
            let line = StartLine {
                url: sim.url(),
                project_id: sim.project_id(),
                instances: &instances,
                token: show_token.as_deref(),
            };
            let _ = writeln!(out, "{}", serde_json::to_string(&line).unwrap_or_default());
        } else {
            let _ = writeln!(out, "CloudDC simulator listening on {}", sim.url());
            let _ = writeln!(out, "project id: {}", sim.project_id());
            if let Some(t) = &show_token {
                let _ = writeln!(out, "any token is accepted; e.g. CLOUDDC_AUTH_TOKEN={t}");
            }
            if let Some(p) = &a.rate_limit {
                let _ = writeln!(
                    out,
                    "gateway flow control: {} calls per {} (429 APIGW.0308 beyond it)",
                    p.limit,
                    p.time_text()
                );
            }
            for i in &instances {
                let _ = writeln!(
                    out,
                    "  instance {}  {}",
                    i["id"].as_str().unwrap_or(""),
                    i["state"].as_str().unwrap_or("")
                );
            }
            let _ = writeln!(
                out,
                "try: clouddc status {} --endpoint {} --project-id {}{}",
                instances
                    .first()
                    .and_then(|i| i["id"].as_str())
                    .unwrap_or("ID"),
                sim.url(),
                sim.project_id(),
                if show_token.is_some() {
                    " --token sim-token"
                } else {
                    ""
                }
            );
            let _ = writeln!(
                out,
                "admin API: {}/_sim/instances   (Ctrl-C to stop)",
                sim.url()
            );
        }
        if let Err(stop) = stdio::bytes(out.as_bytes()) {
            return stop.exit_code();
        }
        sim.run_until(shutdown_signal()).await;
        exit::OK
    })
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clouddc_simulator::FlowPolicy;

    use crate::args::parse_gateway_rate;

    #[test]
    fn rate_limit_is_n_calls_per_second_or_minute() {
        let s = Duration::from_secs;
        assert_eq!(parse_gateway_rate("20"), Ok(FlowPolicy::per_api(20, s(1))));
        assert_eq!(
            parse_gateway_rate("20/second"),
            Ok(FlowPolicy::per_api(20, s(1)))
        );
        assert_eq!(
            parse_gateway_rate("200/minute"),
            Ok(FlowPolicy::per_api(200, s(60)))
        );
        assert_eq!(
            parse_gateway_rate("1000000000"),
            Ok(FlowPolicy::per_api(1_000_000_000, s(1)))
        );
        for bad in [
            "0",
            "-1",
            "+5",
            "2.5",
            "",
            " 5",
            "5 ",
            "5/hour",
            "5/seconds",
            "5/Minute",
            "5/",
            "/second",
            "5/second/x",
            "1000000001",
            "99999999999",
            "five",
        ] {
            let e = parse_gateway_rate(bad).unwrap_err();
            assert!(e.contains("second (the default) or minute"), "{bad:?}: {e}");
        }
        assert!(
            parse_gateway_rate("5/hour")
                .unwrap_err()
                .contains("\"hour\"")
        );
    }
}
