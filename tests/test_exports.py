"""Exports are written the careful way (settlement.exports.write_file / export_directory):
no overwrite without force, no symlink followed, at most the one directory asked for, 0600,
one line for a wrong path."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from deploy.cli import main
from settlement.exports import ExportError, export_directory, write_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_is_private_and_complete(tmp_path: Path) -> None:
    target = write_file(tmp_path / "a.json", b"{}\n")
    assert target.read_bytes() == b"{}\n"
    assert _mode(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]  # no temporary file left


def test_an_existing_file_is_kept_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    target.write_bytes(b"old")
    with pytest.raises(ExportError, match=r"a\.json exists; use --force to overwrite it"):
        write_file(target, b"new")
    assert target.read_bytes() == b"old"
    write_file(target, b"new", force=True)
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o600


def test_a_symlink_is_never_followed_even_with_force(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    link = tmp_path / "out.parquet"
    link.symlink_to(victim)
    for force in (False, True):
        with pytest.raises(ExportError, match="symbolic link"):
            write_file(link, b"x", force=force)
    assert victim.read_bytes() == b"precious"


def test_a_directory_in_place_of_the_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "out.parquet").mkdir()
    with pytest.raises(ExportError, match="is a directory, not a file"):
        write_file(tmp_path / "out.parquet", b"x", force=True)


def test_a_missing_directory_is_not_created_for_a_file(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="does not exist"):
        write_file(tmp_path / "no" / "such" / "out.parquet", b"x")
    assert not (tmp_path / "no").exists()


def test_export_directory_creates_only_the_one_asked_for(tmp_path: Path) -> None:
    made = export_directory(tmp_path / "invoices")
    assert made.is_dir() and _mode(made) == 0o700
    assert export_directory(made) == made  # an existing directory is fine
    with pytest.raises(ExportError, match=r"parent .* is not an existing directory"):
        export_directory(tmp_path / "a" / "b")
    assert not (tmp_path / "a").exists()


def test_export_directory_refuses_a_symlink_and_a_file(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    with pytest.raises(ExportError, match="symbolic link"):
        export_directory(tmp_path / "link")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="exists and is not a directory"):
        export_directory(tmp_path / "file")


def test_the_cli_refuses_a_wrong_path_in_one_line_before_touching_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An unreachable database: the path is refused before any connection is tried.
    monkeypatch.setenv("ELFLOW_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    from schemas.settings import settings

    settings.cache_clear()
    (tmp_path / "file").write_text("x")
    code = main(["invoice", "--period", "2026-10", "--export-dir", str(tmp_path / "file")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        f"elflow: {tmp_path / 'file'} exists and is not a directory"
    ]
    settings.cache_clear()


def test_an_impossible_file_name_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="File name too long"):
        write_file(tmp_path / ("x" * 300), b"x")
