"""The README stays true: CI runs its test command, its main job works."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, re.DOTALL)]


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    test_command = next(b for b in _bash_blocks(readme) if "pytest" in b)
    ci_commands = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith(("#", "set ", "cd "))
    ]
    assert ci_commands == [test_command]


def test_main_job_trains_saves_reloads_and_matches(tmp_path):
    readme = (ROOT / "README.md").read_text()
    main_job = next(b for b in _bash_blocks(readme) if "examples/" in b)
    script = main_job.split("&&")[-1].split()[-1]
    result = subprocess.run(
        [sys.executable, str(ROOT / script), "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "same actions:     True" in result.stdout
    found = re.search(r"reloaded return:\s+([\d.]+)", result.stdout)
    assert found is not None, result.stdout
    assert float(found[1]) >= 475
    assert (tmp_path / "cartpole_policy.eqx").is_file()
    # The GIF of the reloaded policy, named in the output.
    gif = tmp_path / "cartpole.gif"
    assert f"video:            {gif} (" in result.stdout
    assert gif.read_bytes()[:6] == b"GIF89a"
