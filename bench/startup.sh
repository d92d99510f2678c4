#!/usr/bin/env bash
# Start-up and size of the `clouddc` CLI (BENCHMARKS.md, "Start-up and size").
#
# Builds the default CLI and the blocking-only one (`--no-default-features
# --features ureq`) with the release profile, prints their stripped sizes,
# starts one loopback simulator (AK/SK), and times one `clouddc status ID` as a
# whole process for each build, alternating the order every round; when the
# vendor's Python SDK is installed (`pip install huaweicloudsdkclouddc`), the
# same call with `CloudDCClient.show_instance_status` as a whole `python3`
# process too. Prints medians, spreads and per-round ratios as Markdown.
#
#   bench/startup.sh [ROUNDS]      # default 31 rounds
#   SKIP_BUILD=1 bench/startup.sh  # reuse the binaries of the last run
#   STARTUP_TARGET_DIR=DIR         # where the two builds go (default $TMPDIR/clouddc-startup)
#   CLEAN_BUILD=1                  # time both builds from empty target directories
#
# Needs python3 (the timer). Not run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-31}
base=${STARTUP_TARGET_DIR:-${TMPDIR:-/tmp}/clouddc-startup}
default_bin=$base/default/release/clouddc
blocking_bin=$base/blocking/release/clouddc

build() { # name, cargo args...
    local name=$1 dir=$base/$1 start end
    shift
    [ -n "${CLEAN_BUILD:-}" ] && rm -rf "$dir"
    start=$(date +%s.%N)
    CARGO_TARGET_DIR=$dir cargo build --release --locked --quiet -p clouddc-cli "$@"
    end=$(date +%s.%N)
    echo "build $name: $(python3 -c "print(f'{$end - $start:.1f}')") s${CLEAN_BUILD:+ (clean)}"
}
if [ -z "${SKIP_BUILD:-}" ]; then
    build default
    build blocking --no-default-features --features ureq
fi

tmp=$(mktemp -d)
sim_pid=
cleanup() {
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

for b in default blocking; do
    bin=$base/$b/release/clouddc
    strip -o "$tmp/$b" "$bin" 2>/dev/null || cp "$bin" "$tmp/$b"
    echo "size $b: $(stat -c %s "$bin") bytes as built, $(stat -c %s "$tmp/$b") bytes stripped"
done

# Credentials from the environment; never the metadata server or a profile file.
export HUAWEICLOUD_SDK_AK=HPUAEXAMPLEAK000001 HUAWEICLOUD_SDK_SK=exampleSecretKey
export CLOUDDC_METADATA_ENDPOINT=off HUAWEICLOUD_SDK_CREDENTIALS_FILE=/dev/null
"$default_bin" simulate --listen 127.0.0.1:0 --output json --instances 1 \
    --ak "$HUAWEICLOUD_SDK_AK" --sk "$HUAWEICLOUD_SDK_SK" >"$tmp/sim.out" 2>"$tmp/sim.err" &
sim_pid=$!
for _ in $(seq 100); do [ -s "$tmp/sim.out" ] && break; sleep 0.05; done
[ -s "$tmp/sim.out" ] || { cat "$tmp/sim.err" >&2; exit 1; }

python3 - "$rounds" "$default_bin" "$blocking_bin" "$tmp/sim.out" <<'EOF'
import importlib.util, json, os, statistics, subprocess, sys, time

rounds, default_bin, blocking_bin, sim_out = int(sys.argv[1]), *sys.argv[2:5]
with open(sim_out) as f:
    sim = json.loads(f.readline())
url, project, iid = sim["url"], sim["project_id"], sim["instances"][0]["id"]

PY_ONE = """
import os, sys
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkclouddc.v1 import CloudDCClient, ShowInstanceStatusRequest
url, project, iid = sys.argv[1:4]
cred = BasicCredentials(os.environ["HUAWEICLOUD_SDK_AK"], os.environ["HUAWEICLOUD_SDK_SK"], project)
client = CloudDCClient.new_builder().with_credentials(cred).with_endpoints([url]).build()
print(client.show_instance_status(ShowInstanceStatusRequest(id=iid)).state)
"""
cli = ["status", iid, "--endpoint", url, "--project-id", project, "--output", "json"]
runs = {
    "default build (reqwest)": [default_bin, *cli],
    "blocking-only build (ureq)": [blocking_bin, *cli],
}
if importlib.util.find_spec("huaweicloudsdkclouddc"):
    runs["vendor Python SDK"] = [sys.executable, "-c", PY_ONE, url, project, iid]
else:
    print("vendor Python SDK: not installed (pip install huaweicloudsdkclouddc); skipped")

def once(argv):
    t = time.perf_counter_ns()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ms = (time.perf_counter_ns() - t) / 1e6
    if p.returncode != 0 or not p.stdout.strip():
        sys.exit(f"{argv[0]} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
    return ms

names = list(runs)
for n in names:  # warm-up: page cache, simulator
    once(runs[n])
times = {n: [] for n in names}
for r in range(rounds):
    order = names[r % len(names):] + names[:r % len(names)]
    for n in order:
        times[n].append(once(runs[n]))

def fmt(xs):
    return f"{statistics.median(xs):.2f} ms | {min(xs):.2f} – {max(xs):.2f} ms"

print(f"\n{rounds} rounds, order rotated every round; one process per call, "
      f"{url}, AK/SK signing\n")
print("| one `status` call as a whole process | median | spread (min – max) |")
print("|---|---|---|")
for n in names:
    print(f"| {n} | {fmt(times[n])} |")
d, b = times[names[0]], times[names[1]]
ratio = [x / y for x, y in zip(d, b)]
print(f"| default / blocking, per round | {statistics.median(ratio):.2f}× | "
      f"{min(ratio):.2f}× – {max(ratio):.2f}× |")
if len(names) == 3:
    p = times[names[2]]
    for n, xs in ((names[0], d), (names[1], b)):
        rr = [x / y for x, y in zip(p, xs)]
        print(f"| Python SDK / {n}, per round | {statistics.median(rr):.0f}× | "
              f"{min(rr):.0f}× – {max(rr):.0f}× |")
EOF
