"""``make demo``: the spine end to end on the embedded stack, then a clean shutdown.

Starts ``kepler up`` (bridge + worker + MLflow store) in a folder of its own, trains a
classifier and a regressor through the SDK on datasets shipped with scikit-learn, scores
new rows with them, and prints metrics, versions and how to open the MLflow UI.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import kepler as kp
from kepler._stack import free_port


def _start_stack(home: Path, port: int, token: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    env.update(KEPLER_HOME=str(home), KEPLER_PORT=str(port), KEPLER_TOKEN=token)
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "stack.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "kepler", "up"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_ready(client: kp.Client, proc: subprocess.Popen[bytes], home: Path) -> None:
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the stack exited early; see {home / 'stack.log'}")
        try:
            client.health()
            return
        except kp.BridgeUnavailable:
            time.sleep(0.3)
    raise SystemExit(f"the stack did not start in 120 s; see {home / 'stack.log'}")


def _show(title: str, result: kp.FitResult) -> None:
    metrics = ", ".join(f"{k}={v:.3f}" for k, v in sorted(result.metrics.items()))
    print(f"  {title}: {result.ref}  ({result.rows} rows, {result.duration_s:.1f}s)")
    print(f"    holdout metrics: {metrics}")
    print(f"    MLflow run: {result.run_id}")


def main() -> None:
    from sklearn.datasets import load_breast_cancer, load_diabetes

    home = Path(os.environ.get("KEPLER_DEMO_HOME", ".kepler-demo")).resolve()
    port, token = free_port(), secrets.token_urlsafe(24)
    print(f"Starting the embedded stack (home {home}) ...")
    proc = _start_stack(home, port, token)
    try:
        client = kp.connect(f"http://127.0.0.1:{port}", token)
        _wait_ready(client, proc, home)

        print("\n1. A classifier: breast cancer (569 rows, 30 features)")
        cancer = load_breast_cancer(as_frame=True).frame
        cancer["diagnosis"] = cancer.pop("target").map({0: "malignant", 1: "benign"})
        clf = kp.fit(
            cancer,
            "RandomForestClassifier",
            target="diagnosis",
            into="demo_cancer",
            n_estimators=100,
            random_state=0,
        )
        _show("trained", clf)
        scored = kp.apply(
            cancer.drop(columns="diagnosis").head(5), "demo_cancer", probabilities=True
        )
        cols = [c for c in scored.columns if c.startswith(("predicted", "probability"))]
        print("    first 5 rows scored:\n" + scored[cols].to_string(index=False))

        print("\n2. A regressor: diabetes progression (442 rows, 10 features)")
        diabetes = load_diabetes(as_frame=True).frame
        reg = kp.fit(
            diabetes,
            "GradientBoostingRegressor",
            target="target",
            into="demo_diabetes",
            random_state=0,
        )
        _show("trained", reg)
        again = kp.fit(diabetes, "Ridge", target="target", into="demo_diabetes", alpha=1.0)
        _show("a new version of the same model", again)
        latest = kp.apply(diabetes.head(3), "demo_diabetes")
        pinned = kp.apply(diabetes.head(3), f"demo_diabetes@{reg.version}")
        print("    latest vs pinned version on 3 rows:")
        print(f"      demo_diabetes           -> {latest['predicted(target)'].round(1).tolist()}")
        print(
            f"      demo_diabetes@{reg.version:<10}-> "
            f"{pinned['predicted(target)'].round(1).tolist()}"
        )

        print("\n3. The registry")
        models = kp.models()
        print(models[["name", "latest_version", "algorithm", "task"]].to_string(index=False))
        summary = kp.summary("demo_cancer")
        top = summary.get("importances") or []
        if top:
            print(
                "    demo_cancer's top features: "
                + ", ".join(
                    f"{t['feature']} ({t.get('importance', t.get('coefficient', 0)):.3f})"
                    for t in top[:3]
                )
            )
        print(
            f"\nOpen the MLflow UI with:\n  .venv/bin/mlflow ui --backend-store-uri "
            f"sqlite:///{home / 'mlflow.db'}\n"
        )
    finally:
        print("Shutting the stack down ...")
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        print("Done.")


if __name__ == "__main__":
    main()
