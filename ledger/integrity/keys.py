"""The school's Ed25519 signing key (PEM, PKCS#8), and the public key auditors hold."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.errors import InvalidCommand, LedgerError


class SigningKeyUnavailable(LedgerError):
    code = "signing-key-unavailable"
    title = "The checkpoint signing key is missing or unreadable"


class BadPublicKey(InvalidCommand):
    code = "bad-public-key"
    title = "Not an Ed25519 public key"


def load_private_key(path: Path | str) -> Ed25519PrivateKey:
    path = Path(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise SigningKeyUnavailable(
            f"no signing key at {path}: a school creates its one key with `ledger keys init`; "
            "to check someone else's ledger, pass their public key (--public-key)"
        ) from None
    except (ValueError, TypeError, OSError) as e:
        raise SigningKeyUnavailable(f"cannot read the signing key at {path}: {e}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyUnavailable(f"the key at {path} is not an Ed25519 key")
    return key


def create_key(path: Path | str) -> Ed25519PrivateKey:
    """A new key written with mode 0600; refuses to overwrite an existing file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key


def ensure_key(path: Path | str) -> Ed25519PrivateKey:
    """The key at ``path``, created first if missing (demo and `make run`)."""
    try:
        return load_private_key(path)
    except SigningKeyUnavailable:
        if Path(path).exists():
            raise
    try:
        return create_key(path)
    except FileExistsError:  # another process made it between our two looks
        return load_private_key(path)


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as e:
        raise BadPublicKey(f"cannot read the public key: {e}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BadPublicKey("the public key is not an Ed25519 key")
    return key


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 over the raw public key: names the key in checkpoints."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def signature_valid(pub: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        pub.verify(signature, message)
    except InvalidSignature:
        return False
    return True
