"""A throwaway PostgreSQL cluster for the tests: initdb in a temporary directory, started on a free
loopback port, stopped and removed at the end. Runs the server as the `postgres` OS user when the
tests run as root (PostgreSQL refuses root).

The PostgreSQL installation is the one of $PG_CONFIG (default: Debian's PostgreSQL 15), into which
`cargo pgrx install --pg-config $PG_CONFIG` has installed mcp_jobs.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

PG_CONFIG = os.environ.get("PG_CONFIG", "/usr/lib/postgresql/15/bin/pg_config")

# Every table of the extension, for tests that check what a call changed.
TABLES = ("jobs", "job_runs", "job_events", "dead_letter_queue", "metrics", "queues", "schedules")


def table_fingerprint(conn):
    """Row count and a digest of all rows of every mcp_jobs table: equal before and after a call
    exactly when the call changed nothing."""
    return {t: conn.execute(f"SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "
                            f"FROM mcp_jobs.{t} x").fetchone() for t in TABLES}


def pg_bindir():
    return subprocess.check_output([PG_CONFIG, "--bindir"], text=True).strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd):
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + cmd
    return cmd


def wait_until(predicate, timeout=30.0, interval=0.05, what="condition"):
    """Poll `predicate` until it returns a truthy value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - polled conditions may fail while not yet true
            last_exc = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}" + (f": {last_exc}" if last_exc else ""))


class Cluster:
    def __init__(self, conf=None, name="mcp_jobs_test"):
        self.bindir = pg_bindir()
        self.dir = tempfile.mkdtemp(prefix=name + "_")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "postgres.log")
        self.port = free_port()
        self.conf = conf or {}
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        subprocess.run(
            _as_postgres([os.path.join(self.bindir, "initdb"), "-D", self.data, "-A", "trust", "-U", "postgres",
                          "--no-sync", "-E", "UTF8", "--locale=C"]),
            check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(self.data, "postgresql.auto.conf"), "a") as f:
            f.write(f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n")
            f.write(f"unix_socket_directories = '{self.dir}'\n")
            f.write("fsync = on\nmax_connections = 100\n")
            f.writelines(f"{k} = {v}\n" for k, v in self.conf.items())

    @property
    def host(self):
        return "127.0.0.1"

    def dsn(self, dbname="postgres", user="postgres"):
        return f"host=127.0.0.1 port={self.port} dbname={dbname} user={user}"

    def url(self, dbname="postgres", user="postgres"):
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def start(self):
        subprocess.run(
            _as_postgres([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l", self.log, "-w", "-t", "60",
                          "start"]),
            check=True, stdout=subprocess.DEVNULL)
        return self

    def stop(self, mode="fast"):
        subprocess.run(
            _as_postgres([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop"]),
            check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def postmaster_pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline().strip())

    def destroy(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def psql(self, sql, dbname="postgres", check=True, extra=()):
        """Run SQL through psql; returns (returncode, stdout, stderr)."""
        p = subprocess.run(
            [os.path.join(self.bindir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.dsn(dbname),
             *extra],
            input=sql, text=True, capture_output=True, check=False)
        if check and p.returncode != 0:
            raise RuntimeError(f"psql failed ({p.returncode}):\n{p.stderr}\n--- SQL ---\n{sql}")
        return p.returncode, p.stdout, p.stderr

    def connect(self, dbname="postgres", user="postgres", autocommit=True):
        import psycopg
        return psycopg.connect(self.dsn(dbname, user), autocommit=autocommit)

    def log_text(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""
