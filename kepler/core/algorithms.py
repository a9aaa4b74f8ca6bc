"""The algorithm catalog as data: names, tasks, declared parameters, where the class lives.

This module names estimators by import path and never imports them, so Splunk's Python can
check a ``fit`` line's parameters before any data moves. :mod:`kepler.ml.registry` turns an
entry into an estimator and adds third-party algorithms from the ``kepler.algorithms``
entry-point group.

Names and parameter spellings are Splunk MLTK's (``SVM``, ``k``, ``variance``), with
scikit-learn's class and keyword names accepted as aliases. Ranges and choices mirror
scikit-learn's own ``_parameter_constraints`` where a flat declaration can say them; what
it cannot (``min_samples_split`` is an int >= 2 *or* a fraction) scikit-learn checks at
fit time, and the ML engine reports that as a bad parameter too.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kepler.core.density import MIN_THRESHOLD, check_density_params
from kepler.core.errors import BadParameter, UnknownAlgorithm
from kepler.core.params import Param, ParamSet, check_params

TASKS = ("classifier", "regressor", "clusterer", "outlier", "transformer", "forecaster")
SUPERVISED = ("classifier", "regressor")
# Transformers that read a target (`fit FieldSelector <target> from <fields>`).
TARGETED_TRANSFORMERS = frozenset({"FieldSelector"})
# Algorithms whose estimator learns incrementally (scikit-learn's partial_fit): `fit ...
# partial_fit=true` continues the model's latest version with new events.
PARTIAL_FIT = frozenset(
    {
        "BernoulliNB",
        "Birch",
        "GaussianNB",
        "MLPClassifier",
        "MLPRegressor",
        "MinMaxScaler",
        "SGDClassifier",
        "SGDRegressor",
        "StandardScaler",
        # MLTK's StateSpaceForecast.partial_fit: the new events' series, fitted from the
        # previous version's parameters (kepler.ml.forecast); ARIMA has none in MLTK.
        "StateSpaceForecast",
    }
)


@dataclass(frozen=True)
class AlgorithmInfo:
    """One algorithm Kepler can train.

    ``estimator`` is ``"module:Class"``; ``defaults`` are keyword arguments Kepler sets
    unless the user does; ``extra`` names the pip extra its library comes from;
    ``rules`` checks what one parameter cannot say alone (DensityFunction's thresholds),
    raising BadParameter, so the line is refused before any data moves.
    """

    name: str
    task: str
    estimator: str
    params: ParamSet = field(default_factory=ParamSet)
    aliases: tuple[str, ...] = ()
    defaults: tuple[tuple[str, Any], ...] = ()
    extra: str | None = None
    doc: str = ""
    rules: Callable[[dict[str, Any]], None] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"{self.name}: unknown task {self.task!r}")

    @property
    def supervised(self) -> bool:
        """Whether a fit names a target (`<target> from <fields>`)."""
        return self.task in SUPERVISED or self.name in TARGETED_TRANSFORMERS

    @property
    def partial_fit(self) -> bool:
        """Whether `partial_fit=true` can continue a version of this algorithm."""
        return self.name in PARTIAL_FIT

    def check(self, given: dict[str, Any]) -> dict[str, Any]:
        """Validate user parameters; see :func:`kepler.core.params.check_params`."""
        checked = check_params(self.name, self.params, given)
        if self.rules is not None:
            self.rules(checked)
        return checked


def _p(name: str, kind: str, target: str = "", **kw: Any) -> Param:
    return Param(name=name, kind=kind, target=target, **kw)


def _ps(*params: Param) -> ParamSet:
    return ParamSet(tuple(params))


_INF = float("inf")

# Upper bounds on what makes a fit costly (time or memory grows with them): a typo such as
# n_estimators=10000000 must be refused in the search bar, not discovered as a worker busy
# for a day. Far above what tabular data needs; the message names the bound.
MAX_TREES = 5_000
MAX_ROUNDS = 10_000
MAX_ITERATIONS = 100_000
MAX_CLUSTERS = 10_000
MAX_NEIGHBORS = 1_000
MAX_LAYER_WIDTH = 4_096
MAX_DENSITY_GROUPS = 10_000  # kepler.ml.density.MAX_GROUPS
MAX_FORECAST_K = 10_000  # kepler.ml.forecast.MAX_FORECAST_K
MAX_PERIOD = 1_000  # kepler.ml.forecast.MAX_PERIOD
# Most groups one `fit ... by <field>` version may hold (KEPLER_MAX_GROUPS may lower it).
MAX_GROUPS = 10_000
DEFAULT_MAX_GROUPS = 1_000
# Fields one text model adds to each event (TFIDF's terms, HashingVectorizer's outputs).
MAX_TEXT_FIELDS = 1_000
MAX_HASH_FEATURES = 2**20  # scikit-learn's own default hashing space

# Shared parameter declarations.
RANDOM_STATE = _p("random_state", "int", nullable=True, doc="seed for repeatable results")
FIT_INTERCEPT = _p("fit_intercept", "bool", doc="learn an intercept term")
TOL = _p("tol", "float", minimum=0, aliases=("tolerance",), doc="stopping tolerance")
MAX_ITER = _p(
    "max_iter",
    "int",
    minimum=1,
    maximum=MAX_ITERATIONS,
    aliases=("max_iteration",),
    doc="iteration cap",
)
CLASS_WEIGHT = _p(
    "class_weight",
    "str",
    choices=("balanced",),
    nullable=True,
    doc="balanced: weight classes inversely to their frequency",
)
MAX_FEATURES = _p(
    "max_features",
    "number",
    minimum=0,
    choices=("sqrt", "log2"),
    nullable=True,
    doc="features tried per split: a count, a fraction, sqrt or log2",
)
N_JOBS = _p("n_jobs", "int", nullable=True, doc="parallel workers (-1: all cores)")
DEVICE = _p(
    "device",
    "str",
    choices=("auto", "cpu", "cuda"),
    doc="auto: a CUDA GPU when the worker has one, else the CPU; cuda without a GPU is refused",
)
K_COMPONENTS = _p(
    "k", "int", "n_components", minimum=1, maximum=MAX_CLUSTERS, doc="number of components"
)
KERNELS = ("linear", "poly", "rbf", "sigmoid")
METRICS = (
    "euclidean",
    "manhattan",
    "chebyshev",
    "minkowski",
    "cosine",
    "l1",
    "l2",
    "cityblock",
    "nan_euclidean",
)

# Decision trees and the ensembles built on them share these.
_TREE = (
    _p("max_depth", "int", minimum=1, nullable=True, doc="deepest split; none: unlimited"),
    _p("min_samples_split", "number", minimum=0, doc="an int >= 2, or a fraction of rows"),
    _p("min_samples_leaf", "number", minimum=0, doc="an int >= 1, or a fraction of rows"),
    _p("min_weight_fraction_leaf", "float", minimum=0, maximum=0.5),
    _p("max_leaf_nodes", "int", minimum=2, nullable=True),
    _p("min_impurity_decrease", "float", minimum=0),
    _p("ccp_alpha", "float", minimum=0, doc="cost-complexity pruning strength"),
    MAX_FEATURES,
    RANDOM_STATE,
)
_CLF_CRITERION = _p("criterion", "str", choices=("gini", "entropy", "log_loss"))
_REG_CRITERION = _p("criterion", "str", choices=("squared_error", "absolute_error", "poisson"))
_FOREST = (
    _p("n_estimators", "int", minimum=1, maximum=MAX_TREES, doc="number of trees"),
    _p("bootstrap", "bool"),
    _p("max_samples", "number", minimum=0, nullable=True, doc="rows drawn per tree"),
)
_BOOSTING = (
    _p("n_estimators", "int", minimum=1, maximum=MAX_ROUNDS, doc="boosting stages"),
    _p("learning_rate", "float", minimum=0),
    _p("subsample", "float", minimum=0, maximum=1),
    _p("validation_fraction", "float", minimum=0, maximum=1),
    _p("n_iter_no_change", "int", minimum=1, nullable=True),
    TOL,
)
_HIST_BOOSTING = (
    _p("learning_rate", "float", minimum=0),
    _p(
        "max_iter",
        "int",
        minimum=1,
        maximum=MAX_ROUNDS,
        aliases=("n_estimators",),
        doc="boosting iterations",
    ),
    _p("max_leaf_nodes", "int", minimum=2, nullable=True),
    _p("max_depth", "int", minimum=1, nullable=True),
    _p("min_samples_leaf", "int", minimum=1),
    _p("l2_regularization", "float", minimum=0),
    _p("max_features", "float", minimum=0, maximum=1),
    _p("max_bins", "int", minimum=2, maximum=255),
    _p("early_stopping", "any", doc="auto (on above 10,000 rows), true or false"),
    _p("validation_fraction", "float", minimum=0, nullable=True),
    _p("n_iter_no_change", "int", minimum=1),
    TOL,
    RANDOM_STATE,
)
_SGD = (
    _p("penalty", "str", choices=("l2", "l1", "elasticnet"), nullable=True),
    _p("alpha", "float", minimum=0, doc="regularization strength"),
    _p("l1_ratio", "float", minimum=0, maximum=1),
    FIT_INTERCEPT,
    _p(
        "max_iter",
        "int",
        minimum=1,
        maximum=MAX_ITERATIONS,
        aliases=("n_iter",),
        doc="passes over the data",
    ),
    _p("tol", "float", minimum=0, nullable=True),
    _p("shuffle", "bool"),
    _p("epsilon", "float", minimum=0),
    _p(
        "learning_rate",
        "str",
        choices=("constant", "optimal", "invscaling", "adaptive", "pa1", "pa2"),
    ),
    _p("eta0", "float", minimum=0),
    _p("power_t", "float"),
    _p("early_stopping", "bool"),
    _p("validation_fraction", "float", minimum=0, maximum=1),
    _p("n_iter_no_change", "int", minimum=1),
    _p("average", "bool"),
    RANDOM_STATE,
)
_MLP = (
    _p(
        "hidden_layer_sizes",
        "layers",
        maximum=MAX_LAYER_WIDTH,
        doc="neurons per hidden layer, as MLTK writes it: 50-50 (commas also work)",
    ),
    _p("activation", "str", choices=("identity", "logistic", "tanh", "relu")),
    _p("solver", "str", choices=("lbfgs", "sgd", "adam")),
    _p("alpha", "float", minimum=0, doc="L2 penalty"),
    _p("batch_size", "int", minimum=1, choices=("auto",)),
    _p("learning_rate", "str", choices=("constant", "invscaling", "adaptive")),
    _p("learning_rate_init", "float", minimum=0),
    _p("power_t", "float", minimum=0),
    MAX_ITER,
    _p("shuffle", "bool"),
    TOL,
    _p("momentum", "float", minimum=0, maximum=1),
    _p("nesterovs_momentum", "bool"),
    _p("early_stopping", "bool"),
    _p("validation_fraction", "float", minimum=0, maximum=1),
    _p("beta_1", "float", minimum=0, maximum=1),
    _p("beta_2", "float", minimum=0, maximum=1),
    _p("epsilon", "float", minimum=0),
    _p("n_iter_no_change", "int", minimum=1),
    _p("max_fun", "int", minimum=1, maximum=MAX_ITERATIONS * 10),
    RANDOM_STATE,
)
_SVM_KERNEL = (
    _p("C", "float", minimum=0, doc="inverse regularization strength"),
    _p("kernel", "str", choices=KERNELS),
    _p("degree", "int", minimum=0, doc="degree of the poly kernel"),
    _p("gamma", "float", minimum=0, choices=("scale", "auto"), doc="kernel coefficient"),
    _p("coef0", "float"),
    _p("shrinking", "bool"),
    _p("tol", "float", minimum=0),
    _p("cache_size", "float", minimum=0),
    _p("max_iter", "int", minimum=-1, maximum=MAX_ITERATIONS * 10, doc="-1: no limit"),
)
_NEIGHBORS = (
    _p("n_neighbors", "int", minimum=1, maximum=MAX_NEIGHBORS, aliases=("k",)),
    _p("weights", "str", choices=("uniform", "distance")),
    _p("algorithm", "str", choices=("auto", "ball_tree", "kd_tree", "brute")),
    _p("leaf_size", "int", minimum=1),
    _p("p", "float", minimum=0, doc="power of the Minkowski metric"),
    _p("metric", "str", choices=METRICS),
    N_JOBS,
)
_LINEAR = (FIT_INTERCEPT, _p("positive", "bool", doc="force coefficients >= 0"))
_COORDINATE_DESCENT = (
    _p("alpha", "float", minimum=0, doc="regularization strength"),
    *_LINEAR,
    _p("max_iter", "int", minimum=1, maximum=MAX_ITERATIONS, nullable=True),
    TOL,
    _p("selection", "str", choices=("cyclic", "random")),
    RANDOM_STATE,
)
_XGBOOST = (
    _p("n_estimators", "int", minimum=1, maximum=MAX_ROUNDS, doc="boosting rounds"),
    _p("max_depth", "int", minimum=0, nullable=True),
    _p("max_leaves", "int", minimum=0, nullable=True),
    _p("learning_rate", "float", minimum=0, aliases=("eta",)),
    _p("subsample", "float", minimum=0, maximum=1),
    _p("colsample_bytree", "float", minimum=0, maximum=1),
    _p("colsample_bylevel", "float", minimum=0, maximum=1),
    _p("colsample_bynode", "float", minimum=0, maximum=1),
    _p("min_child_weight", "float", minimum=0),
    _p("gamma", "float", minimum=0, aliases=("min_split_loss",)),
    _p("reg_alpha", "float", minimum=0, doc="L1 penalty"),
    _p("reg_lambda", "float", minimum=0, doc="L2 penalty"),
    _p("max_bin", "int", minimum=2),
    _p("max_delta_step", "float", minimum=0),
    _p("tree_method", "str", choices=("auto", "exact", "approx", "hist")),
    _p("grow_policy", "str", choices=("depthwise", "lossguide")),
    _p("booster", "str", choices=("gbtree", "gblinear", "dart")),
    _p("objective", "str", doc="an XGBoost objective, e.g. reg:absoluteerror"),
    _p("num_parallel_tree", "int", minimum=1),
    N_JOBS,
    RANDOM_STATE,
    DEVICE,
)
_TORCH_MLP = (
    _p(
        "hidden_layer_sizes",
        "layers",
        maximum=MAX_LAYER_WIDTH,
        doc="neurons per hidden layer, e.g. 64,32",
    ),
    _p("max_epochs", "int", minimum=1, maximum=MAX_ITERATIONS, aliases=("epochs",)),
    _p("batch_size", "int", minimum=1),
    # The estimator needs lr > 0 and 0 < validation_fraction < 1: refuse the edges here.
    _p("lr", "float", minimum=1e-9, aliases=("learning_rate",)),
    _p("weight_decay", "float", minimum=0),
    _p("early_stopping", "bool"),
    _p("validation_fraction", "float", minimum=0.01, maximum=0.99),
    _p("patience", "int", minimum=1, doc="epochs without improvement before stopping"),
    RANDOM_STATE,
    DEVICE,
)
# TFIDF and HashingVectorizer share MLTK's text options (sklearn.feature_extraction.text).
_TEXT = (
    _p(
        "ngram_range",
        "range",
        minimum=1,
        maximum=10,
        doc="the shortest and longest n-grams, as low-high (1-2: words and word pairs)",
    ),
    _p("analyzer", "str", choices=("word", "char", "char_wb"), doc="n-grams of words or chars"),
    _p("norm", "str", choices=("l1", "l2"), nullable=True, doc="row normalisation"),
    _p("token_pattern", "str", doc="regular expression of a token (default: 2+ word chars)"),
    _p("stop_words", "str", choices=("english",), nullable=True, doc="drop English stop words"),
)
# Forests and boosters parallelise over cores by threads; Kepler uses them all by default.
_ALL_CORES = (("n_jobs", -1),)
# hist is XGBoost's one tree method that runs on both a CPU and a GPU; kepler.ml.registry
# turns device=auto into cpu or cuda, which is what XGBoost's own `device` accepts.
_XGBOOST_DEFAULTS = (*_ALL_CORES, ("verbosity", 0), ("tree_method", "hist"), ("device", "auto"))


_CLASSIFIERS: tuple[AlgorithmInfo, ...] = (
    AlgorithmInfo(
        "BernoulliNB",
        "classifier",
        "sklearn.naive_bayes:BernoulliNB",
        _ps(
            _p("alpha", "float", minimum=0, doc="additive smoothing"),
            _p("binarize", "float", minimum=0, nullable=True, doc="threshold for 1 vs 0"),
            _p("fit_prior", "bool"),
            _p("force_alpha", "bool"),
        ),
        doc="Naive Bayes for binary features (values above `binarize` count as 1).",
    ),
    AlgorithmInfo(
        "DecisionTreeClassifier",
        "classifier",
        "sklearn.tree:DecisionTreeClassifier",
        _ps(
            _CLF_CRITERION, _p("splitter", "str", choices=("best", "random")), *_TREE, CLASS_WEIGHT
        ),
        doc="A single decision tree; readable, prone to overfit without max_depth.",
    ),
    AlgorithmInfo(
        "GaussianNB",
        "classifier",
        "sklearn.naive_bayes:GaussianNB",
        _ps(_p("var_smoothing", "float", minimum=0)),
        doc="Naive Bayes with normally distributed numeric features.",
    ),
    AlgorithmInfo(
        "GradientBoostingClassifier",
        "classifier",
        "sklearn.ensemble:GradientBoostingClassifier",
        _ps(
            _p("loss", "str", choices=("log_loss", "exponential")),
            *_BOOSTING,
            *(p for p in _TREE if p.name != "ccp_alpha"),
            _p("ccp_alpha", "float", minimum=0),
        ),
        doc="Gradient-boosted trees (exact splits); HistGradientBoosting is faster on big data.",
    ),
    AlgorithmInfo(
        "LogisticRegression",
        "classifier",
        "sklearn.linear_model:LogisticRegression",
        _ps(
            FIT_INTERCEPT,
            _p("C", "float", minimum=0, doc="inverse regularization strength"),
            _p(
                "l1_ratio",
                "float",
                minimum=0,
                maximum=1,
                nullable=True,
                doc="0: L2 penalty, 1: L1 penalty, between: elastic net",
            ),
            _p(
                "solver",
                "str",
                choices=("lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga"),
            ),
            MAX_ITER,
            TOL,
            CLASS_WEIGHT,
            _p("intercept_scaling", "float", minimum=0),
            RANDOM_STATE,
        ),
        # 100 iterations rarely converge on unscaled event data; 1000 costs little.
        defaults=(("max_iter", 1000),),
        doc="Linear model of class log-odds; gives calibrated probabilities.",
    ),
    AlgorithmInfo(
        "MLPClassifier",
        "classifier",
        "sklearn.neural_network:MLPClassifier",
        _ps(*_MLP),
        doc="Multi-layer perceptron (scikit-learn, CPU).",
    ),
    AlgorithmInfo(
        "RandomForestClassifier",
        "classifier",
        "sklearn.ensemble:RandomForestClassifier",
        _ps(
            *_FOREST,
            _CLF_CRITERION,
            *_TREE,
            _p("class_weight", "str", choices=("balanced", "balanced_subsample"), nullable=True),
            N_JOBS,
        ),
        defaults=_ALL_CORES,
        doc="An ensemble of decision trees on bootstrap samples.",
    ),
    AlgorithmInfo(
        "SGDClassifier",
        "classifier",
        "sklearn.linear_model:SGDClassifier",
        _ps(
            _p(
                "loss",
                "str",
                choices=(
                    "hinge",
                    "log_loss",
                    "modified_huber",
                    "squared_hinge",
                    "perceptron",
                    "squared_error",
                    "huber",
                    "epsilon_insensitive",
                    "squared_epsilon_insensitive",
                ),
            ),
            *_SGD,
            CLASS_WEIGHT,
            N_JOBS,
        ),
        doc="Linear classifier trained by stochastic gradient descent; scales to many rows.",
    ),
    AlgorithmInfo(
        "SVM",
        "classifier",
        "sklearn.svm:SVC",
        _ps(
            *_SVM_KERNEL,
            CLASS_WEIGHT,
            _p("decision_function_shape", "str", choices=("ovr", "ovo")),
            _p("break_ties", "bool"),
        ),
        aliases=("SVC",),
        doc="Support vector classifier; training time grows with rows squared.",
    ),
    AlgorithmInfo(
        "HistGradientBoostingClassifier",
        "classifier",
        "sklearn.ensemble:HistGradientBoostingClassifier",
        _ps(*_HIST_BOOSTING, CLASS_WEIGHT),
        doc="Histogram gradient boosting; fast on millions of rows, handles missing values.",
    ),
    AlgorithmInfo(
        "KNeighborsClassifier",
        "classifier",
        "sklearn.neighbors:KNeighborsClassifier",
        _ps(*_NEIGHBORS),
        doc="Majority vote of the k nearest training rows.",
    ),
    AlgorithmInfo(
        "XGBoostClassifier",
        "classifier",
        "xgboost.sklearn:XGBClassifier",
        _ps(*_XGBOOST, _p("scale_pos_weight", "float", minimum=0)),
        aliases=("XGBClassifier",),
        defaults=_XGBOOST_DEFAULTS,
        extra="xgboost",
        doc="XGBoost gradient-boosted trees (on a CUDA GPU when the worker has one).",
    ),
    AlgorithmInfo(
        "TorchMLPClassifier",
        "classifier",
        "kepler.ml.torch_mlp:TorchMLPClassifier",
        _ps(*_TORCH_MLP),
        aliases=("MLPTorchClassifier",),
        extra="torch",
        doc="Multi-layer perceptron in PyTorch (on a CUDA GPU when the worker has one).",
    ),
)

_REGRESSORS: tuple[AlgorithmInfo, ...] = (
    AlgorithmInfo(
        "DecisionTreeRegressor",
        "regressor",
        "sklearn.tree:DecisionTreeRegressor",
        _ps(_REG_CRITERION, _p("splitter", "str", choices=("best", "random")), *_TREE),
        doc="A single regression tree.",
    ),
    AlgorithmInfo(
        "ElasticNet",
        "regressor",
        "sklearn.linear_model:ElasticNet",
        _ps(*_COORDINATE_DESCENT, _p("l1_ratio", "float", minimum=0, maximum=1)),
        doc="Linear regression with a mix of L1 and L2 penalties.",
    ),
    AlgorithmInfo(
        "GradientBoostingRegressor",
        "regressor",
        "sklearn.ensemble:GradientBoostingRegressor",
        _ps(
            _p("loss", "str", choices=("squared_error", "absolute_error", "huber", "quantile")),
            _p("alpha", "float", minimum=0, maximum=1, doc="quantile for huber and quantile"),
            *_BOOSTING,
            *_TREE,
        ),
        doc="Gradient-boosted regression trees (exact splits).",
    ),
    AlgorithmInfo(
        "KernelRidge",
        "regressor",
        "sklearn.kernel_ridge:KernelRidge",
        _ps(
            _p("alpha", "float", minimum=0, doc="regularization strength"),
            _p(
                "kernel",
                "str",
                choices=(
                    "linear",
                    "poly",
                    "polynomial",
                    "rbf",
                    "laplacian",
                    "sigmoid",
                    "cosine",
                    "chi2",
                    "additive_chi2",
                ),
            ),
            _p("gamma", "float", minimum=0, nullable=True),
            _p("degree", "float", minimum=0),
            _p("coef0", "float"),
        ),
        # MLTK's KernelRidge is the RBF kernel; scikit-learn's default is linear.
        defaults=(("kernel", "rbf"),),
        doc="Ridge regression with the kernel trick (RBF by default, as in MLTK).",
    ),
    AlgorithmInfo(
        "Lasso",
        "regressor",
        "sklearn.linear_model:Lasso",
        _ps(*_COORDINATE_DESCENT),
        doc="Linear regression with an L1 penalty; drives coefficients to zero.",
    ),
    AlgorithmInfo(
        "LinearRegression",
        "regressor",
        "sklearn.linear_model:LinearRegression",
        _ps(*_LINEAR, N_JOBS),
        doc="Ordinary least squares.",
    ),
    AlgorithmInfo(
        "MLPRegressor",
        "regressor",
        "sklearn.neural_network:MLPRegressor",
        _ps(*_MLP, _p("loss", "str", choices=("squared_error", "poisson"))),
        doc="Multi-layer perceptron regressor (scikit-learn, CPU).",
    ),
    AlgorithmInfo(
        "RandomForestRegressor",
        "regressor",
        "sklearn.ensemble:RandomForestRegressor",
        _ps(*_FOREST, _REG_CRITERION, *_TREE, N_JOBS),
        defaults=_ALL_CORES,
        doc="An ensemble of regression trees on bootstrap samples.",
    ),
    AlgorithmInfo(
        "Ridge",
        "regressor",
        "sklearn.linear_model:Ridge",
        _ps(
            _p("alpha", "float", minimum=0, doc="regularization strength"),
            *_LINEAR,
            _p(
                "solver",
                "str",
                choices=("auto", "svd", "cholesky", "lsqr", "sparse_cg", "sag", "saga", "lbfgs"),
            ),
            _p("max_iter", "int", minimum=1, maximum=MAX_ITERATIONS, nullable=True),
            TOL,
            RANDOM_STATE,
        ),
        doc="Linear regression with an L2 penalty.",
    ),
    AlgorithmInfo(
        "SGDRegressor",
        "regressor",
        "sklearn.linear_model:SGDRegressor",
        _ps(
            _p(
                "loss",
                "str",
                choices=(
                    "squared_error",
                    "huber",
                    "epsilon_insensitive",
                    "squared_epsilon_insensitive",
                ),
            ),
            *_SGD,
        ),
        doc="Linear regression trained by stochastic gradient descent.",
    ),
    AlgorithmInfo(
        "HistGradientBoostingRegressor",
        "regressor",
        "sklearn.ensemble:HistGradientBoostingRegressor",
        _ps(
            *_HIST_BOOSTING,
            _p(
                "loss",
                "str",
                choices=("squared_error", "absolute_error", "gamma", "poisson", "quantile"),
            ),
            _p("quantile", "float", minimum=0, maximum=1, nullable=True),
        ),
        doc="Histogram gradient boosting; fast on millions of rows, handles missing values.",
    ),
    AlgorithmInfo(
        "KNeighborsRegressor",
        "regressor",
        "sklearn.neighbors:KNeighborsRegressor",
        _ps(*_NEIGHBORS),
        doc="Average of the k nearest training rows.",
    ),
    AlgorithmInfo(
        "SVR",
        "regressor",
        "sklearn.svm:SVR",
        _ps(*_SVM_KERNEL, _p("epsilon", "float", minimum=0, doc="no-penalty tube width")),
        doc="Support vector regression; training time grows with rows squared.",
    ),
    AlgorithmInfo(
        "XGBoostRegressor",
        "regressor",
        "xgboost.sklearn:XGBRegressor",
        _ps(*_XGBOOST),
        aliases=("XGBRegressor",),
        defaults=_XGBOOST_DEFAULTS,
        extra="xgboost",
        doc="XGBoost gradient-boosted regression trees (on a CUDA GPU when the worker has one).",
    ),
    AlgorithmInfo(
        "TorchMLPRegressor",
        "regressor",
        "kepler.ml.torch_mlp:TorchMLPRegressor",
        _ps(*_TORCH_MLP),
        aliases=("MLPTorchRegressor",),
        extra="torch",
        doc="Multi-layer perceptron regressor in PyTorch (on a CUDA GPU when the worker has one).",
    ),
)

_CLUSTERERS: tuple[AlgorithmInfo, ...] = (
    AlgorithmInfo(
        "Birch",
        "clusterer",
        "sklearn.cluster:Birch",
        _ps(
            _p("k", "int", "n_clusters", minimum=1, maximum=MAX_CLUSTERS, doc="number of clusters"),
            _p("threshold", "float", minimum=0, doc="radius of a subcluster"),
            _p("branching_factor", "int", minimum=2),
        ),
        doc="Hierarchical clustering that summarises the data in one pass.",
    ),
    AlgorithmInfo(
        "DBSCAN",
        "clusterer",
        "sklearn.cluster:DBSCAN",
        _ps(
            _p("eps", "float", minimum=0, doc="neighbourhood radius"),
            _p("min_samples", "int", minimum=1, doc="neighbours that make a core point"),
            _p("metric", "str", choices=METRICS),
            _p("algorithm", "str", choices=("auto", "ball_tree", "kd_tree", "brute")),
            _p("leaf_size", "int", minimum=1),
            _p("p", "float", minimum=0, nullable=True),
            N_JOBS,
        ),
        doc="Density-based clusters; cluster -1 is noise. On new data a row joins the "
        "cluster of its nearest core point within eps, else -1.",
    ),
    AlgorithmInfo(
        "KMeans",
        "clusterer",
        "sklearn.cluster:KMeans",
        _ps(
            _p("k", "int", "n_clusters", minimum=1, maximum=MAX_CLUSTERS, doc="number of clusters"),
            _p("init", "str", choices=("k-means++", "random")),
            _p("n_init", "int", minimum=1, choices=("auto",)),
            MAX_ITER,
            TOL,
            _p("algorithm", "str", choices=("lloyd", "elkan")),
            RANDOM_STATE,
        ),
        defaults=(("n_init", "auto"),),
        doc="k clusters around centroids.",
    ),
    AlgorithmInfo(
        "SpectralClustering",
        "clusterer",
        "sklearn.cluster:SpectralClustering",
        _ps(
            _p("k", "int", "n_clusters", minimum=1, maximum=MAX_CLUSTERS, doc="number of clusters"),
            _p("gamma", "float", minimum=0, doc="RBF kernel coefficient"),
            _p("affinity", "str", choices=("rbf", "nearest_neighbors")),
            _p("n_neighbors", "int", minimum=1, maximum=MAX_NEIGHBORS),
            _p("assign_labels", "str", choices=("kmeans", "discretize", "cluster_qr")),
            _p("n_init", "int", minimum=1),
            _p("eigen_solver", "str", choices=("arpack", "lobpcg", "amg"), nullable=True),
            RANDOM_STATE,
            N_JOBS,
        ),
        doc="Clusters from the graph of pairwise affinities; memory grows with rows squared. "
        "On new data a row takes the cluster of its nearest training row.",
    ),
    AlgorithmInfo(
        "GaussianMixture",
        "clusterer",
        "sklearn.mixture:GaussianMixture",
        _ps(
            _p(
                "k",
                "int",
                "n_components",
                minimum=1,
                maximum=MAX_CLUSTERS,
                doc="number of mixture components",
            ),
            _p("covariance_type", "str", choices=("full", "tied", "diag", "spherical")),
            _p("max_iter", "int", minimum=0, maximum=MAX_ITERATIONS, aliases=("max_iteration",)),
            _p("n_init", "int", minimum=1),
            _p("init_params", "str", choices=("kmeans", "k-means++", "random", "random_from_data")),
            TOL,
            _p("reg_covar", "float", minimum=0),
            RANDOM_STATE,
        ),
        doc="A mixture of k Gaussians; each row goes to its most likely component.",
    ),
)

_OUTLIER_DETECTORS: tuple[AlgorithmInfo, ...] = (
    AlgorithmInfo(
        "IsolationForest",
        "outlier",
        "sklearn.ensemble:IsolationForest",
        _ps(
            _p("n_estimators", "int", minimum=1, maximum=MAX_TREES),
            _p("max_samples", "number", minimum=0, choices=("auto",)),
            _p(
                "contamination",
                "float",
                minimum=0,
                maximum=0.5,
                choices=("auto",),
                doc="expected share of outliers",
            ),
            _p("max_features", "number", minimum=0),
            _p("bootstrap", "bool"),
            RANDOM_STATE,
            N_JOBS,
        ),
        defaults=_ALL_CORES,
        doc="Outliers are the rows random trees isolate in few splits.",
    ),
    AlgorithmInfo(
        "LocalOutlierFactor",
        "outlier",
        "sklearn.neighbors:LocalOutlierFactor",
        _ps(
            _p("n_neighbors", "int", minimum=1, maximum=MAX_NEIGHBORS),
            _p("algorithm", "str", choices=("auto", "ball_tree", "kd_tree", "brute")),
            _p("leaf_size", "int", minimum=1),
            _p("metric", "str", choices=METRICS),
            _p("p", "float", minimum=0),
            _p(
                "contamination",
                "float",
                minimum=0,
                maximum=0.5,
                choices=("auto",),
                doc="expected share of outliers",
            ),
            _p("novelty", "bool", doc="true (Kepler's default) lets the model score new data"),
            N_JOBS,
        ),
        # novelty=True is what makes `apply` on new events possible.
        defaults=(("novelty", True),),
        doc="Outliers are rows far less dense than their neighbours.",
    ),
    AlgorithmInfo(
        "OneClassSVM",
        "outlier",
        "sklearn.svm:OneClassSVM",
        _ps(
            *(p for p in _SVM_KERNEL if p.name != "C"),
            _p("nu", "float", minimum=0, maximum=1, doc="upper bound on the outlier share"),
        ),
        doc="A boundary around the normal data; rows outside are outliers.",
    ),
    AlgorithmInfo(
        "DensityFunction",
        "outlier",
        "kepler.ml.density:DensityFunction",
        _ps(
            _p(
                "dist",
                "str",
                choices=("auto", "norm", "expon", "gaussian_kde", "beta"),
                doc="the distribution fitted per group; auto picks norm, expon or gaussian_kde",
            ),
            _p(
                "threshold",
                "floats",
                minimum=MIN_THRESHOLD,
                maximum=1,
                doc="share of the distribution's area called outlying (both tails); "
                'several in quotes, threshold="0.01,0.005", give one IsOutlier each',
            ),
            _p(
                "lower_threshold",
                "floats",
                minimum=MIN_THRESHOLD,
                maximum=1,
                nullable=True,
                doc="the lower tail's area alone; several values allowed",
            ),
            _p(
                "upper_threshold",
                "floats",
                minimum=MIN_THRESHOLD,
                maximum=1,
                nullable=True,
                doc="the upper tail's area alone; several values allowed",
            ),
            _p(
                "metric",
                "str",
                choices=("wasserstein", "kolmogorov_smirnov"),
                doc="how auto compares fits (MLTK's two distances)",
            ),
            _p("show_density", "bool", doc="add ProbabilityDensity(<field>)"),
            _p(
                "sample",
                "bool",
                doc="add SampledValue (SampledValue_th=<t> per threshold), drawn from the "
                "inlier range",
            ),
            _p("full_sample", "bool", doc="add FullSampledValue, drawn from the whole fit"),
            _p(
                "show_options",
                "str",
                nullable=True,
                doc='add _Options, a JSON of the named options: show_options="feature_variables,'
                'split_by,params" (also algo_name, model_name, output_name)',
            ),
            _p(
                "max_groups",
                "int",
                minimum=1,
                maximum=MAX_DENSITY_GROUPS,
                doc="most `by` groups one model holds",
            ),
            RANDOM_STATE,
        ),
        doc="One distribution per `by` group; values in its tails are outliers "
        "(IsOutlier(<field>)).",
        rules=check_density_params,
    ),
)

_TRANSFORMERS: tuple[AlgorithmInfo, ...] = (
    AlgorithmInfo(
        "StandardScaler",
        "transformer",
        "sklearn.preprocessing:StandardScaler",
        _ps(_p("with_mean", "bool"), _p("with_std", "bool")),
        doc="Centre each field to mean 0 and scale it to variance 1 (SS_<field>).",
    ),
    AlgorithmInfo(
        "RobustScaler",
        "transformer",
        "sklearn.preprocessing:RobustScaler",
        _ps(_p("with_centering", "bool"), _p("with_scaling", "bool"), _p("unit_variance", "bool")),
        doc="Centre on the median and scale by the interquartile range (RS_<field>).",
    ),
    AlgorithmInfo(
        "MinMaxScaler",
        "transformer",
        "sklearn.preprocessing:MinMaxScaler",
        _ps(_p("clip", "bool", doc="clip new data to [0, 1]")),
        doc="Scale each field to the range [0, 1] (MMS_<field>).",
    ),
    AlgorithmInfo(
        "PCA",
        "transformer",
        "sklearn.decomposition:PCA",
        _ps(
            # `variance` first: scikit-learn's spelling n_components then means k.
            _p(
                "variance",
                "float",
                "n_components",
                minimum=0,
                maximum=1,
                doc="keep enough components to explain this share of variance",
            ),
            K_COMPONENTS,
            _p("whiten", "bool"),
            _p(
                "svd_solver",
                "str",
                choices=("auto", "full", "covariance_eigh", "arpack", "randomized"),
            ),
            RANDOM_STATE,
        ),
        doc="Principal components (PC_1, PC_2, ...).",
    ),
    AlgorithmInfo(
        "KernelPCA",
        "transformer",
        "sklearn.decomposition:KernelPCA",
        _ps(
            K_COMPONENTS,
            _p("kernel", "str", choices=("linear", "poly", "rbf", "sigmoid", "cosine")),
            _p("gamma", "float", minimum=0, nullable=True),
            _p("degree", "float", minimum=0),
            _p("coef0", "float"),
            _p("alpha", "float", minimum=0),
            _p("eigen_solver", "str", choices=("auto", "dense", "arpack", "randomized")),
            _p("tol", "float", minimum=0, aliases=("tolerance",)),
            _p(
                "max_iter",
                "int",
                minimum=1,
                maximum=MAX_ITERATIONS,
                nullable=True,
                aliases=("max_iteration",),
            ),
            RANDOM_STATE,
            N_JOBS,
        ),
        # MLTK's KernelPCA is the RBF kernel; scikit-learn's default is linear.
        defaults=(("kernel", "rbf"),),
        doc="Non-linear principal components (PC_1, ...); memory grows with rows squared.",
    ),
    AlgorithmInfo(
        "ICA",
        "transformer",
        "sklearn.decomposition:FastICA",
        _ps(
            _p(
                "n_components",
                "int",
                minimum=1,
                maximum=MAX_CLUSTERS,
                aliases=("k",),
                doc="number of components",
            ),
            _p("algorithm", "str", choices=("parallel", "deflation")),
            _p("whiten", "str", choices=("unit-variance", "arbitrary-variance")),
            _p("fun", "str", choices=("logcosh", "exp", "cube")),
            MAX_ITER,
            TOL,
            RANDOM_STATE,
        ),
        aliases=("FastICA",),
        doc="Independent components (IC_1, IC_2, ...).",
    ),
    AlgorithmInfo(
        "TFIDF",
        "transformer",
        "kepler.ml.text:TFIDF",
        _ps(
            _p(
                "max_features",
                "int",
                minimum=1,
                maximum=MAX_TEXT_FIELDS,
                doc="keep the most frequent terms, one field each (MLTK's default: 100)",
            ),
            _p("max_df", "number", minimum=0, doc="drop terms in more documents (share/count)"),
            _p("min_df", "number", minimum=0, doc="drop terms in fewer documents (share/count)"),
            *_TEXT,
        ),
        doc="TF-IDF weight of each term of one text field (<field>_tfidf_<n>_<term>).",
    ),
    AlgorithmInfo(
        "HashingVectorizer",
        "transformer",
        "kepler.ml.text:HashingVectorizer",
        _ps(
            _p(
                "max_features",
                "int",
                "n_features",
                minimum=2,
                maximum=MAX_HASH_FEATURES,
                doc="size of the hashing space (MLTK's default: 10000)",
            ),
            _p(
                "k",
                "int",
                "n_components",
                minimum=1,
                maximum=MAX_TEXT_FIELDS,
                doc="fields kept after reduction (default 100)",
            ),
            _p("reduce", "bool", doc="reduce the hashes to k fields with TruncatedSVD"),
            _p("n_iters", "int", "n_iter", minimum=1, maximum=100, doc="SVD iterations"),
            *_TEXT,
            RANDOM_STATE,
        ),
        doc="Hashed term counts of one text field, reduced to k fields (<field>_hashed_<n>).",
    ),
    AlgorithmInfo(
        "FieldSelector",
        "transformer",
        "kepler.ml.selection:FieldSelector",
        _ps(
            _p(
                "type",
                "str",
                choices=("categorical", "numeric", "numerical"),
                doc="the target's kind: categorical (ANOVA F) or numeric (F regression)",
            ),
            _p("mode", "str", choices=("percentile", "k_best", "fpr", "fdr", "fwe")),
            _p(
                "param",
                "float",
                minimum=0,
                doc="the mode's parameter: a percentile, a count, or an alpha in (0, 1)",
            ),
        ),
        doc="Keep the fields most related to a target (fs_<field>).",
    ),
    AlgorithmInfo(
        "Imputer",
        "transformer",
        "kepler.ml.impute:Imputer",
        _ps(
            _p(
                "strategy",
                "str",
                choices=("mean", "median", "most_frequent", "field"),
                doc="what fills a gap; field: the value of the field named by field=",
            ),
            _p(
                "missing_values",
                "number",
                choices=("NaN", "nan"),
                doc="the value that means missing (NaN: empty fields)",
            ),
            _p("field", "str", doc="with strategy=field: the field whose value fills gaps"),
        ),
        doc="Fill missing values of numeric fields (Imputed_<field>).",
    ),
)

# MLTK's forecasters: driven by _time, they add predicted(<field>) and its interval, and
# forecast_k steps after the last row fitted (kepler.ml.forecast).
_FORECAST_COMMON = (
    _p(
        "forecast_k",
        "steps",
        minimum=0,
        maximum=MAX_FORECAST_K,
        doc="steps to forecast after the last row fitted (the holdback rows first, as in "
        "MLTK; the rest appended at the series' step), or a time amount (2weeks)",
    ),
    _p(
        "conf_interval",
        "number",
        minimum=1,
        maximum=99.9,
        doc="confidence of the interval, in percent: lower<ci>/upper<ci>(predicted(<field>))",
    ),
    _p(
        "holdback",
        "steps",
        minimum=0,
        doc="last rows left out of the fit and forecast instead (to compare with the "
        "truth), or a time amount (3days)",
    ),
)

_FORECASTERS: tuple[AlgorithmInfo, ...] = (
    AlgorithmInfo(
        "StateSpaceForecast",
        "forecaster",
        "kepler.ml.forecast:StateSpaceForecast",
        _ps(
            *_FORECAST_COMMON,
            _p(
                "period",
                "int",
                minimum=1,
                maximum=MAX_PERIOD,
                nullable=True,
                doc="seasonal period in rows (e.g. 24 for hourly data with a daily cycle); "
                "1: no seasonality; not given: detected from the data, as MLTK does",
            ),
            _p(
                "output_fit",
                "bool",
                doc="fill the interval on the fitted rows too (by default, as MLTK, only "
                "from the first held-back or forecast row on)",
            ),
            _p(
                "output_metadata",
                "bool",
                doc="add _forecastMetadata: h on held-back rows, f on forecast rows, hf on "
                "rows that are both",
            ),
            _p(
                "specialdays",
                "str",
                doc="a 0/1 field of special days, an exogenous regressor; rows after the "
                "series' last value that carry it give the future ones (0 past them)",
            ),
            _p(
                "update_last",
                "bool",
                doc="with partial_fit=true: answer the previous version's forecast over the "
                "new events, then update (MLTK's update_last)",
            ),
        ),
        extra="forecast",
        doc="Kalman-filter forecast (local linear trend, optional seasonality) of one or "
        "more fields over _time.",
    ),
    AlgorithmInfo(
        "ARIMA",
        "forecaster",
        "kepler.ml.forecast:ARIMA",
        _ps(
            _p(
                "order", "str", doc="p-d-q: autoregressive terms, differences, moving-average terms"
            ),
            *_FORECAST_COMMON,
        ),
        extra="forecast",
        doc="ARIMA(p, d, q) forecast of one field over _time.",
    ),
)

_BUILTIN: tuple[AlgorithmInfo, ...] = (
    *_CLASSIFIERS,
    *_REGRESSORS,
    *_CLUSTERERS,
    *_OUTLIER_DETECTORS,
    *_TRANSFORMERS,
    *_FORECASTERS,
)


def builtin_algorithms() -> tuple[AlgorithmInfo, ...]:
    return _BUILTIN


def index(algorithms: Iterable[AlgorithmInfo]) -> dict[str, AlgorithmInfo]:
    """Look-up table by lower-cased name and alias."""
    table: dict[str, AlgorithmInfo] = {}
    for info in algorithms:
        for n in (info.name, *info.aliases):
            table.setdefault(n.lower(), info)
    return table


def find_algorithm(name: str, extra: Iterable[AlgorithmInfo] = ()) -> AlgorithmInfo:
    """The algorithm called ``name`` (any case, any alias), or :class:`UnknownAlgorithm`
    suggesting the closest names."""
    algorithms = [*_BUILTIN, *extra]
    table = index(algorithms)
    found = table.get(name.lower())
    if found is not None:
        return found
    names = sorted({a.name for a in algorithms} | {al for a in algorithms for al in a.aliases})
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    if not close:
        low = {n.lower(): n for n in names}
        lowered = difflib.get_close_matches(name.lower(), list(low), n=3, cutoff=0.4)
        close = [low[c] for c in lowered]
    hint = f"did you mean {', '.join(close)}?" if close else "run `kepler models` or see the docs"
    raise UnknownAlgorithm(
        f"unknown algorithm {name!r}; {hint} (list them all with kp.algorithms())",
        detail={"algorithm": name, "suggestions": close},
    )


def refuse_partial_fit(algorithm: str) -> None:
    """:class:`BadParameter` unless ``algorithm`` learns incrementally (`partial_fit=true`),
    naming the algorithms that do."""
    if algorithm in PARTIAL_FIT:
        return
    raise BadParameter(
        f"partial_fit=true is not supported by {algorithm}; the algorithms that support it "
        f"are: {', '.join(sorted(PARTIAL_FIT))}. Fit {algorithm} without partial_fit to "
        "train a new version on all the events",
        detail={"parameter": "partial_fit", "supported": sorted(PARTIAL_FIT)},
    )
