"""Settings: defaults, TOML file, KLUIS_* environment and flags, in that order."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import ConfigError, Settings, describe_settings, load_settings, parse_listen_address


def test_defaults_are_safe():
    settings = load_settings(environ={})
    assert settings.max_header_bytes == 16 * 1024
    assert settings.max_body_bytes == 8 * 1024 * 1024
    assert settings.listen_address == ("127.0.0.1", 8443)
    assert settings.metrics_address == ("127.0.0.1", 9464)
    assert settings.uses_development_tls
    assert settings.database_url is None


def test_file_then_environment_then_overrides(tmp_path: Path):
    config = tmp_path / "kluis.toml"
    config.write_text('listen = "0.0.0.0:9000"\nmax_connections = 50\nlog_level = "debug"\n')
    settings = load_settings(
        config_file=config,
        environ={"KLUIS_MAX_CONNECTIONS": "70", "KLUIS_TLS_SERVER_NAMES": "kluis.bank.example, 10.0.0.5"},
        overrides={"listen": "127.0.0.1:7000", "data_dir": None},
    )
    assert settings.listen == "127.0.0.1:7000"
    assert settings.max_connections == 70
    assert settings.log_level == "DEBUG"
    assert settings.tls_server_names == ["kluis.bank.example", "10.0.0.5"]


def test_config_file_from_environment(tmp_path: Path):
    config = tmp_path / "kluis.toml"
    config.write_text("keepalive_timeout = 3.5\n")
    assert load_settings(environ={"KLUIS_CONFIG": str(config)}).keepalive_timeout == 3.5


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"KLUIS_LISTEN": "nowhere"}, "listen"),
        ({"KLUIS_MAX_BODY_BYTES": "12"}, "max_body_bytes"),
        ({"KLUIS_HEADER_TIMEOUT": "-1"}, "header_timeout"),
        ({"KLUIS_LOG_LEVEL": "chatty"}, "log_level"),
    ],
)
def test_bad_values_name_the_setting(environ, expected):
    with pytest.raises(ConfigError, match=expected):
        load_settings(environ=environ)


def test_unknown_setting_in_file_is_refused(tmp_path: Path):
    config = tmp_path / "kluis.toml"
    config.write_text("max_conections = 5\n")
    with pytest.raises(ConfigError, match="max_conections"):
        load_settings(config_file=config, environ={})


def test_broken_toml_and_missing_file_are_clear(tmp_path: Path):
    broken = tmp_path / "broken.toml"
    broken.write_text("listen = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config_file=broken, environ={})
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(config_file=tmp_path / "absent.toml", environ={})


def test_database_url_defaults_to_sqlite_in_the_data_dir(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    assert settings.effective_database_url() == f"sqlite+aiosqlite:///{tmp_path.resolve()}/kluis.db"
    postgres = Settings(database_url="postgresql://kluis@db.internal/kluis")
    assert postgres.effective_database_url() == "postgresql+psycopg://kluis@db.internal/kluis"


def test_every_setting_is_described():
    for variable, _, description in describe_settings():
        assert variable.startswith("KLUIS_")
        assert description


def test_readme_documents_every_setting():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [variable for variable, _, _ in describe_settings() if variable not in readme]
    assert not missing, f"README.md does not document {missing}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("127.0.0.1:80", ("127.0.0.1", 80)), ("[::1]:8443", ("::1", 8443)), ("host:0", ("host", 0))],
)
def test_listen_addresses(value, expected):
    assert parse_listen_address(value) == expected


@pytest.mark.parametrize("value", ["8443", "host:", ":80", "host:99999", "[::1]8443"])
def test_bad_listen_addresses(value):
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen_address(value)
