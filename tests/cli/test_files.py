"""`kepler fit|apply|automl` on CSV and Parquet files, against a real stack."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tests.cli.conftest import Run


def test_fit_csv_registers_model_and_reports_metrics(kepler: Run, pumps_csv: Path) -> None:
    out = kepler(
        "fit",
        str(pumps_csv),
        "RandomForestClassifier failure from temp vibration into cli_fit_pump",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["model"] == "cli_fit_pump" and result["version"] >= 1
    assert result["ref"] == f"cli_fit_pump@{result['version']}"
    assert result["rows"] == 200
    assert 0.5 <= result["metrics"]["accuracy"] <= 1.0
    assert set(result) >= {"job_id", "run_id", "metrics", "duration_s"}


def test_fit_time_split_with_kfold_reports_each_fold(
    kepler: Run, pumps_frame: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "pumps_timed.csv"
    pumps_frame.assign(ts=1_700_000_000 + 60 * pumps_frame.index).to_csv(path, index=False)
    out = kepler(
        "fit",
        str(path),
        "LogisticRegression failure from temp vibration time_field=ts kfold_cv=4 gap=3",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["split"] == "time" and result["model"] is None
    assert [f["fold_number"] for f in result["folds"]] == [1, 2, 3, 4]
    assert [f["n_test"] for f in result["folds"]] == [40, 40, 40, 40]
    assert [f["n_train"] for f in result["folds"]] == [37, 77, 117, 157]
    shown = kepler("fit", str(path), "LogisticRegression failure from temp vibration kfold_cv=3")
    assert shown.returncode == 0, shown.stderr
    assert "fold_number" in shown.stdout and "precision" in shown.stdout


def test_fit_parquet_then_apply_to_parquet_and_csv(
    kepler: Run, pumps_parquet: Path, pumps_frame: pd.DataFrame, tmp_path: Path
) -> None:
    fitted = kepler(
        "fit",
        str(pumps_parquet),
        "fit LogisticRegression failure from temp vibration into cli_apply",
    )
    assert fitted.returncode == 0, fitted.stderr
    assert "cli_apply@" in fitted.stdout and "accuracy" in fitted.stdout

    scored_path = tmp_path / "scored.parquet"
    applied = kepler("apply", str(pumps_parquet), "cli_apply", "-o", str(scored_path), "--json")
    assert applied.returncode == 0, applied.stderr
    summary = json.loads(applied.stdout)
    assert summary["rows"] == 200 and summary["output"] == str(scored_path)
    scored = pd.read_parquet(scored_path)
    assert len(scored) == 200
    assert summary["columns"] and all(c in scored for c in summary["columns"])
    assert list(scored["temp"]) == list(pumps_frame["temp"])  # the input comes along

    csv_out = tmp_path / "scored.csv"
    assert kepler("apply", str(pumps_parquet), "cli_apply@1", "-o", str(csv_out)).returncode == 0
    assert len(pd.read_csv(csv_out)) == 200


def test_apply_without_output_prints_csv(kepler: Run, pumps_csv: Path) -> None:
    assert (
        kepler(
            "fit", str(pumps_csv), "LinearRegression temp from vibration into cli_stdout"
        ).returncode
        == 0
    )
    out = kepler("apply", str(pumps_csv), "cli_stdout")
    assert out.returncode == 0, out.stderr
    header, *rows = out.stdout.splitlines()
    assert header.startswith("temp,vibration,failure,") and len(rows) == 200


def test_automl_registers_winner_with_leaderboard(kepler: Run, pumps_csv: Path) -> None:
    out = kepler(
        "automl",
        str(pumps_csv),
        "failure from temp vibration into cli_automl time_budget=20s max_trials=3 seed=1",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["model"] == "cli_automl" and result["version"] >= 1
    assert result["leaderboard"] and result["leaderboard"][0]["rank"] == 1
    assert result["algorithm"] == result["leaderboard"][0]["algorithm"]


def test_fit_refuses_unknown_extension(kepler: Run, tmp_path: Path) -> None:
    data = tmp_path / "pumps.xlsx"
    data.write_text("temp\n1\n")
    out = kepler("fit", str(data), "LinearRegression temp from * into x")
    assert out.returncode == 2
    assert "neither .csv nor .parquet" in out.stderr


def test_fit_reports_missing_file(kepler: Run, tmp_path: Path) -> None:
    out = kepler("fit", str(tmp_path / "nope.csv"), "LinearRegression temp from * into x")
    assert out.returncode == 2
    # Click's usage error in rich's box, wrapped to the terminal's width: read as one line.
    assert "does not exist" in " ".join(out.stderr.replace("│", " ").split())


def test_fit_bad_spec_names_the_problem(kepler: Run, pumps_csv: Path) -> None:
    out = kepler(
        "fit",
        str(pumps_csv),
        "RandomForestClassifier failure from temp into cli_bad n_estimators=lots",
    )
    assert out.returncode == 1
    assert out.stderr.startswith("error: ") and "n_estimators" in out.stderr
    assert "Traceback" not in out.stderr


def test_apply_unknown_model_says_so(kepler: Run, pumps_csv: Path) -> None:
    out = kepler("apply", str(pumps_csv), "cli_no_such_model")
    assert out.returncode == 1
    assert "cli_no_such_model" in out.stderr and "Traceback" not in out.stderr
