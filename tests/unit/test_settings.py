from motion_grpc.store import RedisSettings


def test_url_wins_over_motion_variables() -> None:
    env = {"MOTION_REDIS_URL": "redis://a:1/2", "MOTION_REDIS_HOST": "b"}
    settings = RedisSettings.from_env(env)
    assert settings is not None and settings.url == "redis://a:1/2"


def test_motion_host_port_db_password() -> None:
    env = {
        "MOTION_REDIS_HOST": "db.local",
        "MOTION_REDIS_PORT": "6380",
        "MOTION_REDIS_DB": "3",
        "MOTION_REDIS_PASSWORD": "p@ss/word",
    }
    settings = RedisSettings.from_env(env)
    assert settings is not None
    assert settings.url == "redis://:p%40ss%2Fword@db.local:6380/3"
    assert not settings.is_cluster


def test_a_motion_port_alone_means_localhost_as_in_motion() -> None:
    settings = RedisSettings.from_env({"MOTION_REDIS_PORT": "16402"})
    assert settings is not None and settings.url == "redis://localhost:16402/0"
    settings = RedisSettings.from_env({"MOTION_REDIS_DB": "2"})
    assert settings is not None and settings.url == "redis://localhost:6379/2"


def test_unset_means_embedded_default() -> None:
    assert RedisSettings.from_env({}) is None


def test_cluster_scheme() -> None:
    assert RedisSettings("redis+cluster://h:7000").is_cluster


def test_motion_init_s_none_password_is_no_password_and_ssl_true_is_tls() -> None:
    """`motion init` writes MOTION_REDIS_PASSWORD: None and MOTION_REDIS_SSL: False; Motion reads
    "None" as no password and only "True" as TLS."""
    env = {"MOTION_REDIS_HOST": "db", "MOTION_REDIS_PASSWORD": "None", "MOTION_REDIS_SSL": "False"}
    settings = RedisSettings.from_env(env)
    assert settings is not None and settings.url == "redis://db:6379/0"
    settings = RedisSettings.from_env({**env, "MOTION_REDIS_PASSWORD": "s3cret", "MOTION_REDIS_SSL": "True"})
    assert settings is not None and settings.url == "rediss://:s3cret@db:6379/0"
    settings = RedisSettings.from_env({"MOTION_REDIS_SSL": "True"})
    assert settings is not None and settings.url == "rediss://localhost:6379/0"


def test_motion_init_s_defaults_alone_leave_the_embedded_redis() -> None:
    assert RedisSettings.from_env({"MOTION_REDIS_PASSWORD": "None", "MOTION_REDIS_SSL": "False"}) is None
