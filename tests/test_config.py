"""``[tool.accelport]``: found upward, validated with errors that name the key, overridden by options."""

from __future__ import annotations

import pytest
from tests.cli_invoke import invoke as run_cli

from accelport.codemod.frontends import config

CALL = "import torch\n\ntorch.cuda.synchronize()\n"
STRING = 'import torch\n\nx = torch.zeros(1).to("cuda")\n'


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELPORT_CACHE_DIR", str(tmp_path / ".cache"))
    root = tmp_path / "proj"
    root.mkdir()
    monkeypatch.chdir(root)
    return root


def write(root, files: dict) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def check(*args: str):
    return run_cli(["check", "-j", "1", *args])


def reported(result) -> list:
    return [line.split(": ")[0] + " " + line.split(": ")[1].split()[0] for line in result.stdout.splitlines()]


def test_nearest_pyproject_upward(tmp_path):
    write(tmp_path, {"pyproject.toml": "", "a/pyproject.toml": "", "a/b/c/x.py": ""})
    assert config.find_pyproject(tmp_path / "a" / "b" / "c") == (tmp_path / "a" / "pyproject.toml").resolve()


@pytest.mark.parametrize(
    "body, named",
    [
        ("colour = 1", "unknown key 'colour'"),
        ('select = "torch-cuda-call"', "select must be a list of rule names or codes"),
        ('ignore = ["not-a-rule"]', "ignore: unknown rule 'not-a-rule'"),
        ('runtime = "tpu"', "runtime must be"),
        ("exclude = [\"(\"]", "exclude: invalid regular expression '('"),
        ('per-file-ignores = { "tests/*" = "AP101" }', "per-file-ignores.'tests/*' must be a list of rule names"),
        ('per-file-ignores = { "tests/*" = ["AP999"] }', "per-file-ignores.'tests/*': unknown rule 'AP999'"),
        ("jobs = true", "jobs must be a whole number"),
    ],
)
def test_bad_config_is_one_error_naming_the_key(project, body, named):
    write(project, {"pyproject.toml": f"[tool.accelport]\n{body}\n", "m.py": CALL})
    result = check("m.py")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and named in lines[0] and "pyproject.toml" in lines[0], result.stderr


def test_unreadable_toml_is_an_error(project):
    write(project, {"pyproject.toml": "[tool.accelport\n", "m.py": CALL})
    result = check("m.py")
    assert result.exit_code == 2 and "not valid TOML" in result.stderr


def test_select_and_ignore_from_config_and_the_command_line_overrides(project):
    write(project, {"pyproject.toml": '[tool.accelport]\nignore = ["torch-cuda-call"]\n', "m.py": CALL + STRING})
    assert reported(check("m.py")) == ["m.py:6:23 cuda-device-string"]
    assert reported(check("--ignore", "cuda-device-string", "m.py")) == ["m.py:3:1 torch-cuda-call"]
    write(project, {"pyproject.toml": '[tool.accelport]\nselect = ["AP104"]\n'})
    assert reported(check("m.py")) == ["m.py:6:23 cuda-device-string"]
    assert reported(check("--select", "torch-cuda-call", "m.py")) == ["m.py:3:1 torch-cuda-call"]


def test_runtime_from_config_and_the_command_line_overrides(project):
    write(project, {"pyproject.toml": '[tool.accelport]\nruntime = "deepspeed"\n', "m.py": CALL})
    diff = run_cli(["rewrite", "--diff", "-j", "1", "m.py"]).stdout
    assert "+from deepspeed.accelerator import get_accelerator" in diff
    diff = run_cli(["rewrite", "--diff", "-j", "1", "--runtime", "accelport", "m.py"]).stdout
    assert "+from accelport.accelerator_runtime import get_accelerator" in diff


def test_exclude_patterns_are_relative_to_the_project_root(project):
    write(
        project,
        {
            "pyproject.toml": '[tool.accelport]\nextend-exclude = ["^/tests/fixtures/", "^/gen\\\\.py$"]\n',
            "tests/fixtures/f.py": CALL,
            "tests/test_a.py": CALL,
            "gen.py": CALL,
            "pkg/gen.py": CALL,
        },
    )
    assert reported(check(".")) == ["pkg/gen.py:3:1 torch-cuda-call", "tests/test_a.py:3:1 torch-cuda-call"]
    # The same from a subfolder: the anchored pattern still means <root>/tests/fixtures.
    result = run_cli(["check", "-j", "1", "tests"])
    assert reported(result) == ["tests/test_a.py:3:1 torch-cuda-call"]


def test_exclude_from_a_subfolder_cwd(project, monkeypatch):
    write(
        project,
        {"pyproject.toml": '[tool.accelport]\nexclude = ["^/tests/fixtures/"]\n', "tests/fixtures/f.py": CALL, "tests/t.py": CALL},
    )
    monkeypatch.chdir(project / "tests")
    assert reported(check(".")) == ["t.py:3:1 torch-cuda-call"]
    # Named explicitly (as pre-commit does), the file is excluded only with --force-exclude.
    assert reported(check("fixtures/f.py")) == ["fixtures/f.py:3:1 torch-cuda-call"]
    assert check("--force-exclude", "fixtures/f.py").stdout == ""


def test_command_line_exclude_replaces_the_config_exclude(project):
    write(project, {"pyproject.toml": '[tool.accelport]\nexclude = ["^/a/"]\n', "a/m.py": CALL, "b/m.py": CALL})
    assert reported(check(".")) == ["b/m.py:3:1 torch-cuda-call"]
    assert reported(check("--exclude", "^/b/", ".")) == ["a/m.py:3:1 torch-cuda-call"]


def test_per_file_ignores(project, monkeypatch):
    write(
        project,
        {
            "pyproject.toml": (
                "[tool.accelport.per-file-ignores]\n"
                '"tests/*" = ["torch-cuda-call"]\n'
                '"conftest.py" = ["AP101", "AP104"]\n'
            ),
            "tests/deep/t.py": CALL + STRING,
            "pkg/conftest.py": CALL + STRING,
            "pkg/m.py": CALL,
        },
    )
    expected = ["pkg/m.py:3:1 torch-cuda-call", "tests/deep/t.py:6:23 cuda-device-string"]
    assert reported(check(".")) == expected
    # Globs are relative to the project root, not to the current directory.
    monkeypatch.chdir(project / "tests")
    assert reported(check(".")) == ["deep/t.py:6:23 cuda-device-string"]


def test_per_file_ignores_apply_to_rewrite(project):
    write(project, {"pyproject.toml": '[tool.accelport.per-file-ignores]\n"legacy/*" = ["ALL"]\n', "legacy/m.py": CALL})
    result = run_cli(["rewrite", "-j", "1", "."])
    assert result.exit_code == 0
    assert (project / "legacy" / "m.py").read_text() == CALL


def test_config_flag_names_the_file(project, tmp_path):
    other = tmp_path / "elsewhere.toml"
    other.write_text('[tool.accelport]\nignore = ["torch-cuda-call"]\n')
    write(project, {"m.py": CALL})
    assert check("m.py").exit_code == 1
    assert check("--config", str(other), "m.py").exit_code == 0
