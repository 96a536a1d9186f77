"""A private Dovecot IMAP server for the tests (Debian's ``dovecot-imapd``, 2.3).

Its own configuration, run directory, state, log and maildir live in one temporary
directory; it listens on two free loopback ports, implicit TLS and plain IMAP with
STARTTLS, with a certificate for 127.0.0.1 from a CA made for the session (``trustme``).
Test helpers reach it with the standard library's ``imaplib``, a client independent of
the one under test. Started as root (the container), so the settings say which system
users its processes and the mail files use.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme

DOVECOT = Path("/usr/sbin/dovecot")
# Mail is read and written as Debian's ``mail`` user: Dovecot refuses to open mailboxes
# as root (imap is started with "disallow root"), and its own ``dovecot``/``dovenull``
# users are for its internal and login processes, not for mail.
MAIL_USER = "mail"

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
instance_name = support-test-{tls_port}
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/server.pem
ssl_key = <{root}/server.key
ssl_min_protocol = TLSv1.2
# The Debian defaults, said here so the file reads whole: logins run as dovenull,
# Dovecot's own processes as dovecot, mail as the uid in the passwd-file below.
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:~/Maildir
# A wrong password is answered at once (2 s by default: a test of it would wait), and
# the failures add no penalty for the address (doc.dovecot.org 2.3, auth_penalty).
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
# Several test clients at a time (IDLE, the helpers) from the one address.
mail_max_userip_connections = 50
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {starttls_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Dovecot:
    """One private Dovecot: where it listens, its one user, and helpers that act as a
    person (or a mail server) using the mailbox."""

    root: Path
    host: str = "127.0.0.1"
    tls_port: int = field(default_factory=free_port)
    starttls_port: int = field(default_factory=free_port)
    username: str = "desk@example.org"
    password: str = "correct horse battery staple"
    extra_config: str = ""  # lines appended to the configuration (a variant server)
    process: subprocess.Popen[bytes] | None = None

    @property
    def ca_file(self) -> str:
        return str(self.root / "ca.pem")

    @property
    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def prepare(self) -> None:
        """Certificates, users and the configuration (once; start/stop reuse them)."""
        mail = pwd.getpwnam(MAIL_USER)
        self.root.chmod(0o755)  # the auth (dovecot) and mail users read below it
        ca = trustme.CA()
        cert = ca.issue_cert(self.host)
        ca.cert_pem.write_to_path(self.ca_file)
        cert.cert_chain_pems[0].write_to_path(str(self.root / "server.pem"))
        cert.private_key_pem.write_to_path(str(self.root / "server.key"))
        (self.root / "server.key").chmod(0o600)
        home = self.root / "home"
        home.mkdir()
        os.chown(home, mail.pw_uid, mail.pw_gid)
        passwd = self.root / "passwd"
        passwd.write_text(f"{self.username}:{{PLAIN}}{self.password}:"
                          f"{mail.pw_uid}:{mail.pw_gid}::{home}::\n")
        passwd.chmod(0o644)
        for name in ("run", "state"):
            (self.root / name).mkdir()
        (self.root / "dovecot.conf").write_text(CONFIG.format(
            root=self.root, uid=mail.pw_uid, gid=mail.pw_gid,
            tls_port=self.tls_port, starttls_port=self.starttls_port) + self.extra_config)

    def start(self, timeout: float = 10.0) -> None:
        """Start it in the foreground (so this process holds its pid) and wait until both
        ports answer."""
        assert self.process is None, "already running"
        self.process = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(self.root / "dovecot.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            # Its own process group: ``stop`` ends its children (imap, login) by it.
            start_new_session=True)
        deadline = time.monotonic() + timeout
        for port in (self.tls_port, self.starttls_port):
            while not _listening(self.host, port):
                if self.process.poll() is not None:
                    err = self.process.stderr.read().decode(errors="replace") \
                        if self.process.stderr else ""
                    self.process = None
                    pytest.fail(f"Dovecot did not start: {err}\n{self.log}")
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"Dovecot did not listen on {port} in {timeout} s\n{self.log}")
                time.sleep(0.01)

    def stop(self) -> None:
        """Stop it whole, as a restart of the server would: every client connection drops.
        The master alone leaves its imap processes serving their connections a while
        after it is gone, so the signal goes to its process group (its own, see start)."""
        if self.process is None:
            return
        group = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        deadline = time.monotonic() + 5
        while _group_alive(group):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(group, signal.SIGKILL)
            time.sleep(0.01)
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    @contextlib.contextmanager
    def client(self, mailbox: str = "INBOX") -> Iterator[imaplib.IMAP4_SSL]:
        """A signed-in ``imaplib`` session with ``mailbox`` selected."""
        context = ssl.create_default_context(cafile=self.ca_file)
        imap = imaplib.IMAP4_SSL(self.host, self.tls_port, ssl_context=context, timeout=10)
        try:
            _ok(imap.login(self.username, self.password))
            if mailbox != "INBOX" and imap.select(_quoted(mailbox))[0] != "OK":
                _ok(imap.create(_quoted(mailbox)))
            _ok(imap.select(_quoted(mailbox)))
            yield imap
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                imap.logout()

    def append(self, raw: bytes, mailbox: str = "INBOX") -> None:
        """Deliver a message as a mail server would (APPEND, no flags)."""
        with self.client(mailbox) as imap:
            _ok(imap.append(_quoted(mailbox), None, None, raw))

    def messages(self, mailbox: str = "INBOX") -> list[tuple[int, set[str]]]:
        """Every message in ``mailbox`` as (uid, flags), in UID order."""
        with self.client(mailbox) as imap:
            _, lines = _ok(imap.uid("FETCH", "1:*", "(FLAGS)"))
        found = []
        for line in lines:
            uid = re.search(rb"UID (\d+)", line) if isinstance(line, bytes) else None
            flags = re.search(rb"FLAGS \(([^)]*)\)", line) if isinstance(line, bytes) else None
            if uid and flags:
                found.append((int(uid.group(1)), set(flags.group(1).decode().split())
                              - {"\\Recent"}))
        return sorted(found)

    def flag(self, uid: int, flag: str, mailbox: str = "INBOX") -> None:
        """Add ``flag`` to a message, as a person with a mail client would (\\Seen)."""
        with self.client(mailbox) as imap:
            _ok(imap.uid("STORE", str(uid), "+FLAGS", f"({flag})"))

    def clear(self, mailbox: str = "INBOX") -> None:
        """Remove every message from ``mailbox``."""
        with self.client(mailbox) as imap:
            _ok(imap.uid("STORE", "1:*", "+FLAGS.SILENT", "(\\Deleted)"))
            _ok(imap.expunge())


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _ok(answer: tuple[str, list[Any]]) -> tuple[str, list[Any]]:
    if answer[0] != "OK":
        raise AssertionError(f"the test Dovecot answered {answer}")
    return answer


def _quoted(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


@contextlib.contextmanager
def running(extra_config: str = "") -> Iterator[Dovecot]:
    """A private Dovecot for the block, gone with its files afterwards."""
    if not DOVECOT.exists():
        pytest.fail(f"{DOVECOT} is missing: the IMAP tests run a private Dovecot. "
                    "`make test` installs it (apt-get install dovecot-imapd).")
    # Not under pytest's tmp dir: that one is root's alone (0700), and Dovecot's auth
    # process and the mail user must reach the passwd-file and the maildir.
    root = Path(tempfile.mkdtemp(prefix="support-dovecot-"))
    server = Dovecot(root=root, extra_config=extra_config)
    try:
        server.prepare()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    with running() as server:
        yield server
