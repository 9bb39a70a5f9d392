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
