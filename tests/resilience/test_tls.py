"""Enterprise TLS: a private CA, mutual TLS and a real forward proxy, all on this machine.

The tests make their own PKI with ``cryptography`` (a CA, a server certificate for
``127.0.0.1``/``localhost``/this host's name, a client certificate) and put a TLS front
(Python's ``ssl``) before the contract server: each accepted connection is wrapped, its
handshake done in its own thread, then relayed byte for byte to the plain ``JuxServer``.
The proxy case runs Debian's ``tinyproxy`` with its own configuration and reaches the front
through a CONNECT tunnel, with the CLI in a subprocess reading ``HTTPS_PROXY``.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.conftest import write_junit
from tests.jux_server import JuxServer
from tests.resilience.conftest import (
    TOKEN,
    JuxRun,
    assert_no_token,
    ci_environ,
    outbox_payloads,
    resubmit,
    submit,
)

PASSPHRASE = "client-key-pa55phrase-7f3e"
#: variables of the machine running the tests that would choose a CA bundle or a proxy
_MACHINE_TLS_VARIABLES = (
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
)


# --- a private PKI ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PKI:
    """PEM files in ``folder``: the CA, the server's certificate and key, a client's
    certificate with its key in clear and encrypted with ``PASSPHRASE``, and a second CA that
    signed nothing the server uses."""

    folder: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    client_key_encrypted: Path
    other_ca: Path
    stranger_cert: Path
    stranger_key: Path
    hostname: str


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Jux tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    is_ca: bool = False,
    names: tuple[str, ...] = (),
    usage: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer if issuer is not None else (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if names:
        alt: list[x509.GeneralName] = []
        for name in names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey, password: str | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _this_host() -> str:
    """This machine's name, for the proxy case (it must not look like loopback)."""
    return socket.gethostname()


def make_pki(folder: Path) -> PKI:
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Jux test CA", ca_key, None, is_ca=True)
    issuer = (ca.subject, ca_key)
    hostname = _this_host()
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate(
        "jux server",
        server_key,
        issuer,
        names=("127.0.0.1", "localhost", hostname),
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _certificate("ci-runner-7", client_key, issuer, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _certificate("Some other CA", other_key, None, is_ca=True)
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    stranger = _certificate(
        "stranger",
        stranger_key,
        (other.subject, other_key),
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
    )
    files = {
        "ca.pem": _pem(ca),
        "server.pem": _pem(server),
        "server.key": _key_pem(server_key),
        "client.pem": _pem(client),
        "client.key": _key_pem(client_key),
        "client-encrypted.key": _key_pem(client_key, PASSPHRASE),
        "other-ca.pem": _pem(other),
        "stranger.pem": _pem(stranger),
        "stranger.key": _key_pem(stranger_key),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
        (folder / name).chmod(0o600)
    return PKI(
        folder,
        folder / "ca.pem",
        folder / "server.pem",
        folder / "server.key",
        folder / "client.pem",
        folder / "client.key",
        folder / "client-encrypted.key",
        folder / "other-ca.pem",
        folder / "stranger.pem",
        folder / "stranger.key",
        hostname,
    )


# --- a TLS front before the contract server -------------------------------------------------


class TLSFront:
    """TLS on ``host``:random port, relayed to ``upstream`` (plain HTTP on 127.0.0.1). With
    ``client_ca`` the front requires a client certificate issued by it. ``handshakes`` logs
    each handshake: "ok" or the error the server side saw."""

    def __init__(
        self, pki: PKI, upstream: int, *, host: str = "127.0.0.1", client_ca: Path | None = None
    ) -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(pki.server_cert, pki.server_key)
        if client_ca is not None:
            self._context.verify_mode = ssl.CERT_REQUIRED
            self._context.load_verify_locations(cafile=client_ca)
        self._upstream = upstream
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self.handshakes: list[str] = []
        self.peers: list[str] = []  # common names of the client certificates presented
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> TLSFront:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def url(self, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(30)
        try:
            tls = self._context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            with self._lock:
                self.handshakes.append(f"{type(exc).__name__}: {exc}")
            _close_gently(raw)
            return
        peer = tls.getpeercert()
        with self._lock:
            self.handshakes.append("ok")
            if peer:
                subject = dict(item for rdn in peer.get("subject", ()) for item in rdn)
                self.peers.append(str(subject.get("commonName", "")))
        try:
            upstream = socket.create_connection(("127.0.0.1", self._upstream), timeout=30)
        except OSError:
            tls.close()
            return
        _relay(tls, upstream)

    def seen(self) -> list[str]:
        with self._lock:
            return list(self.handshakes)


def _close_gently(raw: socket.socket) -> None:
    """Close after a refused handshake as a TLS server does: the alert sent, the rest of what
    the client sent read and dropped (closing with unread data would send a TCP reset, which
    can overtake the alert)."""
    with contextlib.suppress(OSError):
        raw.shutdown(socket.SHUT_WR)
        raw.settimeout(2)
        while raw.recv(65536):
            pass
    raw.close()


def _relay(tls: ssl.SSLSocket, upstream: socket.socket) -> None:
    """Copy both ways until either side closes (TLS 1.3 reads can fail late: a client whose
    certificate was refused learns it on its first read)."""

    def pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    back = threading.Thread(target=pump, args=(upstream, tls), daemon=True)
    back.start()
    pump(tls, upstream)
    back.join(timeout=30)
    tls.close()
    upstream.close()


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def backend() -> Iterator[JuxServer]:
    with JuxServer(api_key=TOKEN) as srv:
        yield srv
    assert srv.violations == [], srv.violations


@pytest.fixture
def front(pki: PKI, backend: JuxServer) -> Iterator[TLSFront]:
    with TLSFront(pki, backend.port) as running:
        yield running


@pytest.fixture
def mtls_front(pki: PKI, backend: JuxServer) -> Iterator[TLSFront]:
    with TLSFront(pki, backend.port, client_ca=pki.ca) as running:
        yield running


REPORT = "TEST-tls.xml"


@pytest.fixture(autouse=True)
def _report(workdir: Path) -> None:
    write_junit(workdir / REPORT, suite="Tls", cases=3, failures=1)


def tls_environ(workdir: Path, **extra: str) -> dict[str, str]:
    """``ci_environ`` without the machine's CA-bundle and proxy variables."""
    env = ci_environ(workdir)
    for name in _MACHINE_TLS_VARIABLES:
        env.pop(name, None)
    env.update(extra)
    return env


QUICK = ("--retries", "0", "--timeout", "10")


def assert_stored(run: JuxRun, backend: JuxServer) -> None:
    assert run.code == 0 and run.status_of(REPORT) == "submitted", run.output
    assert len(backend.runs) == 1
    assert outbox_payloads(run.workdir) == []
    assert_no_token(run, backend)


def assert_kept(run: JuxRun, backend: JuxServer) -> None:
    """Not sent, not lost: failed, kept in the outbox for ``resubmit``."""
    assert run.code == 0 and run.status_of(REPORT) == "failed", run.output
    assert backend.runs == []
    assert len(outbox_payloads(run.workdir)) == 1, run.output
    assert_no_token(run, backend)


# --- a private CA ---------------------------------------------------------------------------


def test_a_private_ca_without_ca_bundle_fails_naming_the_option_and_keeps_the_report(
    pki: PKI, front: TLSFront, backend: JuxServer, workdir: Path
) -> None:
    run = submit(front.url(), workdir, *QUICK, env=tls_environ(workdir))
    assert_kept(run, backend)
    assert "not trusted by certifi's public CAs" in run.output, run.output
    assert "--ca-bundle / JUX_CA_BUNDLE" in run.output, run.output
    assert "(certificate verify failed: unable to get local issuer certificate)" in run.output
    assert "set REQUESTS_CA_BUNDLE to its bundle" not in run.output  # the old, partial hint
    assert front.seen() and front.seen()[0] != "ok"  # the client refused the server
    # the kept copy goes once the CA is given, to resubmit as well
    again = resubmit(front.url(), workdir, "--ca-bundle", str(pki.ca), env=tls_environ(workdir))
    assert again.code == 0, again.output
    assert len(backend.runs) == 1 and outbox_payloads(workdir) == []


def test_ca_bundle_flag_verifies_a_private_ca(
    pki: PKI, front: TLSFront, backend: JuxServer, workdir: Path
) -> None:
    run = submit(front.url(), workdir, *QUICK, "--ca-bundle", str(pki.ca), env=tls_environ(workdir))
    assert_stored(run, backend)


@pytest.mark.parametrize(
    "variable", ["JUX_CA_BUNDLE", "INPUT_CA-BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"]
)
def test_the_ca_bundle_comes_from_the_environment_too(
    pki: PKI, front: TLSFront, backend: JuxServer, workdir: Path, variable: str
) -> None:
    env = tls_environ(workdir, **{variable: str(pki.ca)})
    run = submit(front.url(), workdir, *QUICK, env=env)
    assert_stored(run, backend)


def test_the_option_outranks_the_machine_wide_bundle(
    pki: PKI, front: TLSFront, backend: JuxServer, workdir: Path
) -> None:
    # a runner image with REQUESTS_CA_BUNDLE set to the system's public CAs
    env = tls_environ(workdir, REQUESTS_CA_BUNDLE=str(pki.other_ca))
    failed = submit(front.url(), workdir, *QUICK, env=env)
    assert failed.status_of(REPORT) == "failed", failed.output
    assert "not trusted by REQUESTS_CA_BUNDLE" in failed.output, failed.output
    run = submit(front.url(), workdir, *QUICK, "--ca-bundle", str(pki.ca), env=env)
    assert run.code == 0 and run.status_of(REPORT) == "submitted", run.output
    assert len(backend.runs) == 1


def test_a_folder_of_certificates_works_as_a_bundle(
    pki: PKI, front: TLSFront, backend: JuxServer, workdir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "certs"
    folder.mkdir()
    shutil.copy(pki.ca, folder / "jux-ca.pem")
    openssl, c_rehash = shutil.which("openssl"), shutil.which("c_rehash")
    if openssl:
        done = subprocess.run([openssl, "rehash", str(folder)], capture_output=True, check=False)
    if not openssl or done.returncode != 0:
        if not c_rehash:
            pytest.skip("neither 'openssl rehash' nor c_rehash is available to hash the folder")
        subprocess.run([c_rehash, str(folder)], capture_output=True, check=True)
    assert any(p.name.endswith(".0") for p in folder.iterdir())  # <hash>.0 links
    run = submit(front.url(), workdir, *QUICK, "--ca-bundle", str(folder), env=tls_environ(workdir))
    assert_stored(run, backend)


def test_a_missing_ca_bundle_is_a_configuration_error_before_any_request(
    front: TLSFront, backend: JuxServer, workdir: Path
) -> None:
    missing = workdir / "no-such-ca.pem"
    run = submit(front.url(), workdir, "--ca-bundle", str(missing), env=tls_environ(workdir))
    assert run.code == 2, run.output
    assert "--ca-bundle / JUX_CA_BUNDLE / input 'ca-bundle'" in run.output
    assert "does not exist" in run.output and str(missing) in run.output
    env = tls_environ(workdir, REQUESTS_CA_BUNDLE=str(missing))
    run = submit(front.url(), workdir, env=env)
    assert run.code == 2, run.output
    assert "REQUESTS_CA_BUNDLE" in run.output and "does not exist" in run.output
    assert front.seen() == [] and backend.requests == []


# --- mutual TLS -----------------------------------------------------------------------------


def test_without_a_client_certificate_the_failure_names_the_client_cert_options(
    mtls_front: TLSFront, pki: PKI, backend: JuxServer, workdir: Path
) -> None:
    run = submit(
        mtls_front.url(), workdir, *QUICK, "--ca-bundle", str(pki.ca), env=tls_environ(workdir)
    )
    assert_kept(run, backend)
    assert "requires a client certificate" in run.output, run.output
    assert "--client-cert / JUX_CLIENT_CERT" in run.output, run.output
    assert "--client-key / JUX_CLIENT_KEY" in run.output, run.output
    assert any("PEER_DID_NOT_RETURN_A_CERTIFICATE" in h for h in mtls_front.seen())


def test_a_client_certificate_with_a_plain_key_is_accepted(
    mtls_front: TLSFront, pki: PKI, backend: JuxServer, workdir: Path
) -> None:
    env = tls_environ(
        workdir,
        JUX_CA_BUNDLE=str(pki.ca),
        JUX_CLIENT_CERT=str(pki.client_cert),
        JUX_CLIENT_KEY=str(pki.client_key),
    )
    run = submit(mtls_front.url(), workdir, *QUICK, env=env)
    assert_stored(run, backend)
    assert mtls_front.peers and set(mtls_front.peers) == {"ci-runner-7"}


def test_an_encrypted_client_key_is_opened_with_the_passphrase_which_is_never_shown(
    mtls_front: TLSFront, pki: PKI, backend: JuxServer, workdir: Path
) -> None:
    env = tls_environ(workdir, JUX_CLIENT_KEY_PASSWORD=PASSPHRASE)
    argv = (
        *QUICK,
        "-v",
        "--ca-bundle",
        str(pki.ca),
        "--client-cert",
        str(pki.client_cert),
        "--client-key",
        str(pki.client_key_encrypted),
    )
    run = submit(mtls_front.url(), workdir, *argv, env=env)
    assert_stored(run, backend)
    assert set(mtls_front.peers) == {"ci-runner-7"}
    assert_no_token(run, backend, token=PASSPHRASE)
    # on a wrong passphrase too: exit 2 before any request, the passphrase not echoed
    wrong = "not-the-" + PASSPHRASE
    bad = submit(mtls_front.url(), workdir, *argv, env={**env, "JUX_CLIENT_KEY_PASSWORD": wrong})
    assert bad.code == 2, bad.output
    assert "cannot decrypt the client key" in bad.output, bad.output
    assert_no_token(bad, token=wrong)
    assert_no_token(bad, token=PASSPHRASE)
    assert len(backend.runs) == 1


def test_an_encrypted_client_key_without_passphrase_is_exit_2_and_never_prompts(
    mtls_front: TLSFront, pki: PKI, backend: JuxServer, workdir: Path
) -> None:
    argv = ("--client-cert", str(pki.client_cert), "--client-key", str(pki.client_key_encrypted))
    # a subprocess with no terminal input: OpenSSL's own prompt would hang or fail oddly
    run = submit(
        mtls_front.url(), workdir, *argv, env=tls_environ(workdir), subprocess_run=True, timeout=60
    )
    assert run.code == 2, run.output
    assert "is encrypted" in run.output and "JUX_CLIENT_KEY_PASSWORD" in run.output
    assert mtls_front.seen() == []


@pytest.mark.parametrize("given", ["client-cert", "client-key"])
def test_a_client_certificate_needs_its_key_and_the_reverse(
    pki: PKI, front: TLSFront, workdir: Path, given: str
) -> None:
    path = pki.client_cert if given == "client-cert" else pki.client_key
    run = submit(front.url(), workdir, f"--{given}", str(path), env=tls_environ(workdir))
    assert run.code == 2, run.output
    assert "mutual TLS needs both" in run.output
    assert "--client-cert / JUX_CLIENT_CERT" in run.output
    assert "--client-key / JUX_CLIENT_KEY" in run.output
    missing = submit(
        front.url(),
        workdir,
        "--client-cert",
        str(pki.client_cert),
        "--client-key",
        str(workdir / "gone.key"),
        env=tls_environ(workdir),
    )
    assert missing.code == 2 and "gone.key' does not exist" in missing.output, missing.output
    assert front.seen() == []


def test_a_client_certificate_the_server_does_not_trust_is_named(
    mtls_front: TLSFront, pki: PKI, backend: JuxServer, workdir: Path
) -> None:
    argv = ("--client-cert", str(pki.stranger_cert), "--client-key", str(pki.stranger_key))
    env = tls_environ(workdir, JUX_CA_BUNDLE=str(pki.ca))
    run = submit(mtls_front.url(), workdir, *QUICK, *argv, env=env)
    assert_kept(run, backend)
    assert "the server refused the client certificate" in run.output, run.output
    assert "--client-cert / JUX_CLIENT_CERT" in run.output


# --- a real forward proxy (Debian's tinyproxy) ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Tinyproxy:
    url: str
    log: Path


@contextlib.contextmanager
def run_tinyproxy(folder: Path, connect_port: int) -> Iterator[Tinyproxy]:
    """tinyproxy on 127.0.0.1 with its own configuration, in the foreground, stopped after."""
    binary = shutil.which("tinyproxy") or shutil.which("tinyproxy", path="/usr/sbin:/usr/bin")
    if binary is None:
        pytest.fail(
            "tinyproxy is not installed; install it (apt-get install -y tinyproxy, as "
            ".ci/install-packaging-tools.sh does in CI): the proxy case needs a real proxy"
        )
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "tinyproxy.log"
    for attempt in range(3):  # the free port may be taken between looking and binding
        port = _free_port()
        config = folder / "tinyproxy.conf"
        config.write_text(
            f"Port {port}\n"
            "Listen 127.0.0.1\n"
            "Timeout 30\n"
            f'LogFile "{log}"\n'
            "LogLevel Info\n"
            f'PidFile "{folder / "tinyproxy.pid"}"\n'
            "MaxClients 20\n"
            "Allow 127.0.0.1\n"
            f"ConnectPort {connect_port}\n"
        )
        proc = subprocess.Popen(
            [binary, "-d", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            ready = time.monotonic() + 10
            while time.monotonic() < ready and proc.poll() is None:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), timeout=0.5),
                ):
                    break
                time.sleep(0.05)
            else:
                if attempt < 2:
                    continue
                text = log.read_text(errors="replace") if log.exists() else "(no log)"
                pytest.fail(f"tinyproxy did not start on port {port}:\n{text}")
            yield Tinyproxy(f"http://127.0.0.1:{port}", log)
            return
        finally:
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _proxied_host(name: str) -> str:
    """The address ``name`` resolves to on this machine (tinyproxy resolves it the same way),
    or a test failure saying why the proxy case cannot run here."""
    from jux_submit.settings import is_loopback_host

    if is_loopback_host(name):
        pytest.fail(f"this host is named {name!r}, which jux-submit never proxies (loopback)")
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        pytest.fail(f"this host's name {name!r} does not resolve ({exc}); the proxy case needs it")
    return str(infos[0][4][0])


def test_an_https_server_is_reached_through_tinyproxy_with_connect(
    pki: PKI, backend: JuxServer, workdir: Path, tmp_path: Path
) -> None:
    """The API URL names this host (not loopback to jux-submit, so HTTPS_PROXY applies);
    tinyproxy resolves it itself and opens the CONNECT tunnel to the TLS front listening on
    that address. The proxy only relays TLS: the front checks the client certificate."""
    address = _proxied_host(pki.hostname)
    with TLSFront(pki, backend.port, host=address, client_ca=pki.ca) as front:
        with run_tinyproxy(tmp_path / "tinyproxy", front.port) as proxy:
            env = tls_environ(
                workdir,
                HTTPS_PROXY=proxy.url,
                JUX_CA_BUNDLE=str(pki.ca),
                JUX_CLIENT_CERT=str(pki.client_cert),
                JUX_CLIENT_KEY=str(pki.client_key_encrypted),
                JUX_CLIENT_KEY_PASSWORD=PASSPHRASE,
            )
            run = submit(
                front.url(pki.hostname), workdir, *QUICK, env=env, subprocess_run=True, timeout=90
            )
            log = proxy.log.read_text(errors="replace")
    assert_stored(run, backend)
    assert_no_token(run, backend, token=PASSPHRASE)
    assert f"CONNECT {pki.hostname}:{front.port}" in log, log
    assert TOKEN not in log and PASSPHRASE not in log
    assert set(front.peers) == {"ci-runner-7"}
