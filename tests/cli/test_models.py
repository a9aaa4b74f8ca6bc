"""`kepler models` and `kepler model show|alias|unalias|delete`, against a real stack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kepler._stack import LocalStack
from tests.cli.conftest import Run


@pytest.fixture
def two_versions(kepler: Run, pumps_csv: Path) -> str:
    name = f"cli_model_{pumps_csv.parent.name[-8:].replace('-', '_')}"
    for _ in range(2):
        out = kepler("fit", str(pumps_csv), f"LinearRegression temp from vibration into {name}")
        assert out.returncode == 0, out.stderr
    return name


def _models(kepler: Run) -> dict[str, dict[str, object]]:
    out = kepler("models", "--json")
    assert out.returncode == 0, out.stderr
    return {m["name"]: m for m in json.loads(out.stdout)}


def test_models_lists_latest_version_and_aliases(kepler: Run, two_versions: str) -> None:
    model = _models(kepler)[two_versions]
    assert set(model) == {
        "name",
        "latest_version",
        "versions",
        "aliases",
        "algorithm",
        "task",
        "updated",
    }
    assert model["latest_version"] == 2 and model["versions"] == [1, 2]
    assert model["algorithm"] == "LinearRegression" and model["aliases"] == {}
    table = kepler("models")
    assert table.returncode == 0
    line = next(row for row in table.stdout.splitlines() if row.startswith(two_versions + " "))
    assert "LinearRegression" in line


def test_model_show_describes_version(kepler: Run, two_versions: str) -> None:
    out = kepler("model", "show", f"{two_versions}@1", "--json")
    assert out.returncode == 0, out.stderr
    view = json.loads(out.stdout)
    assert view["name"] == two_versions and view["version"] == 1
    assert view["features"] == ["vibration"] and view["target"] == "temp"
    assert "r2" in view["metrics"] and [v["version"] for v in view["versions"]] == [1, 2]
    assert "lineage" in view and "params" in view
    text = kepler("model", "show", two_versions)
    assert text.returncode == 0
    assert f"{two_versions}@2" in text.stdout and "r2" in text.stdout


def test_model_alias_and_unalias(kepler: Run, two_versions: str) -> None:
    out = kepler("model", "alias", f"{two_versions}@1", "production", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"model": two_versions, "alias": "production", "version": 1}
    assert _models(kepler)[two_versions]["aliases"] == {"production": 1}
    shown = json.loads(kepler("model", "show", f"{two_versions}:production", "--json").stdout)
    assert shown["version"] == 1 and shown["aliases"] == ["production"]

    assert kepler("model", "unalias", two_versions, "production").returncode == 0
    assert _models(kepler)[two_versions]["aliases"] == {}
    again = kepler("model", "unalias", two_versions, "production")
    assert again.returncode == 1 and "no alias 'production'" in again.stderr


def test_model_alias_needs_a_version(kepler: Run, two_versions: str) -> None:
    out = kepler("model", "alias", two_versions, "production")
    assert out.returncode == 2 and f"{two_versions}@3" in out.stderr


def test_model_alias_with_user_token_is_refused_clearly(
    kepler_user: Run, two_versions: str
) -> None:
    out = kepler_user("model", "alias", f"{two_versions}@1", "production")
    assert out.returncode == 1
    assert "admin token" in out.stderr and "KEPLER_TOKEN" in out.stderr
    refused = kepler_user("model", "delete", two_versions, "--yes")
    assert refused.returncode == 1 and "admin token" in refused.stderr


def test_model_delete_asks_first(kepler: Run, two_versions: str) -> None:
    kept = kepler("model", "delete", two_versions, input="n\n")
    assert kept.returncode == 1 and "nothing deleted" in kept.stderr
    assert "2 version(s)" in kept.stderr  # the question names what would go
    assert two_versions in _models(kepler)

    unanswered = kepler("model", "delete", two_versions, input="")
    assert unanswered.returncode == 1 and "--yes" in unanswered.stderr
    assert two_versions in _models(kepler)

    gone = kepler("model", "delete", two_versions, "--json", input="y\n")
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout.startswith("{")  # the question went to stderr
    assert json.loads(gone.stdout) == {"deleted": two_versions, "versions": [1, 2]}
    assert two_versions not in _models(kepler)


def test_model_delete_yes_and_version_refused(kepler: Run, two_versions: str) -> None:
    version = kepler("model", "delete", f"{two_versions}@1", "--yes")
    assert version.returncode == 1 and two_versions in _models(kepler)
    assert kepler("model", "delete", two_versions, "--yes").returncode == 0
    assert two_versions not in _models(kepler)
    missing = kepler("model", "show", two_versions)
    assert missing.returncode == 1 and two_versions in missing.stderr


def test_model_reproduce_prints_the_comparison_and_json(
    kepler: Run, two_versions: str, cli_stack: LocalStack
) -> None:
    out = kepler("model", "reproduce", f"{two_versions}@1")
    assert out.returncode == 0, out.stderr
    assert f"reproduces:  {two_versions}@1" in out.stdout
    assert f"new version: {two_versions}@3" in out.stdout
    assert "verdict:     exact" in out.stdout and "draws no random numbers" in out.stdout
    line = next(row for row in out.stdout.splitlines() if row.startswith("metric.r2 "))
    assert line.split()[-1] == "yes" and "exact" in line.split()

    answer = kepler("model", "reproduce", f"{two_versions}@1", "--json")
    assert answer.returncode == 0, answer.stderr
    result = json.loads(answer.stdout)
    assert (result["reproduces"], result["ref"], result["verdict"]) == (
        f"{two_versions}@1",
        f"{two_versions}@4",
        "exact",
    )
    assert {r["item"] for r in result["comparison"]} >= {"metric.r2", "split", "n_train"}
    assert all(r["match"] for r in result["comparison"])

    shown = kepler("model", "show", f"{two_versions}@1")
    assert f"{two_versions}@3 exact, {two_versions}@4 exact" in shown.stdout
    again = json.loads(kepler("model", "show", f"{two_versions}@4", "--json").stdout)
    assert again["reproduces"]["of"] == f"{two_versions}@1"


def test_model_reproduce_refusal_and_force(
    kepler: Run, two_versions: str, cli_stack: LocalStack
) -> None:
    from mlflow import MlflowClient

    run_id = json.loads(kepler("model", "show", f"{two_versions}@2", "--json").stdout)["run_id"]
    mlflow = MlflowClient(tracking_uri=f"sqlite:///{cli_stack.home / 'mlflow.db'}")
    mlflow.set_tag(run_id, "kepler.package.numpy", "0.0.1")
    refused = kepler("model", "reproduce", f"{two_versions}@2")
    assert refused.returncode == 1 and refused.stdout == ""
    assert "numpy: recorded 0.0.1, installed" in refused.stderr and "force" in refused.stderr
    forced = kepler("model", "reproduce", f"{two_versions}@2", "--force", "--json")
    assert forced.returncode == 0, forced.stderr
    result = json.loads(forced.stdout)
    assert result["forced"] is True
    assert [d["package"] for d in result["package_differences"]] == ["numpy"]


def test_model_reproduce_of_an_unknown_version(kepler: Run, two_versions: str) -> None:
    out = kepler("model", "reproduce", f"{two_versions}@9")
    assert out.returncode == 1 and "no version 9" in out.stderr


def test_model_register_a_skops_file(kepler: Run, tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import LinearRegression

    X = pd.DataFrame({"temp": np.arange(20.0), "vibration": np.arange(20.0) % 3})
    model = LinearRegression().fit(X, X.temp * 2 + X.vibration)
    path = tmp_path / "line.skops"
    sio.dump(model, path)
    name = f"cli_byo_{tmp_path.name[-8:].replace('-', '_')}"
    args = ["model", "register", str(path), "--into", name, "--features", "temp,vibration"]
    out = kepler(*args, "--target", "load", "--requirement", "scikit-learn>=1.5", "--json")
    assert out.returncode == 0, out.stderr
    view = json.loads(out.stdout)
    assert (view["name"], view["version"], view["algorithm"]) == (name, 1, "LinearRegression")
    assert view["lineage"]["registered"]["requirements"] == ["scikit-learn>=1.5"]
    text = kepler(*args, "--target", "load")
    assert text.returncode == 0 and text.stdout.strip() == f"registered {name}@2 (LinearRegression)"
    # A pickle is refused with what to send instead, and nothing is registered.
    import pickle

    bad = tmp_path / "line.pkl"
    bad.write_bytes(pickle.dumps(model))
    refused = kepler("model", "register", str(bad), "--into", name, "--features", "temp,vibration")
    assert refused.returncode == 1 and "skops" in refused.stderr and "pickle" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_model_register_with_data_keeps_its_baseline_or_registers_nothing(
    kepler: Run, tmp_path: Path
) -> None:
    import numpy as np
    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import LinearRegression

    X = pd.DataFrame({"temp": np.arange(30.0), "vibration": np.arange(30.0) % 4})
    path = tmp_path / "line.skops"
    sio.dump(LinearRegression().fit(X, X.temp - X.vibration), path)
    rows = tmp_path / "rows.csv"
    X.to_csv(rows, index=False)
    name = f"cli_byo_data_{tmp_path.name[-8:].replace('-', '_')}"
    args = ["model", "register", str(path), "--into", name, "--target", "load"]
    out = kepler(*args, "--features", "temp,vibration", "--data", str(rows), "--json")
    assert out.returncode == 0, out.stderr
    view = json.loads(out.stdout)
    assert view["version"] == 1 and view["baseline"]["rows"] == len(X)
    assert view["feature_types"] == {"temp": "numeric", "vibration": "numeric"}
    # Rows without a feature: refused before anything is sent, no version made.
    refused = kepler(*args, "--features", "temp,pressure", "--data", str(rows))
    assert refused.returncode != 0 and "no column 'pressure'" in refused.stderr
    assert "Traceback" not in refused.stderr
    shown = kepler("model", "show", name, "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["version"] == 1


def test_model_show_lists_the_groups_of_a_by_model(kepler: Run, tmp_path: Path) -> None:
    rows = [f"{t},{t % 7},{'north' if t % 2 else 'south'}" for t in range(120)]
    data = tmp_path / "by_site.csv"
    data.write_text("temp,vibration,site\n" + "\n".join(rows) + "\n")
    name = f"cli_by_{tmp_path.name[-8:].replace('-', '_')}"
    out = kepler("fit", str(data), f"LinearRegression temp from vibration by site into {name}")
    assert out.returncode == 0, out.stderr
    view = json.loads(kepler("model", "show", name, "--json").stdout)
    assert [(g["group"], g["status"]) for g in view["groups"]] == [("north", "ok"), ("south", "ok")]
    assert sum(g["rows"] + g["holdout_rows"] for g in view["groups"]) == 120
    text = kepler("model", "show", name).stdout
    north = next(line for line in text.splitlines() if line.startswith("north "))
    assert "ok" in north and "holdout_rows" in text
