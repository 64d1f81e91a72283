"""Load the package signing key and certificate (PEM, from a file path or the text itself).

Loaded once per run, before any network call; every problem is a ``ConfigError`` (exit 2).
Key material stays in memory: messages name the option and the path, never the PEM text.
"""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from jux_submit.errors import ConfigError
from jux_submit.models import Record, record
from jux_submit.settings import OPTIONS_BY_NAME

if TYPE_CHECKING:
    from jux_submit.settings import Settings

PEM_MARKER = "-----BEGIN "
KEY_HINT = (
    "give --signing-key / JUX_SIGNING_KEY as the path of a PEM file or the PEM text itself "
    "(RSA or ECDSA), with JUX_SIGNING_KEY_PASSWORD when it is encrypted"
)


@record
class SigningMaterial(Record):
    """The private key (RSA or ECDSA) and the optional certificate that matches it."""

    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = field(repr=False)
    certificate: x509.Certificate | None = None

    @property
    def algorithm(self) -> str:
        """``RSA-2048``, ``ECDSA-secp256r1`` ...: for logs (never the key itself)."""
        if isinstance(self.key, rsa.RSAPrivateKey):
            return f"RSA-{self.key.key_size}"
        return f"ECDSA-{self.key.curve.name}"


def _pem_bytes(value: str, option: str, cwd: Path, what: str) -> tuple[bytes, str]:
    """The PEM bytes of ``value`` (PEM text or a path) and how to name it in messages."""
    describe = OPTIONS_BY_NAME[option].describe()
    if PEM_MARKER in value:
        text = value.strip()
        # CI secrets sometimes arrive with literal "\n" instead of newlines
        if "\n" not in text and "\\n" in text:
            text = text.replace("\\n", "\n")
        return text.encode("ascii", "replace") + b"\n", f"{describe} (PEM text)"
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = cwd / path
    try:
        return path.read_bytes(), f"{describe} ({path})"
    except OSError as exc:
        raise ConfigError(
            f"{describe}: cannot read the {what} file {path}: {exc.strerror or exc}",
            hint=KEY_HINT if what == "key" else "give the path of a PEM certificate or its text",
        ) from None


def load_private_key(
    value: str, password: str | None, cwd: Path
) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """Parse a PEM private key. Raises ``ConfigError`` (no key material in the message)."""
    data, label = _pem_bytes(value, "signing-key", cwd, "key")
    secret = password.encode("utf-8") if password else None
    try:
        key = serialization.load_pem_private_key(data, password=secret)
    except TypeError:
        if secret is None:
            raise ConfigError(
                f"{label}: the private key is encrypted and no passphrase was given",
                hint="set JUX_SIGNING_KEY_PASSWORD (input 'signing-key-password')",
            ) from None
        raise ConfigError(
            f"{label}: a passphrase was given but the private key is not encrypted",
            hint="unset JUX_SIGNING_KEY_PASSWORD, or use the encrypted key",
        ) from None
    except ValueError:
        more = " or the passphrase is wrong" if secret is not None else ""
        raise ConfigError(f"{label}: not a readable PEM private key{more}", hint=KEY_HINT) from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigError(
            f"{label}: {type(key).__name__.lstrip('_')} keys cannot sign packages; "
            "use an RSA or ECDSA key",
            hint=KEY_HINT,
        )
    return key


def load_certificate(value: str, cwd: Path) -> x509.Certificate:
    """Parse a PEM X.509 certificate. Raises ``ConfigError``."""
    data, label = _pem_bytes(value, "signing-cert", cwd, "certificate")
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise ConfigError(
            f"{label}: not a readable PEM X.509 certificate",
            hint="give the certificate as a PEM file path or its '-----BEGIN CERTIFICATE-----' "
            "text",
        ) from None


def _public_der(key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | object) -> bytes:
    if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return b""


def load_signing(settings: Settings) -> SigningMaterial | None:
    """The run's signing material, or None when no key is configured.

    Raises ``ConfigError`` for an unreadable key or certificate, a wrong or missing passphrase,
    an unsupported key type, a certificate without a key, or a certificate that does not match
    the key.
    """
    cwd = settings.working_directory
    if not settings.signing_key:
        if settings.signing_cert:
            raise ConfigError(
                f"{OPTIONS_BY_NAME['signing-cert'].describe()} is set but no signing key is",
                hint="set JUX_SIGNING_KEY (or --signing-key) too, or drop the certificate",
            )
        return None
    key = load_private_key(settings.signing_key, settings.signing_key_password, cwd)
    certificate = None
    if settings.signing_cert:
        certificate = load_certificate(settings.signing_cert, cwd)
        if _public_der(certificate.public_key()) != _public_der(key.public_key()):
            raise ConfigError(
                "the signing certificate does not match the signing key (their public keys "
                f"differ; certificate subject {certificate.subject.rfc4514_string()!r})",
                hint="give the certificate issued for this key, or the key of this certificate",
            )
    return SigningMaterial(key, certificate)
