"""The profile file: versioned, written atomically, never overwritten when unreadable."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from console.profile import PROFILE_VERSION, ProfileData, ProfileError, load_profile, save_profile

FINGERPRINT = "SHA256:" + ":".join(["AB"] * 32)


def test_a_new_directory_has_an_empty_profile(tmp_path):
    assert load_profile(tmp_path) == ProfileData()


def test_round_trip_with_an_explicit_version(tmp_path):
    data = ProfileData(
        ca_file=Path("/etc/kluis/ca.pem"),
        ca_fingerprint=FINGERPRINT,
        servers=("https://a:8443", "https://b:8443"),
        last_server="https://b:8443",
    )
    save_profile(tmp_path, data)
    assert load_profile(tmp_path) == data
    stored = json.loads((tmp_path / "profile.json").read_text())
    assert stored["version"] == PROFILE_VERSION
    assert stored["ca"] == {"path": "/etc/kluis/ca.pem", "fingerprint": FINGERPRINT}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["profile.json"]
    assert (tmp_path / "profile.json").stat().st_mode & 0o077 == 0


def test_a_profile_from_a_newer_console_is_refused(tmp_path):
    (tmp_path / "profile.json").write_text(json.dumps({"version": PROFILE_VERSION + 1, "keys": "new"}))
    with pytest.raises(ProfileError, match=f"newer Kluis console \\(format {PROFILE_VERSION + 1}"):
        load_profile(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "is not valid JSON"),
        (b"[]", "has no format version"),
        (json.dumps({"servers": []}).encode(), "has no format version"),
        (json.dumps({"version": 1, "ca": {"path": "x", "fingerprint": "md5"}}).encode(), "ca.fingerprint"),
        (json.dumps({"version": 1, "surprise": True}).encode(), "surprise"),
    ],
)
def test_an_unusable_profile_is_named_and_left_alone(tmp_path, content, message):
    path = tmp_path / "profile.json"
    path.write_bytes(content)
    with pytest.raises(ProfileError, match=message) as failure:
        load_profile(tmp_path)
    assert str(path) in str(failure.value)
    assert path.read_bytes() == content


def test_a_failed_write_leaves_the_old_profile_and_no_debris(tmp_path, monkeypatch):
    save_profile(tmp_path, ProfileData(servers=("https://a:8443",)))
    before = (tmp_path / "profile.json").read_bytes()

    def disk_full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("console.files.os.fsync", disk_full)
    with pytest.raises(ProfileError, match="cannot be written: No space left on device"):
        save_profile(tmp_path, ProfileData(servers=("https://b:8443",)))
    assert (tmp_path / "profile.json").read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["profile.json"]
