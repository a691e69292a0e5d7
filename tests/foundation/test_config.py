"""Configuration loading: every mistake reported at once with its key path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from camsvc import config

REPO = Path(__file__).resolve().parents[2]


def test_defaults_load() -> None:
    cfg = config.load(None, environ={})
    assert cfg.server.port == 8002
    assert cfg.http.port == 8003
    assert cfg.recording.format == "fmp4"


def test_three_mistakes_all_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("server:\n  port: 70000\n  colour: blue\nlogging:\n  level: LOUD\n")
    with pytest.raises(config.ConfigError) as info:
        config.load(path, environ={})
    problems = info.value.problems
    assert any(p.startswith("server.port:") and "65535" in p for p in problems)
    assert "server.colour: unknown key" in problems
    assert any(p.startswith("logging.level:") for p in problems)
    assert len(problems) == 3


def test_env_overrides_are_typed_and_checked() -> None:
    cfg = config.parse({}, environ={"CAMSVC_SERVER__PORT": "9002", "CAMSVC_LOGGING__FORMAT": "console"})
    assert cfg.server.port == 9002
    assert cfg.logging.format == "console"
    with pytest.raises(config.ConfigError) as info:
        config.parse({}, environ={"CAMSVC_SERVER__PORT": "many", "CAMSVC_NOPE__X": "1"})
    assert any(p.startswith("server.port:") for p in info.value.problems)
    assert "nope: unknown key" in info.value.problems


def test_nested_lists_report_index_paths() -> None:
    raw = {"cameras": {"synthetic": [{"id": "ok"}, {"id": "Not OK", "fps": 0}]}}
    with pytest.raises(config.ConfigError) as info:
        config.parse(raw, environ={})
    joined = "\n".join(info.value.problems)
    assert "cameras.synthetic[1].id" in joined
    assert "cameras.synthetic[1].fps" in joined


def test_cross_field_checks() -> None:
    raw = {"storage": {"warn_percent": 99, "block_percent": 90}, "cameras": {"device_range": [5, 2]}}
    with pytest.raises(config.ConfigError) as info:
        config.parse(raw, environ={})
    assert len(info.value.problems) == 2


@pytest.mark.parametrize(
    ("content", "expected"),
    [("server: [unclosed\n", "YAML syntax error at line"), ("- just\n- a list\n", "expected a mapping")],
)
def test_unparseable_files(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(content)
    with pytest.raises(config.ConfigError) as info:
        config.load(path, environ={})
    assert expected in info.value.problems[0]


def test_missing_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="file not found"):
        config.load(tmp_path / "absent.yaml", environ={})
    with pytest.raises(config.ConfigError, match="directory"):
        config.load(tmp_path, environ={})


def test_committed_template_matches_code() -> None:
    """conf/camsvc.yaml documents every key with its default: it is generated from config.py."""
    committed = (REPO / "conf" / "camsvc.yaml").read_text()
    assert committed == config.render_template(), "run: camsvc config-template > conf/camsvc.yaml"
    assert config.parse(yaml.safe_load(committed), environ={}) == config.Config()


def test_docs_table_matches_code() -> None:
    text = (REPO / "docs" / "configuration.md").read_text()
    assert config.render_markdown() in text, "regenerate the table: camsvc config-template --markdown"


def test_wrong_shapes_are_named_not_crashed() -> None:
    raw = {"server": ["a", "list"], "cameras": {"synthetic": "x", "external": [1]}}
    with pytest.raises(config.ConfigError) as info:
        config.parse(raw, environ={})
    assert info.value.problems == [
        "server: expected a mapping of keys, got list ['a', 'list']",
        "cameras.synthetic: expected a list, got str 'x'",
        "cameras.external[0]: expected a mapping of keys, got int 1",
    ]
