"""A PostgreSQL server of the stack's own: a fresh cluster from Debian's binaries, one login
role per database (owner of that database only, no superuser, no CREATEDB, no CREATEROLE), and
password (SCRAM) authentication on TCP. The bootstrap superuser is reachable only on the
cluster's own Unix socket, in a folder no other user may enter.

PostgreSQL refuses to run as root; as root, the cluster is made and run as the `postgres`
user (Debian's), in a folder of its own under /tmp.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def bindir() -> Path:
    """The folder of initdb and pg_ctl: $RETRAIN_PG_BIN, Debian's newest, or the PATH's."""
    if os.environ.get("RETRAIN_PG_BIN"):
        return Path(os.environ["RETRAIN_PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if not initdb:
        raise FileNotFoundError(
            "PostgreSQL's server binaries (initdb, pg_ctl) are not installed; on Debian: "
            "apt-get install postgresql (make test-tools does it), or set RETRAIN_PG_BIN"
        )
    return Path(initdb).resolve().parent


def _version(path: str) -> int:
    try:
        return int(Path(path).parts[-3])
    except ValueError:
        return 0


class Postgres:
    """One cluster, its data under `root` (or under /tmp when run as root), listening on
    127.0.0.1:`port`. `start`, `stop`, `restart`, `create_database`."""

    def __init__(self, root: Path, port: int):
        self.root, self.port = Path(root), port
        self.root.mkdir(parents=True, exist_ok=True)
        self.as_postgres = os.geteuid() == 0
        pointer = self.root / "postgres.path"
        if self.as_postgres:
            if not pointer.exists():
                pointer.write_text(tempfile.mkdtemp(prefix="retrain-pg-"))
            self.home = Path(pointer.read_text().strip())
            user = pwd.getpwnam("postgres")
            os.chown(self.home, user.pw_uid, user.pw_gid)
        else:
            self.home = self.root / "postgres"
            self.home.mkdir(exist_ok=True)
        os.chmod(self.home, 0o700)
        self.data, self.socket_dir, self.log = (
            self.home / "data",
            self.home / "socket",
            self.home / "server.log",
        )

    def _run(self, *argv: str, check=True, timeout=120) -> subprocess.CompletedProcess:
        cmd = list(argv)
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and out.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed:\n{out.stdout}{out.stderr}")
        return out

    def init(self) -> None:
        """A new cluster (once): the superuser `postgres`, trusted on the Unix socket only."""
        if (self.data / "PG_VERSION").exists():
            return
        self._run(
            str(bindir() / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
        )
        self._run("mkdir", "-m", "0700", "-p", str(self.socket_dir))

    @property
    def running(self) -> bool:
        out = self._run(str(bindir() / "pg_ctl"), "-D", str(self.data), "status", check=False)
        return out.returncode == 0

    def start(self) -> None:
        self.init()
        if self.running:
            return
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.socket_dir} "
            "-c max_connections=300 -c fsync=off -c full_page_writes=off"
        )
        self._run(
            str(bindir() / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            opts,
            "-w",
            "-t",
            "120",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        if self.running:
            self._run(str(bindir() / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, down_s: float = 0.0) -> None:
        """Stops the server (every connection is cut), waits `down_s`, and starts it again."""
        self.stop()
        time.sleep(down_s)
        self.start()

    def execute(self, statement, params=None, db: str = "postgres") -> list[tuple]:
        """One statement as the superuser over the cluster's own socket, outside a transaction
        (CREATE DATABASE needs that); its rows. Names go in as `psycopg2.sql.Identifier`,
        values as `Literal` or `params`: never into the text."""
        import psycopg2

        conn = psycopg2.connect(
            host=str(self.socket_dir), port=self.port, user="postgres", dbname=db
        )
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def create_database(self, name: str, role: str, password: str) -> None:
        """Database `name` owned by the login role `role` (made if missing), which may do
        nothing else on the server; other roles may not connect to it."""
        from psycopg2.sql import SQL, Identifier, Literal

        db, who = Identifier(name), Identifier(role)
        exists = self.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        self.execute(
            SQL(
                "{} ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION"
            ).format(SQL("ALTER" if exists else "CREATE"), who, Literal(password))
        )
        if not self.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)):
            self.execute(SQL("CREATE DATABASE {} OWNER {}").format(db, who))
        self.execute(SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
        self.execute(SQL("GRANT ALL ON SCHEMA public TO {}").format(who), db=name)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.home, ignore_errors=True)
        (self.root / "postgres.path").unlink(missing_ok=True)
