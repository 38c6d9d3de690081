"""A freshly started app lets through the callbacks that reach it all at once.

After a restart, a wall screen's timers fire together, so the new process's first requests
are several callbacks at the same moment. Dash registers its callbacks on the first
request. Any callback that arrived before that finished used to be refused as
unregistered (HTTP 403).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A fresh process: eight signed-in clients post the same callback at once, as the first
# requests the app ever serves. The gate needs no database here: the sessions were checked
# just now, so none is re-read.
_SCRIPT = r"""
import json, threading, time
import dash._callback as registry
import app

key = next(k for k, v in registry.GLOBAL_CALLBACK_MAP.items()
           if getattr(v.get("callback"), "gridatlas_action", None))
clients = []
for _ in range(8):
    client = app.server.test_client()
    with client.session_transaction() as s:
        now = time.time()
        s["principal"] = {"username": "first", "role": "admin", "scope_code": None,
                          "display_name": "first"}
        s["sid"] = "first-requests"  # its check fails (no database): read-only, still let through
        s["login_at"] = s["seen_at"] = now
    clients.append(client)
start = threading.Barrier(len(clients))
answers = []

def post(client):
    start.wait()
    resp = client.post("/_dash-update-component",
                       json={"output": key, "outputs": [], "inputs": [], "changedPropIds": []})
    answers.append([resp.status_code, resp.get_data(as_text=True)[:200]])

threads = [threading.Thread(target=post, args=(c,)) for c in clients]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(answers))
"""


def test_simultaneous_first_callbacks_pass_the_gate():
    env = dict(os.environ, PYTHONPATH=str(ROOT),
               DATABASE_URL="postgresql://nobody@127.0.0.1:9/none")
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    answers = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(answers) == 8
    refused = [a for a in answers if a[0] in (401, 403)]
    # The posted body is not a full callback request, so Dash answers 500 past the gate.
    assert refused == [], refused
