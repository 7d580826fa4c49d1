"""The end-to-end stack: a throwaway PostgreSQL cluster with Supabase's roles, PostgREST 12.0.2
configured as Supabase configures it, and nginx in front serving the `/rest/v1` prefix (as Supabase's
gateway does). Every server listens on a free loopback port and is stopped by its fixture.
"""
import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import requests
from pgharness import free_port, wait_until

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
POSTGREST_BIN = os.environ.get("POSTGREST_BIN", os.path.join(REPO, ".tools", "postgrest", "package", "postgrest"))
NGINX_BIN = os.environ.get("NGINX_BIN", shutil.which("nginx") or "/usr/sbin/nginx")
JWT_SECRET = "mcp-jobs-e2e-secret-0123456789-abcdefghijklmnop"  # >= 32 characters, HS256

# Supabase's API roles (supabase/postgres migrations): the anonymous and signed-in roles have no
# privileges of their own here; service_role bypasses RLS; PostgREST logs in as authenticator.
SUPABASE_ROLES_SQL = """
CREATE ROLE anon NOLOGIN NOINHERIT;
CREATE ROLE authenticated NOLOGIN NOINHERIT;
CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
CREATE ROLE authenticator LOGIN NOINHERIT;
GRANT anon, authenticated, service_role TO authenticator;
"""

# Supabase also grants everything new in schema public to the API roles by default; the extension
# must take that back for its own functions.
SUPABASE_DEFAULT_PRIVILEGES_SQL = """
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
"""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_jwt(role, secret=JWT_SECRET, ttl=3600, **claims):
    """An HS256 JWT as Supabase issues its API keys: {"role": ..., "exp": ...}."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = {"iss": "supabase", "role": role, "iat": int(time.time()), "exp": int(time.time()) + ttl}
    body.update(claims)
    payload = _b64url(json.dumps(body, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    sig = _b64url(hmac.new(secret.encode(), signing_input, hashlib.sha256).digest())
    return f"{header}.{payload}.{sig}"


def _http_status(url, timeout=2.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


class _Process:
    """A child server process with its log in a temp dir; stop() is bounded in time."""

    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix=f"mcp_jobs_{name}_")
        self.log_path = os.path.join(self.dir, f"{name}.log")
        self.proc = None

    def _spawn(self, argv):
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - open while the process runs; closed in stop()
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if getattr(self, "_log", None):
            self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgREST(_Process):
    """PostgREST 12.0.2 configured like Supabase: db-schemas with public first, anon as the anonymous
    role, HS256 JWTs with a role claim. mcp_jobs is exposed second for the Content-Profile alternative."""

    def __init__(self, pg_port, dbname, schemas="public, mcp_jobs"):
        super().__init__("postgrest")
        if not os.access(POSTGREST_BIN, os.X_OK):
            raise RuntimeError(f"PostgREST not found at {POSTGREST_BIN}: run scripts/setup.sh")
        self.port = free_port()
        self.admin_port = free_port()
        self.conf = os.path.join(self.dir, "postgrest.conf")
        with open(self.conf, "w") as f:
            f.write(f'db-uri = "postgres://authenticator@127.0.0.1:{pg_port}/{dbname}"\n')
            f.write(f'db-schemas = "{schemas}"\n')
            f.write('db-anon-role = "anon"\n')
            f.write(f'jwt-secret = "{JWT_SECRET}"\n')
            f.write('db-pool = 10\n')
            f.write('db-channel-enabled = true\n')
            f.write('server-host = "127.0.0.1"\n')
            f.write(f'server-port = {self.port}\n')
            f.write('admin-server-host = "127.0.0.1"\n')
            f.write(f'admin-server-port = {self.admin_port}\n')
            f.write('log-level = "error"\n')

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=60):
        self._spawn([POSTGREST_BIN, self.conf])

        def ready():
            if not self.alive():
                raise RuntimeError("postgrest exited:\n" + self.log_text())
            return _http_status(f"http://127.0.0.1:{self.admin_port}/ready") == 200

        try:
            wait_until(ready, timeout=timeout, interval=0.1, what="PostgREST /ready")
        except Exception:  # noqa: BLE001 - whatever failed: stop the process and report its log
            log = self.log_text()
            self.stop()
            raise RuntimeError("PostgREST did not get ready:\n" + log)
        return self


class Nginx(_Process):
    """nginx in front of PostgREST: /rest/v1/ is stripped, as Supabase's gateway does."""

    def __init__(self, upstream_port):
        super().__init__("nginx")
        if not os.access(NGINX_BIN, os.X_OK):
            raise RuntimeError(f"nginx not found at {NGINX_BIN}: run scripts/setup.sh")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "nginx.conf")
        d = self.dir
        user = "user root;\n" if os.geteuid() == 0 else ""
        with open(self.conf, "w") as f:
            f.write(f"""{user}daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_max_body_size 10m;
    server {{
        listen 127.0.0.1:{self.port};
        location /rest/v1/ {{
            proxy_pass http://127.0.0.1:{upstream_port}/;
            proxy_set_header Host $host;
            proxy_buffering off;
        }}
    }}
}}
""")

    @property
    def url(self):
        """What clients use as SUPABASE_URL (they append /rest/v1/...)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=30):
        self._spawn([NGINX_BIN, "-p", self.dir, "-e", os.path.join(self.dir, "error.log"), "-c", self.conf])

        def ready():
            if not self.alive():
                raise RuntimeError("nginx exited:\n" + self.log_text() + self._error_log())
            # PostgREST answers its root (the OpenAPI document) through the proxy
            return _http_status(f"{self.url}/rest/v1/") in (200, 401, 403)

        try:
            wait_until(ready, timeout=timeout, interval=0.1, what="nginx proxy")
        except Exception:  # noqa: BLE001 - whatever failed: stop the process and report its log
            log = self.log_text() + self._error_log()
            self.stop()
            raise RuntimeError("nginx did not get ready:\n" + log)
        return self

    def _error_log(self):
        try:
            with open(os.path.join(self.dir, "error.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class Stack:
    """PostgREST + nginx over one database of a cluster; use as a context manager."""

    def __init__(self, cluster, dbname, schemas="public, mcp_jobs"):
        self.cluster = cluster
        self.dbname = dbname
        self.schemas = schemas
        self.postgrest = None
        self.nginx = None

    def __enter__(self):
        try:
            self.postgrest = PostgREST(self.cluster.port, self.dbname, self.schemas).start()
            self.nginx = Nginx(self.postgrest.port).start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.nginx is not None:
            self.nginx.stop()
        if self.postgrest is not None:
            self.postgrest.stop()

    @property
    def url(self):
        return self.nginx.url

    @property
    def rest(self):
        return self.nginx.url + "/rest/v1"


class Api:
    """Calls through nginx (/rest/v1) as one role (None: no Authorization header, i.e. anon)."""

    def __init__(self, rest, role="service_role"):
        self.rest = rest
        self.token = mint_jwt(role) if role else None

    def headers(self, extra=None):
        h = {"Content-Type": "application/json"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
            h["apikey"] = self.token
        h.update(extra or {})
        return h

    def rpc(self, name, body=None, headers=None, data=None):
        return requests.post(f"{self.rest}/rpc/{name}", json=body if data is None else None, data=data,
                             headers=self.headers(headers), timeout=30)

    def get(self, path, params=None, headers=None):
        return requests.get(f"{self.rest}/{path}", params=params, headers=self.headers(headers), timeout=30)

    def ok(self, name, body=None, headers=None):
        r = self.rpc(name, body, headers)
        assert r.status_code in (200, 204), f"{name}: {r.status_code} {r.text}"
        return r.json() if r.content else None


