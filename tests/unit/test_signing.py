"""Loading the signing key and certificate: PEM path or text, passphrase, matching, errors.

The key/certificate factories here are shared with the package-mode integration tests.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from jux_submit.errors import ConfigError, ExitCode
from jux_submit.settings import load_settings
from jux_submit.signing import SigningMaterial, load_signing

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def make_key(kind: str = "rsa") -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def make_cert(key: PrivateKey, common_name: str = "jux-submit test signer") -> x509.Certificate:
    """A self-signed certificate with the extensions py-jxz's verification expects."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )


def key_pem(key: PrivateKey | ed25519.Ed25519PrivateKey, password: str | None = None) -> str:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def settings_for(tmp_path: Path, env: dict[str, str], *argv: str):  # type: ignore[no-untyped-def]
    return load_settings(["--dry-run", *argv], env, cwd=tmp_path)


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_key_and_certificate_as_pem_text(tmp_path: Path, kind: str) -> None:
    key = make_key(kind)
    cert = make_cert(key)
    env = {"JUX_SIGNING_KEY": key_pem(key), "JUX_SIGNING_CERT": cert_pem(cert)}
    material = load_signing(settings_for(tmp_path, env))
    assert isinstance(material, SigningMaterial)
    assert material.certificate == cert
    assert material.algorithm.startswith("RSA-2048" if kind == "rsa" else "ECDSA-secp256r1")
    assert "BEGIN" not in repr(material)  # the key never shows in a repr


def test_key_file_relative_to_working_directory_with_passphrase(tmp_path: Path) -> None:
    key = make_key("ec")
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "signer.pem").write_text(key_pem(key, "s3cret"))
    env = {"JUX_SIGNING_KEY_PASSWORD": "s3cret"}
    material = load_signing(settings_for(tmp_path, env, "--signing-key", "keys/signer.pem"))
    assert material is not None
    assert material.key.private_numbers() == key.private_numbers()  # type: ignore[union-attr]


def test_pem_text_with_literal_backslash_n_from_a_ci_secret(tmp_path: Path) -> None:
    key = make_key("rsa")
    flattened = key_pem(key).strip().replace("\n", "\\n")
    material = load_signing(settings_for(tmp_path, {"JUX_SIGNING_KEY": flattened}))
    assert material is not None


def test_no_key_means_no_signing(tmp_path: Path) -> None:
    assert load_signing(settings_for(tmp_path, {})) is None


def _config_error(tmp_path: Path, env: dict[str, str], *argv: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_signing(settings_for(tmp_path, env, *argv))
    assert caught.value.exit_code is ExitCode.CONFIG
    return caught.value


def test_encrypted_key_without_passphrase(tmp_path: Path) -> None:
    pem = key_pem(make_key("rsa"), "pw")
    err = _config_error(tmp_path, {"JUX_SIGNING_KEY": pem})
    assert "encrypted" in err.message and "JUX_SIGNING_KEY_PASSWORD" in (err.hint or "")
    assert "BEGIN" not in err.message


def test_wrong_passphrase(tmp_path: Path) -> None:
    pem = key_pem(make_key("ec"), "right")
    err = _config_error(tmp_path, {"JUX_SIGNING_KEY": pem, "JUX_SIGNING_KEY_PASSWORD": "wrong"})
    assert "passphrase is wrong" in err.message
    assert "wrong" not in err.message.replace("passphrase is wrong", "")


def test_passphrase_for_an_unencrypted_key(tmp_path: Path) -> None:
    pem = key_pem(make_key("ec"))
    err = _config_error(tmp_path, {"JUX_SIGNING_KEY": pem, "JUX_SIGNING_KEY_PASSWORD": "x"})
    assert "not encrypted" in err.message


def test_garbage_pem_text_is_not_echoed(tmp_path: Path) -> None:
    text = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----"
    err = _config_error(tmp_path, {"JUX_SIGNING_KEY": text})
    assert "not a readable PEM private key" in err.message
    assert "bm90" not in err.message and "(PEM text)" in err.message


def test_missing_key_file(tmp_path: Path) -> None:
    err = _config_error(tmp_path, {}, "--signing-key", "nope.pem")
    assert "cannot read the key file" in err.message and "nope.pem" in err.message


def test_unsupported_key_type(tmp_path: Path) -> None:
    pem = key_pem(ed25519.Ed25519PrivateKey.generate())
    err = _config_error(tmp_path, {"JUX_SIGNING_KEY": pem})
    assert "RSA or ECDSA" in err.message


def test_certificate_of_another_key(tmp_path: Path) -> None:
    env = {
        "JUX_SIGNING_KEY": key_pem(make_key("rsa")),
        "JUX_SIGNING_CERT": cert_pem(make_cert(make_key("rsa"))),
    }
    err = _config_error(tmp_path, env)
    assert "does not match" in err.message


def test_certificate_without_key(tmp_path: Path) -> None:
    env = {"JUX_SIGNING_CERT": cert_pem(make_cert(make_key("ec")))}
    err = _config_error(tmp_path, env)
    assert "no signing key" in err.message


def test_unreadable_certificate(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate")
    env = {"JUX_SIGNING_KEY": key_pem(make_key("ec"))}
    err = _config_error(tmp_path, env, "--signing-cert", "cert.pem")
    assert "not a readable PEM X.509 certificate" in err.message
