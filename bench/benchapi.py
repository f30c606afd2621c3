"""What the bench scripts share: JSON calls to a fanz server on loopback, a verified creator
(sign-up, creator profile, agreement, sandbox identity check) and a process's memory from
/proc. The scripts run python from the repository root with PYTHONPATH=bench."""

import json
import urllib.request


class Api:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def call(self, method, path, body=None, token=None, raw=False, headers=None):
        req = urllib.request.Request(
            self.base + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"content-type": "application/json", **(headers or {}),
                     **({"authorization": f"Bearer {token}"} if token else {})})
        with urllib.request.urlopen(req) as r:
            data = r.read()
            return data if raw else (json.loads(data) if data else None)

    def account(self, handle):
        """Sign up `handle` and sign in; the session token."""
        email, pw = f"{handle}@example.com", "bench password 1"
        self.call("POST", "/api/v1/auth/signup", {"email": email, "handle": handle, "password": pw})
        return self.call("POST", "/api/v1/auth/login", {"email": email, "password": pw})["token"]

    def creator(self, handle):
        """A creator who may upload (the server runs with sandbox verification); the token."""
        tok = self.account(handle)
        self.call("POST", "/api/v1/me/creator", {"clusters": ["boyfanz"]}, tok)
        ver = self.call("GET", "/api/v1/agreement")["version"]
        self.call("POST", "/api/v1/me/agreement", {"version": ver, "typed_name": "Bench Example"}, tok)
        sid = self.call("POST", "/api/v1/me/verification", {}, tok)["id"]
        self.call("POST", f"/api/v1/verification/sandbox/{sid}",
                  {"legal_name": "Bench Example", "date_of_birth": "1990-01-01",
                   "id_expires_on": "2035-01-01"}, tok)
        return tok

    def wait_processed(self, media_id, token, every=0.1):
        """Poll an item until it is no longer processing; the item."""
        import time
        while True:
            item = self.call("GET", f"/api/v1/media/{media_id}", token=token)
            if item["state"] != "processing":
                return item
            time.sleep(every)


def mib(pid, field):
    """A /proc/PID/status memory field (VmRSS, VmHWM) in MiB."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
