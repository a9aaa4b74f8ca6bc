"""The package versions a fit records, and what differs from them here."""

from __future__ import annotations

from importlib import metadata

from kepler.ml import environment


def test_packages_of_a_fit_name_the_libraries_that_decide_its_numbers() -> None:
    found = environment.packages("RandomForestClassifier")
    assert found["scikit-learn"] == metadata.version("scikit-learn")
    assert found["numpy"] == metadata.version("numpy")
    assert "kepler-ml" in found and "torch" not in found
    assert "torch" in environment.packages("TorchMLPClassifier")


def test_tags_round_trip_and_differences_list_package_recorded_installed() -> None:
    recorded = environment.packages("LinearRegression")
    tags = environment.as_tags(recorded)
    assert tags["kepler.package.scikit-learn"] == recorded["scikit-learn"]
    assert environment.from_tags({**tags, "kepler.model": "pump"}) == recorded
    assert environment.differences(recorded) == []
    faked = {**recorded, "scikit-learn": "0.0.1", "not-a-real-package-kepler": "1.0"}
    assert environment.differences(faked) == [
        {"package": "not-a-real-package-kepler", "recorded": "1.0", "installed": None},
        {
            "package": "scikit-learn",
            "recorded": "0.0.1",
            "installed": metadata.version("scikit-learn"),
        },
    ]
