"""The exporter-toolkit web configuration file: TLS server settings and basic auth users.

Same YAML as the Go exporters (`--web.config.file`), validated strictly: unknown keys,
missing files and malformed bcrypt hashes are all reported at start-up, together.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from exporter.threads import DaemonThreadPool

CLIENT_AUTH_TYPES = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
_TLS_KEYS = {
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "min_version",
    "max_version",
    "cipher_suites",
    "prefer_server_cipher_suites",
    "curve_preferences",
}
_TOP_KEYS = {"tls_server_config", "http_server_config", "basic_auth_users"}


class WebConfigError(ValueError):
    pass


@dataclass(frozen=True)
class TLSConfig:
    cert_file: str
    key_file: str
    client_auth_type: str = "NoClientCert"
    client_ca_file: str = ""
    min_version: str = "TLS12"
    max_version: str = "TLS13"

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        context.minimum_version = TLS_VERSIONS[self.min_version]
        context.maximum_version = TLS_VERSIONS[self.max_version]
        context.verify_mode = CLIENT_AUTH_TYPES[self.client_auth_type]
        if self.client_ca_file:
            context.load_verify_locations(self.client_ca_file)
        return context


@dataclass(frozen=True)
class WebConfig:
    tls: TLSConfig | None = None
    basic_auth_users: dict[str, bytes] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


BCRYPT_MAX_PASSWORD_BYTES = 72  # bcrypt reads no further; bcrypt >= 5 raises instead of truncating


class PasswordChecker:
    """Basic-auth checks as exporter-toolkit makes them: bcrypt is slow by design, so results
    (good and bad) are remembered, and the bcrypt runs themselves are serialised on one
    thread of their own, so wrong passwords queue behind each other and never behind, or in
    front of, a collection. An unknown user is checked against a dummy hash of the same cost,
    so the answer time does not tell which users exist."""

    def __init__(self, users: dict[str, bytes], remembered: int = 1024) -> None:
        self._users = users
        self._remembered = remembered
        self._results: OrderedDict[bytes, bool] = OrderedDict()
        cost = max((_bcrypt_cost(h) for h in users.values()), default=10)
        self._dummy = bcrypt.hashpw(b"no such user", bcrypt.gensalt(rounds=cost))
        self._executor = DaemonThreadPool(1, "bcrypt")

    def _key(self, user: str, password: str) -> bytes:
        hashed = self._users.get(user, self._dummy)
        return hashlib.sha256(b"\0".join([_raw(user), _raw(password), hashed])).digest()

    def verify(self, user: str, password: str) -> bool:
        """Run bcrypt (blocking, in the bcrypt thread)."""
        hashed = self._users.get(user)
        matches = bcrypt.checkpw(_raw(password)[:BCRYPT_MAX_PASSWORD_BYTES], hashed or self._dummy)
        return hashed is not None and matches

    async def check(self, user: str, password: str) -> bool:
        key = self._key(user, password)
        known = self._results.get(key)
        if known is not None:
            return known
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._executor, self.verify, user, password)
        self._results[key] = result
        self._results.move_to_end(key)
        while len(self._results) > self._remembered:
            self._results.popitem(last=False)
        return result


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _bcrypt_cost(hashed: bytes) -> int:
    try:
        return min(max(int(hashed.split(b"$")[2]), 4), 31)
    except (IndexError, ValueError):
        return 10


def load_web_config(path: str) -> WebConfig:
    """Read and validate a web config file; raise WebConfigError listing every problem."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise WebConfigError(f"cannot read web config {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise WebConfigError(f"web config {path} is not valid YAML: {exc}") from exc
    errors: list[str] = []
    config = parse_web_config(raw or {}, errors, base=Path(path).parent)
    if errors:
        raise WebConfigError(f"invalid web config {path}: " + "; ".join(errors))
    return config


def parse_web_config(raw: Any, errors: list[str], base: Path = Path(".")) -> WebConfig:
    if not isinstance(raw, dict):
        errors.append("top level must be a mapping")
        return WebConfig()
    for key in sorted(set(raw) - _TOP_KEYS):
        errors.append(f"unknown key {key!r}")
    tls = _parse_tls(raw.get("tls_server_config"), errors, base)
    users = _parse_users(raw.get("basic_auth_users"), errors)
    headers = _parse_headers(raw.get("http_server_config"), errors)
    return WebConfig(tls, users, headers)


def _resolve(base: Path, value: str) -> str:
    return str(value if Path(value).is_absolute() else base / value)


def _parse_tls(raw: Any, errors: list[str], base: Path) -> TLSConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        errors.append("tls_server_config must be a mapping")
        return None
    for key in sorted(set(raw) - _TLS_KEYS):
        errors.append(f"unknown key tls_server_config.{key!r}")
    cert, key = raw.get("cert_file", ""), raw.get("key_file", "")
    if not cert or not key:
        errors.append("tls_server_config needs both cert_file and key_file")
        return None
    auth = raw.get("client_auth_type", "NoClientCert")
    if auth not in CLIENT_AUTH_TYPES:
        errors.append(f"client_auth_type {auth!r} is not one of {', '.join(CLIENT_AUTH_TYPES)}")
        return None
    ca = raw.get("client_ca_file", "")
    if auth in ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert") and not ca:
        errors.append(f"client_auth_type {auth} needs client_ca_file")
    versions = [raw.get("min_version", "TLS12"), raw.get("max_version", "TLS13")]
    for version in versions:
        if version not in TLS_VERSIONS:
            errors.append(f"TLS version {version!r} is not one of {', '.join(TLS_VERSIONS)}")
            return None
    paths = [_resolve(base, p) for p in (cert, key)] + ([_resolve(base, ca)] if ca else [])
    for path in paths:
        if not Path(path).is_file():
            errors.append(f"TLS file {path} does not exist")
    config = TLSConfig(paths[0], paths[1], auth, paths[2] if ca else "", *versions)
    if not errors:
        try:
            config.ssl_context()
        except (ssl.SSLError, OSError) as exc:
            errors.append(f"cannot load TLS certificate/key: {exc}")
    return config


def _parse_users(raw: Any, errors: list[str]) -> dict[str, bytes]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors.append("basic_auth_users must be a mapping of user name to bcrypt hash")
        return {}
    users: dict[str, bytes] = {}
    for user, hashed in raw.items():
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            errors.append(f"basic_auth_users.{user}: not a bcrypt hash")
            continue
        try:
            bcrypt.checkpw(b"", hashed.encode())
        except ValueError:
            errors.append(f"basic_auth_users.{user}: malformed bcrypt hash")
            continue
        users[str(user)] = hashed.encode()
    return users


def _parse_headers(raw: Any, errors: list[str]) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or set(raw) - {"headers", "http2"}:
        errors.append("http_server_config may hold only 'headers' and 'http2'")
        return {}
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict):
        errors.append("http_server_config.headers must be a mapping")
        return {}
    return {str(k): str(v) for k, v in headers.items()}


def main(argv: list[str]) -> int:
    """`python -m exporter.webconfig FILE`: check a web config as the exporter would load it
    (Ansible's template `validate`); every problem on stderr, exit 1."""
    if len(argv) != 1:
        print("usage: python -m exporter.webconfig WEB_CONFIG_FILE", file=sys.stderr)
        return 2
    try:
        load_web_config(argv[0])
    except WebConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
