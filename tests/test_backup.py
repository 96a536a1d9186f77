"""``support backup``, ``support restore``, ``support migrate``'s backup first, and the
erasure log (issue 25), as an operator runs them: the commands in this process, a desk on
SQLite in a data dir of its own (the database the archive holds); the erasure log's replay
on the run's own database.

The whole drill, with a desk serving under load, is tests/test_backup_drill.py.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from support.cli import main
from support.cli.backups import archive, desk
from support.cli.backups.archive import Damaged, Manifest
from support.cli.backups.progress import Progress
from support.config import Settings
from support.data import db, snapshot
from support.data.models import Application, Document, Notification
from support.workflow import erasure_log
from support.workflow.erasure import request_erasure
from tests.factories import make_application

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def old(tmp_path: Path) -> Path:
    return tmp_path / "old"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, old: Path) -> Iterator[dict[str, str]]:
    """The operator's environment: a desk with its default SQLite database and its own
    generated secret key, in ``old``."""
    for name in ("SUPPORT_DATABASE_URL", "SUPPORT_SECRET_KEY", "SUPPORT_STORAGE_URL",
                 "SUPPORT_ERASURE_LOG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SUPPORT_LOG_FORMAT", "text")
    # main() would point logging at this test's captured stderr, closed after it.
    monkeypatch.setattr("support.cli.logs.configure", lambda log_format: None)
    monkeypatch.setenv("SUPPORT_DATA_DIR", str(old))
    yield {"SUPPORT_DATA_DIR": str(old)}


def desk_settings(data_dir: Path) -> Settings:
    return Settings.from_env({"SUPPORT_DATA_DIR": str(data_dir)})


def _document(settings: Settings, application: Application, body: bytes) -> Document:
    key = secrets.token_urlsafe(24)
    path = settings.documents_dir / key[:2] / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return Document(application=application, purpose="receipt", content_type="image/jpeg",
                    size=len(body), sha256="0" * 64, storage_key=key,
                    original_name="receipt.jpg", sanitised_at=datetime.now(UTC))


async def _seed(data_dir: str, erase: int) -> None:
    settings = desk_settings(Path(data_dir))
    await db.migrate(settings.database_url)
    await db.init(settings.database_url)
    try:
        references = []
        for n in range(3):
            application = await make_application(status="approved", decided_at=datetime.now(UTC))
            await _document(settings, application, f"receipt {n}".encode()).save()
            references.append(application.reference)
        for application in await Application.filter(reference__in=references[:erase]):
            await request_erasure(settings, application)
        print(json.dumps(references))
    finally:
        await db.close()


async def _erase(data_dir: str, reference: str) -> None:
    settings = desk_settings(Path(data_dir))
    await db.init(settings.database_url)
    try:
        await request_erasure(settings, await Application.get(reference=reference))
    finally:
        await db.close()


def _elsewhere(call: str) -> str:
    """Run ``call`` (one of this module's coroutines) in a process of its own: the desk's
    database is SQLite whatever the run's is, and Tortoise set up for one database in this
    process would keep its SQL for the next test's."""
    done = subprocess.run(
        [sys.executable, "-c", f"import asyncio, tests.test_backup as t; asyncio.run(t.{call})"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "SUPPORT_LOG_FORMAT": "text"})
    assert done.returncode == 0, done.stderr
    return done.stdout


def seed(settings: Settings, erase: int = 1) -> list[str]:
    """Three applications with a document each; the first ``erase`` erased on request.
    Returns their references."""
    output = _elsewhere(f"_seed({str(settings.data_dir)!r}, {erase})")
    return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]


def erase_now(settings: Settings, reference: str) -> None:
    _elsewhere(f"_erase({str(settings.data_dir)!r}, {reference!r})")


def support(*args: str) -> tuple[int, str]:
    """``support ARGS`` as the operator runs it, in the environment ``env`` set."""
    done = subprocess.run([sys.executable, "-m", "support", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    return done.returncode, done.stderr


def rows(settings: Settings, query: str) -> list[tuple]:  # type: ignore[type-arg]
    path = snapshot.sqlite_path(settings.database_url)
    assert path is not None
    connection = sqlite3.connect(path)
    try:
        return list(connection.execute(query))
    finally:
        connection.close()


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


# --- a backup, and the desk it gives back ------------------------------------------------


def test_a_backup_restores_the_desk_as_it_was_and_erased_stays_erased(env, old, tmp_path,
                                                                       monkeypatch, capsys):
    settings = desk_settings(old)
    seed(settings)
    assert main(["backup", str(tmp_path / "desk.tar")]) == 0
    said = capsys.readouterr().err
    assert "Wrote" in said and "3 applications, 2 document files" in said, said
    assert (tmp_path / "desk.tar").stat().st_mode & 0o777 == 0o600  # personal data, the key
    assert not list(tmp_path.glob("*.partial"))

    assert main(["backup", "--verify", str(tmp_path / "desk.tar")]) == 0
    assert "is whole: 3 applications, 2 document files" in capsys.readouterr().err

    new = tmp_path / "new"
    monkeypatch.setenv("SUPPORT_DATA_DIR", str(new))
    code, said = support("restore", str(tmp_path / "desk.tar"))
    assert code == 0 and "Start it with `support serve`" in said, said
    restored = desk_settings(new)
    assert restored.secret_key == settings.secret_key  # every status link still opens
    query = "SELECT reference, email, redacted_at IS NOT NULL FROM application ORDER BY id"
    assert rows(restored, query) == rows(settings, query)
    assert rows(restored, query)[0][2] == 1  # erased before the backup: still erased
    assert files_under(new / "documents") == files_under(old / "documents")
    assert len(files_under(new / "documents")) == 2
    assert snapshot.integrity_problem(new / "support.sqlite3") is None


def test_an_erasure_after_the_backup_is_carried_out_again_on_restore(env, old, tmp_path,
                                                                     monkeypatch, capsys):
    settings = desk_settings(old)
    references = seed(settings, erase=0)
    # One erasure that landed in the log while the backup ran (the database copy was
    # already made): the archive's own log carries it.
    erasure_log.record(settings, [references[0]], datetime.now(UTC))
    assert main(["backup", str(tmp_path / "desk.tar")]) == 0
    # One after the backup, in the lost desk's log.
    erase_now(settings, references[1])
    capsys.readouterr()

    monkeypatch.setenv("SUPPORT_DATA_DIR", str(tmp_path / "new"))
    code, said = support("restore", str(tmp_path / "desk.tar"), "--erasures",
                         str(old / "erasures.log"))
    assert code == 0 and "Erased again 2 applications" in said, said
    restored = desk_settings(tmp_path / "new")
    erased = rows(restored, "SELECT reference, email FROM application "
                  "WHERE redacted_at IS NOT NULL ORDER BY id")
    assert [reference for reference, _ in erased] == references[:2]
    assert all("example.com" not in email for _, email in erased)
    assert len(files_under(tmp_path / "new" / "documents")) == 1  # theirs are gone
    # Told once, when it was done; never again by a restore.
    told = rows(restored, "SELECT count(*) FROM notification WHERE template = 'erased'")
    assert told == [(0,)]  # the second erasure's messages came after the backup
    assert (tmp_path / "new" / "erasures.log").exists()


async def test_replaying_an_erasure_log_erases_on_this_database_and_tells_no_one(
        app, settings: Settings):
    """What ``support replay-erasures`` does after a PostgreSQL dump is restored."""
    kept, gone = await make_application(), await make_application(status="approved")
    document = _document(settings, gone, b"receipt")
    await document.save()
    log = settings.data_dir / "lost-erasures.log"
    erasure_log.record(settings.with_(erasure_log_path=log), [gone.reference],
                       datetime.now(UTC))
    with log.open("a") as cut:
        cut.write("2026-12-06T10:00:00+00:00 UL-HA")  # a crash in the middle of a line
    assert erasure_log.read(log) == [gone.reference]
    assert await erasure_log.replay(settings, erasure_log.read(log)) == 1
    await gone.refresh_from_db()
    await kept.refresh_from_db()
    assert gone.redacted_at is not None and gone.email != "" and "@" not in gone.email
    assert kept.redacted_at is None
    assert not await Document.filter(id=document.id).exists()
    assert not (settings.documents_dir / document.storage_key[:2] / document.storage_key).exists()
    assert not await Notification.filter(template="erased").exists()
    assert await erasure_log.replay(settings, [gone.reference]) == 0  # once is enough


def test_a_backup_of_a_desk_on_the_runs_database(settings: Settings, tmp_path: Path) -> None:
    """On PostgreSQL the archive holds the documents and the key, and says the database is
    backed up with PostgreSQL's own tools; on SQLite, the database too."""
    settings.documents_dir.mkdir(parents=True)
    (settings.documents_dir / "ab").mkdir()
    (settings.documents_dir / "ab" / "abcdefghijkl").write_bytes(b"receipt")
    quiet = Progress(io.StringIO(), quiet=True)
    manifest = desk.take(settings.with_(storage_url=""), tmp_path / "desk.tar", quiet)
    assert manifest.database == ("postgresql" if settings.is_postgres else "sqlite")
    assert (archive.DATABASE in manifest.files) is (not settings.is_postgres)
    assert manifest.files["documents/ab/abcdefghijkl"][0] == 7
    assert archive.SECRET in manifest.files


# --- what is refused ----------------------------------------------------------------------


def _damages(whole: bytes, tmp_path: Path) -> dict[str, bytes]:
    """The ways an archive is damaged: cut short anywhere, a byte changed in a file, in a
    header, in the manifest or its seal; a member added, a link, not a tar at all."""
    with tarfile.open(fileobj=io.BytesIO(whole)) as tar:
        members = {member.name: member for member in tar.getmembers()}
    database = members[archive.DATABASE].offset_data
    manifest = members[archive.MANIFEST].offset_data
    seal = members[archive.SEAL].offset_data

    def flip(at: int) -> bytes:
        return whole[:at] + bytes([whole[at] ^ 0x20]) + whole[at + 1:]

    cases = {f"cut at {share}%": whole[:len(whole) * share // 100]
             for share in (1, 30, 60, 90, 99)}
    cases["cut before the manifest"] = whole[:members[archive.MANIFEST].offset]
    cases["cut before the seal"] = whole[:members[archive.SEAL].offset]
    cases["a byte of the database"] = flip(database + 5000)
    cases["a byte of a document"] = flip(members[next(
        name for name in members if name.startswith("documents/"))].offset_data)
    cases["a byte of a header"] = flip(members[archive.SECRET].offset + 3)
    cases["a byte of the manifest"] = flip(manifest + 40)
    cases["a byte of the seal"] = flip(seal + 3)
    secret = members[archive.SECRET]
    cases["a byte of a file's padding"] = flip(secret.offset_data + secret.size + 7)
    cases["a byte of the end blocks"] = flip(len(whole) - 100)
    extra = io.BytesIO()
    with tarfile.open(fileobj=extra, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, member in members.items():
            with tarfile.open(fileobj=io.BytesIO(whole)) as source:
                contents = source.extractfile(name)
                tar.addfile(member, contents)
            if name == archive.SECRET:
                info = tarfile.TarInfo("documents/zz/zzzzzzzzzzzz")
                info.size = 4
                tar.addfile(info, io.BytesIO(b"evil"))
    cases["a file added"] = extra.getvalue()
    link = io.BytesIO()
    with tarfile.open(fileobj=link, mode="w") as tar:
        info = tarfile.TarInfo(archive.SECRET)
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    cases["a link"] = link.getvalue()
    cases["empty"] = b""
    cases["not a tar"] = b"hello, this is not a backup\n" * 100
    return cases


def test_damaged_archives_are_refused_and_nothing_is_written(env, old, tmp_path, monkeypatch,
                                                            capsys):
    seed(desk_settings(old))
    assert main(["backup", str(tmp_path / "desk.tar")]) == 0
    new = tmp_path / "new"
    monkeypatch.setenv("SUPPORT_DATA_DIR", str(new))
    for how, damaged in _damages((tmp_path / "desk.tar").read_bytes(), tmp_path).items():
        path = tmp_path / "damaged.tar"
        path.write_bytes(damaged)
        capsys.readouterr()
        assert main(["backup", "--verify", str(path)]) == 1, how
        assert "is damaged" in capsys.readouterr().err, how
        assert main(["restore", str(path)]) == 1, how
        said = capsys.readouterr().err
        assert "is damaged" in said and "Nothing was written" in said, (how, said)
        assert not new.exists(), how
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".new")] == [], how


def test_restore_writes_only_into_an_empty_data_directory(env, old, tmp_path, monkeypatch,
                                                          capsys):
    seed(desk_settings(old))
    assert main(["backup", str(tmp_path / "desk.tar")]) == 0
    # Into the desk itself, which is not empty.
    before = files_under(old)
    assert main(["restore", str(tmp_path / "desk.tar")]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert files_under(old) == before
    # An empty folder is fine; a database elsewhere that exists is not overwritten.
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("SUPPORT_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("SUPPORT_DATABASE_URL", f"sqlite://{old / 'support.sqlite3'}")
    assert main(["restore", str(tmp_path / "desk.tar")]) == 1
    assert "there is already a database" in capsys.readouterr().err
    assert list((tmp_path / "empty").iterdir()) == []
    monkeypatch.delenv("SUPPORT_DATABASE_URL")
    assert support("restore", str(tmp_path / "desk.tar"))[0] == 0
    # A backup never replaces a file; into a folder, it names itself by its time.
    assert main(["backup", str(tmp_path / "desk.tar")]) == 1
    assert "exists" in capsys.readouterr().err
    (tmp_path / "nightly").mkdir()
    assert main(["backup", str(tmp_path / "nightly")]) == 0
    [made] = (tmp_path / "nightly").iterdir()
    assert made.name.startswith("desk-20") and made.suffix == ".tar"
    assert main(["backup", "--verify", str(tmp_path / "nowhere.tar")]) == 1
    assert "there is no file" in capsys.readouterr().err


def test_an_archive_from_elsewhere_is_refused_with_what_to_do(tmp_path):
    settings = desk_settings(tmp_path / "new")
    database = snapshot.sqlite_path(settings.database_url)
    postgres = Manifest(created="", database="postgresql", documents="disk", scope="full")
    with pytest.raises(desk.Refused, match="PostgreSQL's tools"):
        desk._fits(settings, postgres, database)
    bucket = Manifest(created="", database="sqlite", documents="bucket", scope="full")
    with pytest.raises(desk.Refused, match="SUPPORT_STORAGE_URL"):
        desk._fits(settings, bucket, database)
    newer = Manifest(created="", database="sqlite", documents="disk", scope="full",
                     migrations=["9999_from_the_future"])
    with pytest.raises(desk.Refused, match="newer version"):
        desk._fits(settings, newer, database)


# --- migrate ------------------------------------------------------------------------------


class Upgrades:
    """Stands in for the desk's next versions: each ``support migrate`` finds one more
    migration to apply, and applying it adds a table (or fails, when told to)."""

    def __init__(self, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
        self.settings, self.names, self.fail = settings, list(snapshot.known_migrations()), False
        monkeypatch.setattr(snapshot, "known_migrations", lambda: list(self.names))
        monkeypatch.setattr(db, "migrate", self.migrate)

    def next_version(self) -> None:
        self.names.append(f"{9000 + len(self.names)}_upgrade")

    async def migrate(self, database_url: str) -> None:
        path = snapshot.sqlite_path(database_url)
        assert path is not None
        if self.names[-1] in snapshot.migrations_of(path):
            return  # up to date
        connection = sqlite3.connect(path)
        try:
            connection.execute(f"CREATE TABLE upgrade_{len(self.names)} (id INTEGER)")
            if self.fail:
                raise RuntimeError("the upgrade broke half way")
            connection.execute("INSERT INTO tortoise_migrations (app, name, applied_at) "
                               "VALUES ('models', ?, '2026-12-06')", (self.names[-1],))
            connection.commit()
        finally:
            connection.close()


def _tables(settings: Settings) -> set[str]:
    return {name for (name,) in rows(settings, "SELECT name FROM sqlite_master "
                                               "WHERE type = 'table'")}


def test_migrate_backs_sqlite_up_first_keeps_three_and_undo_puts_it_back(env, old, capsys,
                                                                         monkeypatch):
    settings = desk_settings(old)
    seed(settings)
    upgrades = Upgrades(settings, monkeypatch)
    assert main(["migrate"]) == 0  # nothing to apply: no backup
    assert not (old / "backups").exists()
    for _ in range(4):
        upgrades.next_version()
        assert main(["migrate"]) == 0
        said = capsys.readouterr().err
        assert "Backed the database up first" in said
    assert {f"upgrade_{len(upgrades.names) - n}" for n in range(4)} <= _tables(settings)
    backups = sorted((old / "backups").iterdir())
    assert len(backups) == 3 and all(p.name.startswith("before-migrate-") for p in backups)

    # The next upgrade fails half way: the operator is told how to undo it, and can.
    upgrades.next_version()
    upgrades.fail = True
    assert main(["migrate"]) == 1
    said = capsys.readouterr().err
    assert "the upgrade failed (RuntimeError: the upgrade broke half way)" in said
    assert "`support migrate --undo`" in said
    assert f"upgrade_{len(upgrades.names)}" in _tables(settings)  # half done
    assert main(["migrate", "--undo"]) == 0
    assert "Put back the database" in capsys.readouterr().err
    assert f"upgrade_{len(upgrades.names)}" not in _tables(settings)  # as before it
    assert f"upgrade_{len(upgrades.names) - 1}" in _tables(settings)
    assert len(rows(settings, "SELECT id FROM application")) == 3
    assert list(old.glob("support.sqlite3.undone-*"))  # the broken one, kept
    # A database-only backup is not a desk to restore into an empty directory.
    with pytest.raises(desk.Refused, match="migrate --undo"):
        desk._fits(settings, archive.read(backups[-1]), None)


def test_migrate_undo_with_nothing_to_undo_says_so(env, old, capsys):
    seed(desk_settings(old))
    assert main(["migrate", "--undo"]) == 1
    assert "there is no backup from `support migrate`" in capsys.readouterr().err


# --- what the operator sees ---------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_one_line_on_a_terminal_and_writes_few_lines_to_a_log(monkeypatch):
    clock = iter(range(0, 1000))
    monkeypatch.setattr("support.cli.backups.progress.time.monotonic", lambda: next(clock))
    terminal = _Terminal()
    shown = Progress(terminal)
    shown.begin("Documents", 4_000_000)
    for _ in range(4):
        shown.add(1_000_000)
    shown.say("Wrote desk.tar")
    out = terminal.getvalue()
    assert "\r\x1b[K" in out and "Documents: 50% 2.0 MB of 4.0 MB" in out
    assert "Documents: 100% 4.0 MB of 4.0 MB" in out and out.endswith("\nWrote desk.tar\n")

    log = io.StringIO()
    quiet = Progress(log)
    quiet.begin("Documents", 4_000_000)
    for _ in range(4):
        quiet.add(1_000_000)
    assert log.getvalue() == "Documents: 4.0 MB\n"  # one line a stage, then every 30 s


def test_the_manifest_counts_what_the_database_held(env, old, tmp_path):
    settings = desk_settings(old)
    seed(settings)
    manifest = desk.take(settings, tmp_path / "desk.tar", Progress(io.StringIO(), quiet=True))
    assert manifest.counts["application"] == 3 and manifest.counts["document"] == 2
    assert manifest.migrations == snapshot.known_migrations()
    with tarfile.open(tmp_path / "desk.tar") as tar:
        names = tar.getnames()
        text = tar.extractfile(archive.MANIFEST).read()  # type: ignore[union-attr]
    assert names[-2:] == [archive.MANIFEST, archive.SEAL]
    assert json.loads(text)["files"][archive.SECRET][0] == len(settings.secret_key)
    assert os.stat(tmp_path / "desk.tar").st_size > 0
    with pytest.raises(Damaged):
        archive.read(tmp_path / "nothing.tar")
