import pytest

from missiva_platform.config import ConfigError, ServiceSettings, load_settings, read_secret_file

GOOD = {
    "DATABASE_URL": "postgresql://u:p@127.0.0.1:5432/consent",
    "NATS_URL": "nats://127.0.0.1:4222",
}


def test_settings_come_typed_from_the_environment():
    settings = load_settings(ServiceSettings, {**GOOD, "GRPC_PORT": "50052", "DB_POOL_MAX": "4"})
    assert settings.grpc_port == 50052
    assert settings.db_pool_max == 4
    with pytest.raises(AttributeError):
        settings.grpc_port = 1  # frozen


def test_a_missing_required_variable_is_named():
    with pytest.raises(ConfigError, match=r"^configuration error: DATABASE_URL is required"):
        load_settings(ServiceSettings, {})


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://host:notaport/db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://host:5432/"}, "DATABASE_URL"),
        ({"NATS_URL": "http://x"}, "NATS_URL"),
        ({"GRPC_PORT": "fifty"}, "GRPC_PORT"),
        ({"GRPC_PORT": "70000"}, "GRPC_PORT"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ],
)
def test_a_malformed_value_is_one_line_naming_the_variable(env, variable):
    with pytest.raises(ConfigError) as err:
        load_settings(ServiceSettings, {**GOOD, **env})
    assert err.value.variable == variable
    assert variable in str(err.value)
    assert "\n" not in str(err.value)


def test_an_unreadable_secret_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="TOKEN_KEYRING_FILE points to an unreadable file"):
        read_secret_file("TOKEN_KEYRING_FILE", str(tmp_path / "absent"))
