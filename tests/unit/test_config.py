"""Provider URLs, ``from_env`` precedence, TOML profiles, base-URL checks, ``with_options`` and lazy I/O."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from PIL import Image

from visualsearch_sdk import ConfigurationError, VisualSearch
from visualsearch_sdk._config import ClientOptions, check_base_url, parse_provider_url, resolve_environment
from visualsearch_sdk.providers.local import IN_PROCESS_URL, LocalAdapter


def _local(client: VisualSearch) -> LocalAdapter:
    assert isinstance(client.adapter, LocalAdapter)
    return client.adapter


def _write_profiles(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


PROFILES = """
[profiles.dev]
url = "local://127.0.0.1:7001"
timeout = 3.5
max_retries = 5

[profiles.other]
url = "local://127.0.0.1:7002"
"""


# -- parse_provider_url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "provider", "host", "port", "path"),
    [
        ("memory://", "memory", "", None, ""),
        ("local://", "local", "", None, ""),
        ("local:///abs/index", "local", "", None, "/abs/index"),
        ("local:rel/index", "local", "", None, "rel/index"),
        ("local://./rel", "local", ".", None, "/rel"),
        ("local://127.0.0.1:8765", "local", "127.0.0.1", 8765, ""),
        ("LOCAL://127.0.0.1:8765", "local", "127.0.0.1", 8765, ""),
    ],
)
def test_parse_provider_url_parts(url: str, provider: str, host: str, port: int | None, path: str) -> None:
    parsed = parse_provider_url(url)
    assert (parsed.provider, parsed.host, parsed.port, parsed.path) == (provider, host, port, path)
    assert parsed.username is None and parsed.password is None


def test_parse_provider_url_credentials_are_secret_and_decoded() -> None:
    parsed = parse_provider_url("local://:t%40k@127.0.0.1:1")
    assert parsed.username is None
    assert parsed.password is not None and parsed.password.get_secret_value() == "t@k"
    assert (parsed.host, parsed.port) == ("127.0.0.1", 1)


def test_parse_provider_url_params_and_flags() -> None:
    parsed = parse_provider_url("local://?base_url=http://127.0.0.1:9000&multi_view=true")
    assert parsed.param("base_url") == "http://127.0.0.1:9000"
    assert parsed.flag("multi_view") is True
    assert parsed.flag("allow_http") is None
    assert parse_provider_url("local://?multi_view=off").flag("multi_view") is False


@pytest.mark.parametrize("bad", ["maybe", "2", ""])
def test_bad_flag_is_configuration_error(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="multi_view"):
        parse_provider_url(f"local://?multi_view={bad}").flag("multi_view")
    with pytest.raises(ConfigurationError, match="multi_view"):
        VisualSearch.from_url(f"memory://?multi_view={bad}")


def test_malformed_port_is_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="malformed"):
        parse_provider_url("local://127.0.0.1:notaport")


def test_relative_form_parses_params() -> None:
    parsed = parse_provider_url("local:rel?multi_view=true")
    assert parsed.path == "rel"
    assert parsed.flag("multi_view") is True


# -- what the local adapter makes of each URL ------------------------------------------------------


def test_memory_and_local_are_in_process_and_in_memory() -> None:
    for url in ("memory://", "local://", "memory", "local"):
        with VisualSearch.from_url(url) as client:
            adapter = _local(client)
            assert adapter.options.path is None
            assert adapter.options.base_url is None
            assert str(adapter.base_url) == IN_PROCESS_URL + "/"


def test_absolute_path(tmp_path: Path) -> None:
    target = tmp_path / "idx"
    with VisualSearch.from_url(f"local://{target}") as client:
        assert _local(client).options.path == str(target)


def test_relative_paths_are_kept_relative() -> None:
    with VisualSearch.from_url("local:rel/idx") as client:
        assert _local(client).options.path == "rel/idx"
    with VisualSearch.from_url("local://./rel") as client:
        path = _local(client).options.path
        assert path is not None and not Path(path).is_absolute() and Path(path) == Path("rel")


def test_memory_refuses_a_path() -> None:
    with pytest.raises(ConfigurationError, match="memory://"):
        VisualSearch.from_url("memory:///some/path")


def test_served_engine_url() -> None:
    with VisualSearch.from_url("local://127.0.0.1:8765") as client:
        adapter = _local(client)
        assert adapter.options.base_url == "http://127.0.0.1:8765"
        assert adapter.options.path is None
        assert adapter.options.token is None
        assert adapter.base_url == httpx.URL("http://127.0.0.1:8765/")


def test_served_engine_token_in_url() -> None:
    with VisualSearch.from_url("local://:tok@127.0.0.1:1") as client:
        token = _local(client).options.token
        assert token is not None and token.get_secret_value() == "tok"
        assert _local(client).options.base_url == "http://127.0.0.1:1"


def test_served_engine_url_takes_no_path() -> None:
    with pytest.raises(ConfigurationError, match="no path"):
        VisualSearch.from_url("local://127.0.0.1:8765/some/path")


def test_base_url_param() -> None:
    with VisualSearch.from_url("local://?base_url=http://127.0.0.1:9000") as client:
        assert _local(client).base_url == httpx.URL("http://127.0.0.1:9000/")


def test_base_url_param_to_public_http_host_refused_unless_allowed() -> None:
    with pytest.raises(ConfigurationError, match="allow_http"):
        VisualSearch.from_url("local://?base_url=http://search.example.com")
    with VisualSearch.from_url("local://?base_url=http://search.example.com&allow_http=true") as client:
        assert client.client_options.allow_http is True
    with VisualSearch.from_url("local://?base_url=http://search.example.com", allow_http=True) as client:
        assert _local(client).base_url.host == "search.example.com"


def test_multi_view_flag() -> None:
    with VisualSearch.from_url("memory://?multi_view=true") as client:
        assert _local(client).options.multi_view is True
    with VisualSearch.from_url("memory://") as client:
        assert _local(client).options.multi_view is False


def test_env_token_used_when_url_has_none() -> None:
    environ = {"VISUALSEARCH_LOCAL_TOKEN": "from-env"}
    with VisualSearch.from_url("local://127.0.0.1:9", environ=environ) as client:
        token = _local(client).options.token
        assert token is not None and token.get_secret_value() == "from-env"
    with VisualSearch.from_url("local://:from-url@127.0.0.1:9", environ=environ) as client:
        token = _local(client).options.token
        assert token is not None and token.get_secret_value() == "from-url"


def test_unknown_provider_scheme() -> None:
    with pytest.raises(ConfigurationError, match="unknown provider 'nope'"):
        VisualSearch.from_url("nope://")


def test_http_client_and_transport_are_exclusive() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    with httpx.Client() as http, pytest.raises(ConfigurationError, match="not both"):
        VisualSearch.from_url("memory://", http_client=http, transport=transport)


# -- check_base_url ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com",
        "https://api.example.com:8443/v1",
        "http://127.0.0.1:8765",
        "http://127.5.0.1",
        "http://localhost:1",
        "http://[::1]:8765",
    ],
)
def test_check_base_url_accepts(url: str) -> None:
    assert check_base_url(url, allow_http=False).host


@pytest.mark.parametrize(
    "url", ["http://api.example.com", "http://10.0.0.5:80", "http://localhost.example.com", "http://8.8.8.8"]
)
def test_check_base_url_refuses_public_http_unless_allowed(url: str) -> None:
    with pytest.raises(ConfigurationError, match="refusing plain http"):
        check_base_url(url, allow_http=False)
    assert check_base_url(url, allow_http=True).scheme == "http"


@pytest.mark.parametrize("url", ["ftp://example.com", "example.com", "https://", "file:///etc/passwd"])
def test_check_base_url_refuses_non_http(url: str) -> None:
    with pytest.raises(ConfigurationError):
        check_base_url(url, allow_http=True)


# -- from_env precedence -----------------------------------------------------------------------------


def test_from_env_default_is_in_memory() -> None:
    found = resolve_environment({})
    assert (found.url, found.source, dict(found.options)) == ("memory://", "default", {})
    with VisualSearch.from_env(environ={}) as client:
        assert _local(client).options.path is None
        assert _local(client).options.base_url is None
        assert client.client_options == ClientOptions()


def test_from_env_url() -> None:
    with VisualSearch.from_env(environ={"VISUALSEARCH_URL": "local://127.0.0.1:7000"}) as client:
        assert _local(client).options.base_url == "http://127.0.0.1:7000"


def test_from_env_timeout_and_max_retries() -> None:
    environ = {"VISUALSEARCH_TIMEOUT": "7", "VISUALSEARCH_MAX_RETRIES": "4"}
    with VisualSearch.from_env(environ=environ) as client:
        assert client.client_options.timeout == httpx.Timeout(7.0)
        assert client.client_options.max_retries == 4
        assert client.retry.max_retries == 4


def test_explicit_kwargs_beat_environment() -> None:
    environ = {
        "VISUALSEARCH_URL": "local://127.0.0.1:7000",
        "VISUALSEARCH_TIMEOUT": "7",
        "VISUALSEARCH_MAX_RETRIES": "4",
    }
    with VisualSearch.from_env(
        environ=environ, timeout=2, max_retries=0, base_url="http://127.0.0.1:7999"
    ) as client:
        assert client.client_options.timeout == httpx.Timeout(2.0)
        assert client.client_options.max_retries == 0
        assert _local(client).base_url == httpx.URL("http://127.0.0.1:7999/")


def test_profile_from_cwd_file() -> None:
    _write_profiles(Path.cwd() / "visualsearch.toml", PROFILES)
    found = resolve_environment({"VISUALSEARCH_PROFILE": "dev"})
    assert found.source == "profile dev"
    with VisualSearch.from_env(environ={"VISUALSEARCH_PROFILE": "dev"}) as client:
        assert _local(client).options.base_url == "http://127.0.0.1:7001"
        assert client.client_options.timeout == httpx.Timeout(3.5)
        assert client.client_options.max_retries == 5


def test_profile_argument_and_config_variable(tmp_path: Path) -> None:
    config = _write_profiles(tmp_path / "elsewhere.toml", PROFILES)
    environ = {"VISUALSEARCH_CONFIG": str(config)}
    with VisualSearch.from_env(environ=environ, profile="other") as client:
        assert _local(client).options.base_url == "http://127.0.0.1:7002"


def test_profile_in_home_config(tmp_path: Path) -> None:
    folder = tmp_path / "home" / ".config" / "visualsearch"
    folder.mkdir(parents=True)
    _write_profiles(folder / "visualsearch.toml", PROFILES)
    found = resolve_environment({"HOME": str(tmp_path / "home")}, profile="other")
    assert found.url == "local://127.0.0.1:7002"


def test_env_url_beats_env_profile() -> None:
    _write_profiles(Path.cwd() / "visualsearch.toml", PROFILES)
    environ = {"VISUALSEARCH_PROFILE": "dev", "VISUALSEARCH_URL": "local://127.0.0.1:7555"}
    found = resolve_environment(environ)
    assert (found.url, found.source) == ("local://127.0.0.1:7555", "VISUALSEARCH_URL")


def test_explicit_profile_argument_beats_env_url() -> None:
    # profile= is an explicit argument, so (STYLE §4) it wins over VISUALSEARCH_URL.
    _write_profiles(Path.cwd() / "visualsearch.toml", PROFILES)
    found = resolve_environment({"VISUALSEARCH_URL": "local://127.0.0.1:7555"}, profile="other")
    assert (found.url, found.source) == ("local://127.0.0.1:7002", "profile other")


def test_env_options_beat_profile_options() -> None:
    _write_profiles(Path.cwd() / "visualsearch.toml", PROFILES)
    environ = {"VISUALSEARCH_PROFILE": "dev", "VISUALSEARCH_MAX_RETRIES": "1"}
    with VisualSearch.from_env(environ=environ) as client:
        assert client.client_options.max_retries == 1
        assert client.client_options.timeout == httpx.Timeout(3.5)


def test_unknown_profile_keys_are_named() -> None:
    _write_profiles(Path.cwd() / "visualsearch.toml", '[profiles.dev]\nurl = "memory://"\ncolour = "red"\n')
    with pytest.raises(ConfigurationError, match="unknown keys: colour"):
        VisualSearch.from_env(environ={"VISUALSEARCH_PROFILE": "dev"})


def test_missing_profile_lists_known_ones() -> None:
    _write_profiles(Path.cwd() / "visualsearch.toml", PROFILES)
    with pytest.raises(ConfigurationError, match=r"no profile 'prod'.*profiles: dev, other"):
        VisualSearch.from_env(environ={"VISUALSEARCH_PROFILE": "prod"})


def test_profile_without_file() -> None:
    with pytest.raises(ConfigurationError, match=r"no visualsearch\.toml was found"):
        VisualSearch.from_env(environ={}, profile="dev")


def test_config_variable_to_missing_file(tmp_path: Path) -> None:
    environ = {"VISUALSEARCH_PROFILE": "dev", "VISUALSEARCH_CONFIG": str(tmp_path / "missing.toml")}
    with pytest.raises(ConfigurationError, match=r"missing\.toml does not exist"):
        VisualSearch.from_env(environ=environ)


def test_unreadable_toml() -> None:
    _write_profiles(Path.cwd() / "visualsearch.toml", "[profiles.dev\nurl = ")
    with pytest.raises(ConfigurationError, match="cannot read"):
        VisualSearch.from_env(environ={"VISUALSEARCH_PROFILE": "dev"})


def test_profile_must_be_a_table() -> None:
    _write_profiles(Path.cwd() / "visualsearch.toml", '[profiles]\ndev = "memory://"\n')
    with pytest.raises(ConfigurationError, match="must be a table"):
        VisualSearch.from_env(environ={"VISUALSEARCH_PROFILE": "dev"})


def test_invalid_env_value_is_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="max_retries"):
        VisualSearch.from_env(environ={"VISUALSEARCH_MAX_RETRIES": "many"})


@pytest.mark.parametrize("value", [-1, 100])
def test_out_of_range_max_retries_is_refused(value: int) -> None:
    with pytest.raises(ConfigurationError):
        VisualSearch.from_url("memory://", max_retries=value).close()


# -- with_options ------------------------------------------------------------------------------------


def test_with_options_returns_a_new_client() -> None:
    with VisualSearch.from_url("local://127.0.0.1:9", timeout=10, max_retries=1) as original:
        with original.with_options(timeout=2, max_retries=4) as changed:
            assert changed is not original
            assert isinstance(changed, VisualSearch)
            assert changed.client_options.timeout == httpx.Timeout(2.0)
            assert changed.client_options.max_retries == 4
            assert changed.retry.max_retries == 4
            assert _local(changed).options.base_url == "http://127.0.0.1:9"
        assert original.client_options.timeout == httpx.Timeout(10.0)
        assert original.client_options.max_retries == 1
        assert original.retry.max_retries == 1


def test_with_options_rejects_bad_change() -> None:
    with VisualSearch.from_url("memory://") as original, pytest.raises(ConfigurationError):
        original.with_options(base_url="http://search.example.com")


def test_with_options_on_memory_keeps_the_same_index() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(buffer, "JPEG")
    with VisualSearch.from_url("memory://") as original:
        assert original.index([{"id": "a", "image": buffer.getvalue()}]).ok
        with original.with_options(timeout=5) as changed:
            assert changed.count() == 1


# -- constructors do no I/O --------------------------------------------------------------------------


def test_constructor_creates_no_directory_until_first_call(tmp_path: Path) -> None:
    target = tmp_path / "nonexistent" / "deep" / "path"
    client = VisualSearch.from_url(f"local://{target}")
    try:
        assert not (tmp_path / "nonexistent").exists()
        assert repr(client)  # describing it does no I/O either
        assert not (tmp_path / "nonexistent").exists()
        assert client.count() == 0
        assert target.exists()
    finally:
        client.close()


def test_closing_an_unused_client_does_no_io(tmp_path: Path) -> None:
    target = tmp_path / "never"
    VisualSearch.from_url(f"local://{target}").close()
    assert not target.exists()


def test_served_url_to_closed_port_constructs() -> None:
    client = VisualSearch.from_url("local://127.0.0.1:9")
    try:
        assert client.provider == "local"
        assert "127.0.0.1:9" in repr(client)
    finally:
        client.close()


def test_the_urls_allow_http_beats_the_environment_and_the_profile_only_fills_a_gap() -> None:
    from visualsearch_sdk import VisualSearch

    env = {
        "VISUALSEARCH_XIMILAR_TOKEN": "t",
        "VISUALSEARCH_URL": "ximilar:///c?service=products&allow_http=false",
        "VISUALSEARCH_ALLOW_HTTP": "1",
    }
    assert VisualSearch.from_env(env).client_options.allow_http is False  # the URL says so
    env["VISUALSEARCH_URL"] = "ximilar:///c?service=products"
    assert VisualSearch.from_env(env).client_options.allow_http is True  # the URL is silent


def test_a_bad_environment_value_names_its_variable_never_its_value() -> None:
    from visualsearch_sdk import ConfigurationError, VisualSearch

    with pytest.raises(ConfigurationError, match=r"VISUALSEARCH_TIMEOUT") as caught:
        VisualSearch.from_env({"VISUALSEARCH_TIMEOUT": "not-a-number-s3cr3t"})
    assert "s3cr3t" not in str(caught.value) and "_GlobalSettings" not in str(caught.value)


def test_explicit_local_options_beat_the_urls_token() -> None:
    from pydantic import SecretStr

    from visualsearch_sdk import VisualSearch
    from visualsearch_sdk.providers.local import LocalOptions

    vs = VisualSearch("local://:from-url@127.0.0.1:8765", options=LocalOptions(token=SecretStr("explicit")))
    assert vs.adapter.options.token is not None and vs.adapter.options.token.get_secret_value() == "explicit"
    plain = VisualSearch("local://:from-url@127.0.0.1:8765")
    assert (
        plain.adapter.options.token is not None
        and plain.adapter.options.token.get_secret_value() == "from-url"
    )


@pytest.mark.parametrize(
    "bad", [{"max_qps": 0}, {"max_qps": -1.5}, {"timeout": -1}, {"timeout": float("nan")}]
)
def test_bad_pacing_and_timeouts_fail_at_construction(bad: dict[str, float]) -> None:
    from visualsearch_sdk import ConfigurationError, VisualSearch

    with pytest.raises(ConfigurationError, match="positive"):
        VisualSearch("memory://", **bad)  # type: ignore[arg-type]
