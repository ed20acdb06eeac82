"""The key that signs badge credentials: an RSA private key (RS256, the one algorithm every Open Badges 3.0
verifier must support), read from REWARDS_CREDENTIALS_KEY_FILE or, with the embedded SQLite database, made on
first use and kept beside the database file, so credentials signed before a restart still verify after it."""

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from sqlalchemy.engine import make_url

from rewards.config import Settings
from rewards.errors import RewardsError

ALGORITHM = "RS256"
GENERATED_KEY_BITS = 3072
MAKE_ONE = "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out credentials-key.pem"


class KeyUnavailable(RewardsError):
    status_code = 503


@dataclass(frozen=True)
class SigningKey:
    key: RSAKey
    thumbprint: str  # RFC 7638: names the key in `kid` and in the JWKS

    def public_jwk(self, kid: str) -> dict[str, Any]:
        return {**self.key.as_dict(private=False), "kid": kid, "use": "sig", "alg": ALGORITHM}


_loaded: dict[Path, SigningKey] = {}


def key_path(settings: Settings) -> Path:
    if settings.credentials_key_file is not None:
        return settings.credentials_key_file
    if settings.is_sqlite:
        database = make_url(settings.database_url).database
        if database and database != ":memory:":
            path = Path(database).resolve()
            return path.with_name(f"{path.stem}-credentials-key.pem")
    raise KeyUnavailable(
        "badge credentials need a signing key: set REWARDS_CREDENTIALS_KEY_FILE to an RSA private key in PEM, the "
        f"same file on every server (make one with `{MAKE_ONE}`)"
    )


def signing_key(settings: Settings) -> SigningKey:
    """The process's signing key, read once (a changed file is read at the next start)."""
    path = key_path(settings)
    found = _loaded.get(path)
    if found is not None:
        return found
    if not path.exists():
        if settings.credentials_key_file is not None:
            # Never made silently where an operator named a file: each server would sign with a key of its own.
            raise KeyUnavailable(
                f"REWARDS_CREDENTIALS_KEY_FILE names {path}, which does not exist: make it with `{MAKE_ONE}`"
            )
        _generate(path)
    try:
        key = RSAKey.import_key(path.read_bytes())
    except (OSError, ValueError, JoseError) as error:
        raise KeyUnavailable(
            f"the credentials key {path} cannot be read as an RSA private key in PEM: {error}"
        ) from error
    if not key.is_private:
        raise KeyUnavailable(f"the credentials key {path} is a public key: it must be the RSA private key")
    loaded = SigningKey(key, key.thumbprint())
    _loaded[path] = loaded
    return loaded


def _generate(path: Path) -> None:
    """Write a new key, readable by its owner only; when two processes race, the first one's key wins."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=GENERATED_KEY_BITS)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".credentials-key-")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
        os.chmod(temporary, 0o600)
        # Atomic, and refuses to replace a key another process has just written.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
