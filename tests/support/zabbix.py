"""A real Zabbix 6.0 stack for the tests, without systemd: a PostgreSQL cluster of its own in
the scratch directory (never the host's), the Debian schema loaded into it, `zabbix_server`,
and the PHP frontend behind php-fpm and nginx on loopback for the API. Every daemon is
stopped by its pid.

The Debian frontend reads its database settings from one compiled-in path,
`/etc/zabbix/zabbix.conf.php`: the stack writes it, and afterwards puts back what was there
before (or removes it).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from support.processes import stop_all
from support.scrape import free_port
from support.waiting import until

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SCHEMA = Path("/usr/share/zabbix-server-pgsql")
FRONTEND = Path("/usr/share/zabbix")
FRONTEND_CONF = Path("/etc/zabbix/zabbix.conf.php")
PHP_FPM = str(max(Path("/usr/sbin").glob("php-fpm*"), default="php-fpm"))  # Debian: php-fpm8.2
PASSWORD = "zabbix"  # the database user's and, as Debian's data ships it, Admin's


class ApiError(Exception):
    pass


class Api:
    """Zabbix's JSON-RPC API (`/api_jsonrpc.php`), logged in as Admin."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.token: str | None = None
        self.calls = 0

    def call(self, method: str, params: Any = None) -> Any:
        self.calls += 1
        request = {"jsonrpc": "2.0", "method": method, "params": params or {}, "id": self.calls}
        if self.token is not None and method not in ("apiinfo.version", "user.login"):
            request["auth"] = self.token
        http = urllib.request.Request(self.url, json.dumps(request).encode(),
                                      {"Content-Type": "application/json-rpc"})
        with urllib.request.urlopen(http, timeout=120) as response:
            answer = json.loads(response.read())
        if "error" in answer:
            error = answer["error"]
            raise ApiError(f"{method}: {error.get('message')} {error.get('data')}")
        return answer["result"]

    def login(self) -> None:
        self.token = self.call("user.login", {"username": "Admin", "password": PASSWORD})


class Zabbix:
    def __init__(self, scratch: Path) -> None:
        self.dir = scratch
        # zabbix_server takes a ListenPort of 1024-32767 only.
        self.pg_port, self.server_port, self.web_port = free_port(), low_free_port(), free_port()
        self.processes: list[subprocess.Popen[bytes]] = []
        self.pg_started = False
        self.frontend_conf_before = FRONTEND_CONF.read_bytes() if FRONTEND_CONF.exists() else None
        self.api = Api(f"http://127.0.0.1:{self.web_port}/api_jsonrpc.php")

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        self.start_database()
        self.start_server()
        self.start_frontend()
        until("the Zabbix API", self.api_answers, 60)
        self.api.login()

    def psql(self, *argv: str, database: str = "postgres", user: str = "postgres",
             stdin: bytes | None = None) -> None:
        done = subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.dir / "pg-run"),
                               "-p", str(self.pg_port), "-U", user, "-d", database, *argv],
                              input=stdin, capture_output=True)
        if done.returncode:
            raise AssertionError(f"psql failed: {done.stderr.decode(errors='replace')[-2000:]}")

    def start_database(self) -> None:
        data, socket_dir = self.dir / "pg", self.dir / "pg-run"
        for directory in (data, socket_dir):
            directory.mkdir()
            shutil.chown(directory, "postgres", "postgres")
        as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                    "-E", "UTF8", "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.pg_port} -k {socket_dir}"
                   " -c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(socket_dir / "postgres.log"),
                    "-o", options, "start")
        self.pg_started = True
        self.psql("-c", f"CREATE USER zabbix PASSWORD '{PASSWORD}'", "-c",
                  "CREATE DATABASE zabbix OWNER zabbix")
        for part in ("schema", "images", "data"):
            sql = gzip.decompress((SCHEMA / f"{part}.sql.gz").read_bytes())
            self.psql(database="zabbix", user="zabbix", stdin=sql)

    def start_server(self) -> None:
        run_dir = self.dir / "server"
        run_dir.mkdir()
        shutil.chown(run_dir, "zabbix", "zabbix")
        conf = self.dir / "zabbix_server.conf"
        conf.write_text("\n".join([
            "ListenIP=127.0.0.1", f"ListenPort={self.server_port}",
            f"LogFile={run_dir}/server.log", "LogFileSize=0", f"PidFile={run_dir}/server.pid",
            f"SocketDir={run_dir}", f"DBHost={self.dir / 'pg-run'}", f"DBPort={self.pg_port}",
            "DBName=zabbix", "DBUser=zabbix", f"DBPassword={PASSWORD}",
            # Configuration changes (new discovered items) reach the pollers in seconds.
            "CacheUpdateFrequency=2", "HousekeepingFrequency=0", "Timeout=4",
            "StartDiscoverers=0", "StartPingers=0", "StartVMwareCollectors=0",
            "StartPollersUnreachable=1", "StartTrappers=2", "StartAlerters=1", "",
        ]))
        self.processes.append(subprocess.Popen(["zabbix_server", "-f", "-c", str(conf)],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def start_frontend(self) -> None:
        fpm_socket = self.dir / "php-fpm.sock"
        fpm_conf = self.dir / "php-fpm.conf"
        fpm_conf.write_text("\n".join([
            "[global]", f"pid = {self.dir}/php-fpm.pid", f"error_log = {self.dir}/php-fpm.log",
            "daemonize = no", "[zabbix]", "user = www-data", "group = www-data",
            f"listen = {fpm_socket}", "listen.owner = www-data", "listen.group = www-data",
            "pm = static", "pm.max_children = 3", "php_value[memory_limit] = 512M",
            "php_value[post_max_size] = 16M", "php_value[max_execution_time] = 300",
            "php_value[max_input_time] = 300", "php_value[date.timezone] = UTC", "",
        ]))
        temp = self.dir / "nginx-temp"
        temp.mkdir()
        shutil.chown(temp, "www-data", "www-data")
        nginx_conf = self.dir / "nginx.conf"
        nginx_conf.write_text(f"""daemon off;
user www-data;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/nginx-error.log;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {temp}/body;
    fastcgi_temp_path {temp}/fastcgi;
    proxy_temp_path {temp}/proxy;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    client_max_body_size 16m;
    server {{
        listen 127.0.0.1:{self.web_port};
        root {FRONTEND};
        index index.php;
        location ~ \\.php$ {{
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            fastcgi_read_timeout 300;
            fastcgi_pass unix:{fpm_socket};
        }}
    }}
}}
""")
        FRONTEND_CONF.write_text(f"""<?php
$DB['TYPE'] = 'POSTGRESQL';
$DB['SERVER'] = '127.0.0.1';
$DB['PORT'] = '{self.pg_port}';
$DB['DATABASE'] = 'zabbix';
$DB['USER'] = 'zabbix';
$DB['PASSWORD'] = '{PASSWORD}';
$DB['SCHEMA'] = '';
$DB['ENCRYPTION'] = false;
$DB['KEY_FILE'] = '';
$DB['CERT_FILE'] = '';
$DB['CA_FILE'] = '';
$DB['VERIFY_HOST'] = false;
$DB['CIPHER_LIST'] = '';
$DB['VAULT_URL'] = '';
$DB['VAULT_DB_PATH'] = '';
$DB['VAULT_TOKEN'] = '';
$DB['DOUBLE_IEEE754'] = true;
$ZBX_SERVER = '127.0.0.1';
$ZBX_SERVER_PORT = '{self.server_port}';
$ZBX_SERVER_NAME = 'kvm-exporter tests';
$IMAGE_FORMAT_DEFAULT = IMAGE_FORMAT_PNG;
""")
        FRONTEND_CONF.chmod(0o644)
        for argv in ([PHP_FPM, "--nodaemonize", "-y", str(fpm_conf)], ["nginx", "-c", str(nginx_conf)]):
            self.processes.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.DEVNULL))

    def import_template(self, source: str) -> None:
        """configuration.import of a YAML export, creating and updating everything in it."""
        rule = {"createMissing": True, "updateExisting": True, "deleteMissing": True}
        self.api.call("configuration.import", {"format": "yaml", "source": source, "rules": {
            "groups": {"createMissing": True}, "templates": {"createMissing": True, "updateExisting": True},
            "items": rule, "discoveryRules": rule, "triggers": rule, "graphs": rule, "valueMaps": rule}})
        # A fresh database has no planner statistics: without them, linking the template to a
        # host runs a dependency query for minutes.
        self.psql("-c", "ANALYZE", database="zabbix")

    def api_answers(self) -> bool:
        for process in self.processes:
            if process.poll() is not None:
                raise AssertionError(f"{process.args[0]} exited with {process.returncode}: "
                                     f"see {self.dir}")
        try:
            return bool(self.api.call("apiinfo.version"))
        except (OSError, ApiError, ValueError):
            return False

    def stop(self) -> None:
        stop_all(self.processes, 30)
        if self.pg_started:
            as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "pg"), "-w", "-m", "immediate", "stop")
        if self.frontend_conf_before is None:
            with contextlib.suppress(FileNotFoundError):
                FRONTEND_CONF.unlink()
        else:
            FRONTEND_CONF.write_bytes(self.frontend_conf_before)


def low_free_port() -> int:
    for _ in range(100):
        port = random.randint(20000, 32767)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in 20000-32767")


def as_postgres(*argv: str) -> None:
    done = subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True,
                          cwd="/", env={**os.environ, "LC_ALL": "C.UTF-8"})
    if done.returncode:
        raise AssertionError(f"{argv[0]} failed: {done.stderr or done.stdout}")


@contextmanager
def zabbix_stack() -> Iterator[Zabbix]:
    """The stack in a scratch directory of its own under /tmp (postgres, zabbix and www-data
    must reach it, which pytest's private temporary directories do not let them)."""
    scratch = Path(tempfile.mkdtemp(prefix="kvm-exporter-zabbix-"))
    stack = Zabbix(scratch)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(scratch, ignore_errors=True)
