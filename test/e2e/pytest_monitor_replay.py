"""Replays pytest-monitor 1.7's remote-server calls (pytest_monitor/session.py) with
`requests`, the plugin's own HTTP client, against REMOTE (e.g. http://ci:TOKEN@host/api/v1).
Usage: REMOTE RUN_NO [BRANCH SLEEPS]. With BRANCH and SLEEPS (JSON {item: extra seconds}),
the run uses its own runner on that pipeline branch and each test really sleeps 0.2 s
(plus its extra), its times measured as the plugin measures them.
Each step checks the plugin's own success condition; the plugin would print
"...Deactivating..." and stop sending at the first failure, so we exit 1 there.
Prints one JSON line per step for the caller to assert on."""
import datetime
import hashlib
import json
import sys
import time
from http import HTTPStatus

import requests

remote, run_no = sys.argv[1], sys.argv[2]
branch = sys.argv[3] if len(sys.argv) > 3 else "main"
sleeps = json.loads(sys.argv[4]) if len(sys.argv) > 4 else None
steps = []


def step(name, r, ok):
    steps.append({"step": name, "status": r.status_code, "ok": ok})
    print(json.dumps(steps[-1]), flush=True)
    if not ok:
        sys.exit(1)


# ExecutionContext().to_dict(): psutil's float frequency, sys.version with its newline.
context = dict(
    cpu_count=8,
    cpu_frequency=2712.003,
    cpu_type="",
    cpu_vendor="Intel(R) Xeon(R) CPU @ 2.20GHz",
    ram_total=15903,
    machine_node="ci-runner-17.example.org" if branch == "main" else f"{branch}-runner.example.org",
    machine_type="x86_64",
    machine_arch="64bit",
    system_info="Linux - 6.1.0-13-amd64",
    python_info="3.11.2 (main, Mar 13 2023, 12:18:29)\n[GCC 12.2.0]",
)
hr = hashlib.md5()
for k in ("cpu_count", "cpu_frequency", "cpu_type", "ram_total", "machine_node", "machine_type", "machine_arch", "system_info", "python_info"):
    hr.update(str(context[k]).encode())
context["h"] = hr.hexdigest()

# get_env_id: only a 200 whose body has contexts[0].h counts as known.
r = requests.get(f"{remote}/contexts/{context['h']}")
remote_id = None
if r.status_code == HTTPStatus.OK:
    body = json.loads(r.text)
    remote_id = body["contexts"][0]["h"] if body["contexts"] else None
steps.append({"step": "context-known", "status": r.status_code, "known": remote_id is not None})
print(json.dumps(steps[-1]), flush=True)

# set_environment_info: unknown → POST /contexts/ needs 201 and a body with h.
if remote_id is None:
    r = requests.post(f"{remote}/contexts/", json=context)
    ok = r.status_code == HTTPStatus.CREATED
    step("context-create", r, ok and json.loads(r.text)["h"] == context["h"])
    remote_id = json.loads(r.text)["h"]

# compute_info: md5 session hash; description = CI keys + --description + --tag k=v.
run_date = datetime.datetime.now().isoformat()
scm = "9f2c1e0b7a6d5c4b3a2910f8e7d6c5b4a3928171"
h = hashlib.md5()
h.update(scm.encode())
h.update(run_date.encode())
h.update(f"run {run_no}".encode())
session_h = h.hexdigest()
description = {"pipeline_branch": branch, "pipeline_build_no": str(1000 + int(run_no)), "__ci__": "gitlabci",
               "description": f"run {run_no}", "python": "3.11"}
r = requests.post(f"{remote}/sessions/", json={"session_h": session_h, "run_date": run_date, "scm_ref": scm,
                                               "description": json.loads(json.dumps(description))})
step("session-create", r, r.status_code == HTTPStatus.CREATED)

# add_test_info after each passing test.
start = datetime.datetime.now().timestamp()
for i, (item, variant) in enumerate([("test_login", "test_login[admin-ro]"), ("test_logout", "test_logout"), ("test_api", "test_api[v1-json]")]):
    total, user, kernel = 0.25 + i, 0.2 + i / 2, 0.01
    if sleeps is not None:
        wall, cpu = time.perf_counter(), time.process_time()
        time.sleep(0.2 + sleeps.get(item, 0))
        total, user = time.perf_counter() - wall, time.process_time() - cpu
    r = requests.post(f"{remote}/metrics/", json={
        "session_h": session_h, "context_h": remote_id,
        "item_start_time": datetime.datetime.fromtimestamp(start + i).isoformat(),
        "item_path": "tests.test_auth", "item": item, "item_variant": variant.replace("-", ", "),
        "item_fs_loc": "tests/test_auth.py", "kind": "function", "component": "",
        "total_time": total, "user_time": user, "kernel_time": kernel,
        "cpu_usage": (user + kernel) / total, "mem_usage": -0.125 if i == 0 else 3.5 * i,
    })
    step(f"metric-{i}", r, r.status_code == HTTPStatus.CREATED)

print(json.dumps({"session_h": session_h, "context_h": remote_id}), flush=True)
