"""The ``visualsearch`` pytest plugin, as a user's test suite sees it (inner pytest runs via ``pytester``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# Imported before any in-process inner run: pytester unloads the modules an inner run imports, and PyYAML's
# C loader does not survive being imported twice in one process.
import vcr.serializers.yamlserializer  # type: ignore[import-untyped]  # noqa: F401

pytest_plugins = ["pytester"]


def test_the_plugin_is_registered_by_its_entry_point(pytestconfig: pytest.Config) -> None:
    plugin = pytestconfig.pluginmanager.get_plugin("visualsearch")
    assert plugin is not None, (
        'install the package (pip install -e ".[test]") to register its pytest11 entry point'
    )
    assert plugin.__name__ == "visualsearch_sdk.testing.pytest_plugin"


def test_our_own_fixtures_do_not_clash_with_the_plugins(request: pytest.FixtureRequest) -> None:
    from tests import conftest
    from visualsearch_sdk import AsyncVisualSearch, VisualSearch

    assert not [name for name in dir(conftest) if name.startswith("vs_")]
    assert isinstance(request.getfixturevalue("vs_local"), VisualSearch)  # resolved to the plugin's
    assert isinstance(request.getfixturevalue("vs_local_async"), AsyncVisualSearch)
    assert callable(request.getfixturevalue("vs_fake")) and callable(request.getfixturevalue("vs_cassette"))


def test_importing_the_plugin_loads_no_optional_dependency() -> None:
    # The SDK itself is imported (the plugin lives in its package); vcrpy, PyYAML and the fakes are not.
    code = (
        "import sys, visualsearch_sdk.testing.pytest_plugin\n"
        "optional = {'vcr', 'yaml', 'visualsearch_sdk.testing.fakes', 'visualsearch_sdk.local.engine'}\n"
        "print(sorted(optional & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_vs_local_and_vs_fake(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_inner=textwrap.dedent(
            """
            import anyio
            import pytest
            from tests_images import IMAGE
            from visualsearch_sdk import AsyncVisualSearch, VisualSearch
            from visualsearch_sdk._exceptions import RateLimitError
            from visualsearch_sdk.testing.fakes import FakeXimilar

            def test_local(vs_local):
                assert isinstance(vs_local, VisualSearch) and vs_local.provider == "local"
                vs_local.index([{"id": "a", "image": IMAGE}])
                assert vs_local.count() == 1

            def test_local_is_fresh(vs_local):
                assert vs_local.count() == 0

            def test_local_async(vs_local_async):
                async def main():
                    await vs_local_async.index([{"id": "a", "image": IMAGE}])
                    return await vs_local_async.count()
                assert isinstance(vs_local_async, AsyncVisualSearch)
                assert anyio.run(main) == 1

            def test_fake_with_fault_injection(vs_fake):
                vs, fake, url = vs_fake("ximilar", client_kwargs={"max_retries": 0}, collection_id="c1")
                assert isinstance(fake, FakeXimilar) and url.startswith("ximilar://")
                vs.index([{"id": "a", "image": IMAGE}])
                fake.fail_next(429)
                with pytest.raises(RateLimitError):
                    vs.count()
                assert vs.count() == 1

            def test_fake_served_and_async(vs_fake):
                setup = vs_fake("visualsnoop", served=True, asynchronous=True)
                assert "base_url=http%3A//127.0.0.1" in setup.url or "base_url=http://127.0.0.1" in setup.url
                async def main():
                    await setup.client.index([{"id": "a", "image": IMAGE}])
                    return (await setup.client.search(id="a")).hits
                assert anyio.run(main) == ()
                assert setup.fake.requests

            def test_unknown_fake(vs_fake):
                with pytest.raises(ValueError, match="ximilar"):
                    vs_fake("nope")
            """
        )
    )
    _images(pytester)
    pytester.makeini("[pytest]\nfilterwarnings = error\n")  # a strict user: no fixture may warn
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)


def test_vs_cassette_records_then_replays_without_credentials(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_taped=textwrap.dedent(
            """
            import os
            from tests_images import IMAGE

            def test_search(vs_cassette, vs_fake):
                with vs_cassette(provider="ximilar") as tape:
                    if tape.recording:
                        url = vs_fake("ximilar", served=True, token="inner-secret-token-9").url
                        assert "VISUALSEARCH_XIMILAR_TOKEN" not in os.environ
                    else:
                        url = "ximilar://api.ximilar.com/fake-collection"
                        assert os.environ["VISUALSEARCH_XIMILAR_TOKEN"] == "replay-ximilar-token"
                    with tape.client(url) as vs:
                        vs.index([{"id": "a", "image": IMAGE}])
                        assert [h.id for h in vs.search(image=IMAGE, limit=1).hits] == ["a"]
            """
        )
    )
    _images(pytester)
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.runpytest("-p", "no:cacheprovider", "--vs-record=once").assert_outcomes(passed=1)
    taped = pytester.path / "cassettes" / "test_taped" / "test_search.yaml"
    text = taped.read_text(encoding="utf-8")
    assert text.startswith(
        "# visualsearch_sdk cassette: ximilar traffic recorded against a server on loopback"
    )
    assert "inner-secret-token-9" not in text
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)  # replay: no fake, no token

    taped.unlink()  # replay-only (the default) and nothing recorded: the request is refused
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*CannotOverwriteExistingCassetteException*"])


def test_the_record_mode_comes_from_the_environment_or_the_option(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        test_mode=(
            "def test_mode(vs_cassette):\n"
            "    with vs_cassette() as tape:\n"
            "        print('MODE', tape.record_mode)\n"
        )
    )
    pytester.makeini("[pytest]\nvs_cassette_dir = tapes\n")
    monkeypatch.setenv("VISUALSEARCH_RECORD", "new_episodes")
    pytester.runpytest("-s", "-p", "no:cacheprovider").stdout.fnmatch_lines(["*MODE new_episodes"])
    pytester.runpytest("-s", "-p", "no:cacheprovider", "--vs-record=all").stdout.fnmatch_lines(["*MODE all"])
    assert (pytester.path / "tapes" / "test_mode" / "test_mode.yaml").exists() is False  # no traffic, no file
    monkeypatch.setenv("VISUALSEARCH_RECORD", "sometimes")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*not a record mode*"])


def _images(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        tests_images=textwrap.dedent(
            """
            import io
            from PIL import Image

            buffer = io.BytesIO()
            Image.new("RGB", (120, 120), (200, 30, 60)).save(buffer, "JPEG", quality=90)
            IMAGE = buffer.getvalue()
            """
        )
    )
