"""IceProd's REST client (rest_tools.client.RestClient.request_seq), as it builds requests.

rest_tools is not packaged for Debian, so this mirrors what its request_seq does with
requests: a session whose headers are replaced by {'Content-Type': 'application/json'}
(so no Accept header at all), the token as `Authorization: Bearer`, GET arguments as the
query string and any other method's arguments as a JSON body (`{}` when none), and the
answer decoded with json.loads of the whole content (raise_for_status first).

usage: rest_tools_replay.py <base url> <user token> <dataset>
prints one JSON object: what each call returned.
"""
import json
import os
import sys

import requests


class RestClient:
    def __init__(self, address, token):
        self.address = address
        self.token = token

    def request_seq(self, method, path, args=None):
        session = requests.Session()
        session.headers = {"Content-Type": "application/json"}
        args = args or {}
        url = os.path.join(self.address, path.lstrip("/"))
        kwargs = {"timeout": 60.0, "headers": {"Authorization": "Bearer " + self.token}}
        if method in ("GET", "HEAD"):
            kwargs["params"] = args
        else:
            kwargs["json"] = args
        r = session.request(method, url, **kwargs)
        r.raise_for_status()
        return json.loads(r.content) if r.content else None


base, token, dataset = sys.argv[1:4]
rc = RestClient(base, token)
out = {"posted": []}
for name in ("stdout", "stderr"):
    out["posted"].append(rc.request_seq("POST", f"/datasets/{dataset}/logs", {"name": name, "data": f"{name} \x1b[31mtext\x1b[0m\n", "task_id": "t1"}))
out["logs"] = rc.request_seq("GET", f"/datasets/{dataset}/tasks/t1/logs", {"group": "true", "order": "desc", "keys": "name|data"})
out["deleted"] = rc.request_seq("DELETE", f"/datasets/{dataset}/logs")
try:
    rc.request_seq("GET", f"/datasets/{dataset}/tasks/t1/logs")
    out["after"] = "still there"
except requests.HTTPError as e:
    out["after"] = e.response.status_code
print(json.dumps(out))
