"""The spine end to end with real processes: SDK -> bridge -> Celery worker -> MLflow.

Runs once per broker: the embedded SQLite transport and a real redis-server.
"""

from __future__ import annotations

import socket
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris

import kepler as kp

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame
    frame["species"] = frame.pop("target").map(
        dict(enumerate(["setosa", "versicolor", "virginica"]))
    )
    return frame


@pytest.fixture(scope="module")
def diabetes() -> pd.DataFrame:
    return load_diabetes(as_frame=True).frame


def test_fit_classifier_registers_version_and_apply_scores(stack, iris) -> None:  # type: ignore[no-untyped-def]
    client = stack.client()
    result = client.fit(
        iris,
        "RandomForestClassifier",
        target="species",
        into="iris_rf",
        n_estimators=20,
        random_state=0,
        progress=False,
    )
    assert result.model == "iris_rf" and result.version == 1 and result.run_id
    assert {"accuracy", "precision", "recall", "f1", "roc_auc"} <= set(result.metrics)
    assert result.metrics["accuracy"] > 0.8
    assert result.rows == len(iris)

    scored = client.apply(iris.drop(columns="species"), "iris_rf", probabilities=True)
    assert len(scored) == len(iris)
    assert (scored["predicted(species)"] == iris["species"]).mean() > 0.9
    probs = [f"probability(species={c})" for c in ("setosa", "versicolor", "virginica")]
    assert set(probs) <= set(scored.columns)
    np.testing.assert_allclose(scored[probs].sum(axis=1), 1.0, rtol=1e-6)


def test_fit_again_makes_new_version_and_refs_pick_versions(stack, diabetes) -> None:  # type: ignore[no-untyped-def]
    client = stack.client()
    first = client.fit(diabetes, "LinearRegression", target="target", into="diab", progress=False)
    second = client.fit(
        diabetes, "DecisionTreeRegressor", target="target", into="diab", max_depth=2, progress=False
    )
    assert (first.version, second.version) == (1, 2)
    assert {"rmse", "mae", "r2"} <= set(second.metrics)

    rows = diabetes.head(20)
    latest = client.apply(rows, "diab")["predicted(target)"]
    v1 = client.apply(rows, "diab@1")["predicted(target)"]
    v2 = client.apply(rows, "diab@2")["predicted(target)"]
    np.testing.assert_allclose(latest, v2)
    assert latest.nunique() <= 4  # a depth-2 tree: at most four values
    assert v1.nunique() > 4  # the linear model: version 1 was not overwritten

    client.set_alias("diab", "production", 1)
    np.testing.assert_allclose(client.apply(rows, "diab:production")["predicted(target)"], v1)

    renamed = client.apply(rows, "diab@1", as_="progression")
    assert "progression" in renamed.columns and "predicted(target)" not in renamed.columns


def test_summary_models_jobs_and_delete(stack, iris) -> None:  # type: ignore[no-untyped-def]
    client = stack.client()
    fit = client.fit(iris, "LogisticRegression", target="species", into="iris_lr", progress=False)
    summary = client.summary("iris_lr")
    assert summary["algorithm"] == "LogisticRegression"
    assert summary["version"] == fit.version
    assert summary["metrics"]["accuracy"] == pytest.approx(fit.metrics["accuracy"])
    coefs = summary.get("coefficients") or summary.get("importances")
    assert coefs and {c["feature"] for c in coefs} <= set(iris.columns)

    models = client.models()
    assert "iris_lr" in set(models["name"])

    jobs = client.jobs()
    assert fit.job_id in set(jobs["id"])
    job = client.job(fit.job_id)
    assert job["state"] == "succeeded" and job["progress"] == 1.0

    client.delete_model("iris_lr")
    with pytest.raises(kp.ModelNotFound):
        client.summary("iris_lr")


def test_clustering_and_fit_from_spl_line(stack, iris) -> None:  # type: ignore[no-untyped-def]
    client = stack.client()
    dataset_id = client.upload(
        iris,
        source={
            "search": "index=flowers | head 150",
            "earliest": "-24h",
            "latest": "now",
            "sid": "1.23",
        },
    )
    job = client._json(
        "POST",
        "/v1/jobs/fit",
        json={
            "dataset_id": dataset_id,
            "line": "fit KMeans k=3 random_state=0 petal* into flowers",
        },
    )
    result = client.wait(job["id"], progress=False)
    assert result.version == 1
    assert "silhouette" in result.metrics
    scored = client.apply(iris, "flowers")
    assert set(scored["cluster"].unique()) <= {0, 1, 2}

    from mlflow import MlflowClient

    tracking = f"sqlite:///{stack.home / 'mlflow.db'}"
    run = MlflowClient(tracking, tracking).get_run(result.run_id)
    tags = run.data.tags
    assert tags["kepler.splunk.search"] == "index=flowers | head 150"
    assert tags["kepler.splunk.sid"] == "1.23"
    assert int(tags["kepler.dataset.rows"]) == len(iris)
    assert tags["kepler.dataset.content_hash"]


# -- bad input --------------------------------------------------------------------------


def test_unknown_algorithm_suggests_before_upload(stack, iris) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(kp.UnknownAlgorithm) as err:
        stack.client().fit(iris, "RandomForestClasifier", target="species", progress=False)
    assert "RandomForestClassifier" in err.value.message


def test_bad_parameter_names_allowed(stack, iris) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(kp.BadParameter) as err:
        stack.client().fit(iris, "KMeans", clusters=3, progress=False)
    assert "'clusters'" in err.value.message and "k" in err.value.detail["allowed"]


def test_target_missing_from_data(stack, iris) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(kp.DataError, match="'failure' is not in the data"):
        stack.client().fit(iris, "LogisticRegression", target="failure", progress=False)


def test_non_numeric_values_in_numeric_feature(stack) -> None:  # type: ignore[no-untyped-def]
    values = [str(float(i)) for i in range(200)]
    values[7], values[50] = "n/a", "error"
    frame = pd.DataFrame({"temp": values, "y": np.arange(200, dtype=float)})
    with pytest.raises(kp.DataError, match="temp"):
        stack.client().fit(frame, "LinearRegression", target="y", progress=False)


def test_all_null_column(stack) -> None:  # type: ignore[no-untyped-def]
    frame = pd.DataFrame(
        {"a": np.arange(50, dtype=float), "empty": [None] * 50, "y": np.arange(50, dtype=float)}
    )
    with pytest.raises(kp.DataError, match="empty"):
        stack.client().fit(frame, "LinearRegression", target="y", progress=False)


def test_empty_dataset(stack) -> None:  # type: ignore[no-untyped-def]
    frame = pd.DataFrame({"a": pd.Series([], dtype=float), "y": pd.Series([], dtype=float)})
    with pytest.raises(kp.DataError, match="no rows"):
        stack.client().fit(frame, "LinearRegression", target="y", progress=False)


def test_model_or_version_not_found(stack, iris) -> None:  # type: ignore[no-untyped-def]
    client = stack.client()
    with pytest.raises(kp.ModelNotFound):
        client.apply(iris.head(), "no_such_model")
    client.fit(iris, "GaussianNB", target="species", into="iris_nb", progress=False)
    with pytest.raises(kp.VersionNotFound):
        client.apply(iris.head(), "iris_nb@9")
    with pytest.raises(kp.VersionNotFound):
        client.apply(iris.head(), "iris_nb:nope")


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_missing_or_wrong_token_is_401(stack, token) -> None:  # type: ignore[no-untyped-def]
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = httpx.get(f"{stack.url}/v1/models", headers=headers)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthorized"
    assert stack.token not in resp.text
    with pytest.raises(kp.Unauthorized):
        kp.Client(stack.url, token or "x", settings=kp_settings_without_home(stack)).models()
    assert httpx.get(f"{stack.url}/health").status_code == 200


def kp_settings_without_home(stack):  # type: ignore[no-untyped-def]
    from kepler._settings import ClientSettings

    return ClientSettings(home=stack.home / "elsewhere")


def test_upload_cut_off_halfway_is_never_trained_on(stack) -> None:  # type: ignore[no-untyped-def]
    client = stack.client()
    created = client._json("POST", "/v1/datasets", json={"format": "csv"})
    dataset_id = created["id"]
    body = "a,y\r\n" + "".join(f"{i},{i * 2}\r\n" for i in range(1000))
    good = client._request(
        "PUT",
        f"/v1/datasets/{dataset_id}/chunks/0",
        content=body.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert good.json()["rows"] == 1000

    # Chunk 1: announce the full length, send half, hang up.
    u = urlparse(stack.url)
    payload = body.encode()
    head = (
        f"PUT /v1/datasets/{dataset_id}/chunks/1 HTTP/1.1\r\nHost: {u.hostname}\r\n"
        f"Authorization: Bearer {stack.token}\r\nContent-Type: text/csv\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    with socket.create_connection((u.hostname, u.port)) as sock:
        sock.sendall(head + payload[: len(payload) // 2])
    with pytest.raises(kp.DatasetIncomplete, match="chunk"):
        client._json(
            "POST", f"/v1/datasets/{dataset_id}/complete", json={"chunks": 2, "rows": 2000}
        )
    with pytest.raises(kp.DatasetIncomplete):
        client._json(
            "POST",
            "/v1/jobs/fit",
            json={"dataset_id": dataset_id, "algorithm": "LinearRegression", "target": "y"},
        )


def test_splunk_csv_chunks_fit_and_csv_apply(stack) -> None:  # type: ignore[no-untyped-def]
    """Splunk's CSV as it arrives: a header per chunk, an empty chunk, a header-only last
    chunk, fields appearing late; scored back as CSV with the input fields kept."""
    client = stack.client()
    dataset_id = client._json("POST", "/v1/datasets", json={"format": "csv"})["id"]
    chunks = [
        "temp,vibration,failure\r\n"
        + "".join(f"{20 + i % 7},{i % 5}.5,{'yes' if i % 7 > 4 else 'no'}\r\n" for i in range(300)),
        "",
        "temp,vibration,failure,site\r\n"
        + "".join(
            f"{20 + i % 7},{i % 5}.5,{'yes' if i % 7 > 4 else 'no'},Köln\r\n" for i in range(300)
        ),
        "temp,vibration,failure,site\r\n",
    ]
    for seq, body in enumerate(chunks):
        client._request(
            "PUT",
            f"/v1/datasets/{dataset_id}/chunks/{seq}",
            content=body.encode(),
            headers={"Content-Type": "text/csv"},
        )
    manifest = client._json(
        "POST", f"/v1/datasets/{dataset_id}/complete", json={"chunks": 4, "rows": 600}
    )
    assert manifest["rows"] == 600
    job = client._json(
        "POST",
        "/v1/jobs/fit",
        json={
            "dataset_id": dataset_id,
            "line": "fit DecisionTreeClassifier failure from temp vibration into pump_csv",
        },
    )
    result = client.wait(job["id"], progress=False)
    assert result.metrics["accuracy"] == pytest.approx(1.0)

    body = "_time,temp,vibration,host\r\n1,26,1.5,a\r\n2,20,0.5,b\r\n3,,x,c\r\n"
    resp = client._request(
        "POST",
        "/v1/models/pump_csv/apply",
        content=body.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert resp.headers["content-type"].startswith("text/csv")
    assert resp.headers["x-kepler-model-version"] == "1"
    scored = pd.read_csv(__import__("io").StringIO(resp.text))
    assert list(scored.columns) == ["_time", "temp", "vibration", "host", "predicted(failure)"]
    assert scored["predicted(failure)"].tolist()[:2] == ["yes", "no"]
    assert scored["host"].tolist() == ["a", "b", "c"]  # every input field comes back
