"""The study factory: sampler, pruner, storage and direction from the spec's `automl` section.

`make_study(settings, storage, study_name)` is the one public entry. It works with any
objective (stereo training, the LCBench surrogate in bench/, a quadratic in tests), so the
search defaults can be measured apart from training.

Defaults and why, measured with bench/search_quality.py on the LCBench surrogate (best final
validation loss of completed trials, median over seeds, of the defaults at 25 % of the epochs
of 40-trial random search without pruning; ratio = ours / random, <= 1 wins):
- Sampler: `CurveGPSampler` (automl/gp_sampler.py), Optuna's GPSampler (a Gaussian process with
  log expected improvement that reads RUNNING trials from the storage, so parallel workers do
  not pick the same point), seeded, 2 random startup trials, for a study with one objective;
  the GP is fitted over (configuration, log epoch) on log values of the completed and pruned
  trials' learning curves (epochs 4, 8, 16, ... and each trial's end) and proposes by log EI at
  max_epochs, and every third trial after the startup ones is drawn at random. A constrained
  study (`automl.latency_budget_ms`) fits completed trials and pruned ones at their last value.
  A multi-objective study (`automl.objectives` with two) keeps multivariate TPE with constant liar.
- Pruner: `trend_halving` (automl/trend_pruner.py): successive halving, reduction factor 4,
  first rung at 15 % of max_epochs (rungs at 8 and 32 of 52 epochs, 4 and 16 of 27), where a
  trial goes on when it is in the best quarter of the trials at the rung by its value there OR
  by where its curve is heading (the value plus the drop its recent log-epoch slope would still
  make by max_epochs): ~34 % go on, and fewer of the configurations that end best are cut than
  by either ranking alone (bench/rung_ranking.py).
Why, step by step, with every choosing run and fresh check: bench/results/search_quality/README.md.
Fresh checks of these defaults (the learning-curve GP): seeds 20000..20029: 34/34 tasks, geo-mean
0.697, worst 0.987 (167152); seeds 21000..21029: 34/34, 0.665, worst 0.981 (167184). The defaults
before it (GP fitted on last values): seeds 10000..10029 32/34, 0.713, worst 1.028; seeds
16000..16039 34/34, 0.718, worst 0.990.
The `curve` pruner (automl/curve_pruner.py, `automl.pruner: curve`) stops a trial only when its
curve so far cannot reach the best completed trial even with the largest late drop a
completed trial showed; it keeps slow starters that successive halving cuts, but only while
the completed trials include a curve that fell; choose it explicitly.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import optuna

from automl.curve_pruner import CurvePruner
from automl.directions import DIRECTIONS, KNOWN_METRICS, resolve_direction  # noqa: F401 - re-exported
from automl.gp_sampler import DEFAULT_EXPLORE_EVERY, CurveGPSampler
from automl.pareto import is_multi, resolve_objectives
from automl.storage_probe import check_storage_path, probe_journal, probe_sqlite
from automl.trend_pruner import TrendHalvingPruner
from model.errors import SpecError

__all__ = [
    "make_study",
    "resolve_direction",
    "build_sampler",
    "build_pruner",
    "pruner_rungs",
    "build_storage",
    "KNOWN_METRICS",
    "SAMPLERS",
    "PRUNERS",
    "LATENCY_ATTR",
    "record_latency",
    "retry_trial",
    "open_existing_study",
    "check_storage_exists",
]

# Metrics the training writes, with the better direction: all are errors or losses, lower is better.
SAMPLERS = ("tpe", "gp", "cmaes", "random")
PRUNERS = ("trend_halving", "curve", "hyperband", "successive_halving", "median", "none")
LATENCY_ATTR = "latency_ms"
DEFAULT_MAX_EPOCHS = 27
DEFAULT_PRUNER = "trend_halving"
TREND_REDUCTION_FACTOR = 4
DEFAULT_STARTUP_TRIALS = 2
MAX_RETRY = 2


def record_latency(trial: optuna.Trial, latency_ms: float) -> None:
    """Record a trial's measured inference latency; over the study's budget makes it infeasible.

    The budget is `automl.latency_budget_ms`, kept by make_study in the study's user attrs, so
    any objective only reports what it measured. Infeasible trials never become best_trial.
    """
    trial.set_user_attr(LATENCY_ATTR, float(latency_ms))
    budget = trial.study.user_attrs.get("latency_budget_ms")
    if budget is not None:
        trial.set_constraint(LATENCY_ATTR, float(latency_ms) - float(budget))


def build_sampler(settings: dict) -> optuna.samplers.BaseSampler:
    """The sampler named by `automl.sampler` (default: gp for one objective, tpe for two), seeded by `automl.seed`."""
    name = str(settings.get("sampler") or ("tpe" if is_multi(settings) else "gp")).lower()
    seed = settings.get("seed")
    n_startup = int(settings.get("n_startup_trials", DEFAULT_STARTUP_TRIALS))
    if name == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=n_startup,
            multivariate=True,
            constant_liar=True,
        )
    if name == "gp":
        # Without the optional greenlet package Optuna's GP logs one warning on its first suggestion; the
        # sequential L-BFGS-B it falls back to is what the measurements above used.
        logging.getLogger("optuna._gp.batched_lbfgsb").setLevel(logging.ERROR)
        explore = int(settings.get("explore_every", DEFAULT_EXPLORE_EVERY))
        max_epochs = int(settings.get("max_epochs") or DEFAULT_MAX_EPOCHS)
        return CurveGPSampler(seed=seed, n_startup_trials=n_startup, explore_every=explore, max_epochs=max_epochs)
    if name == "cmaes":
        # Hyperband shows each bracket its own trials; CMA-ES must not learn from pruned ones.
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise SpecError(f"automl.sampler: {name!r} is not allowed; use one of {', '.join(SAMPLERS)}")


def default_min_resource(max_epochs: int) -> int:
    """First rung of the pruners: 15 % of max_epochs (rounded), at least 1.

    With trend halving's reduction factor 4 the rungs fall at 8 and 32 of 52 epochs, 4 and 16 of
    27 (successive halving's 3: 8 and 24, 4 and 12). An
    earlier first rung (1/12 of the run) cut slow starters: the loss at epoch 4 of 52 ranks
    configurations with a rank correlation of ~0.74 to their final loss, at epoch 8 ~0.85
    (LCBench, median over tasks).
    """
    return max(1, round(max_epochs * 0.15))


def pruner_rungs(settings: dict, max_epochs: int) -> tuple[int, int]:
    """(first rung, reduction factor) of the halving pruners for these settings.

    Reduction factor 4 for `trend_halving` (its two rankings let ~1.35 / factor of the trials go on,
    ~34 %), 3 for successive halving and hyperband (a third).
    """
    name = str(settings.get("pruner") or DEFAULT_PRUNER).lower()
    factor = settings.get("reduction_factor") or (TREND_REDUCTION_FACTOR if name == "trend_halving" else 3)
    return int(settings.get("min_epochs") or default_min_resource(max_epochs)), int(factor)


def build_pruner(settings: dict) -> optuna.pruners.BasePruner:
    """The pruner named by `automl.pruner` (default trend_halving), sized to `automl.max_epochs`."""
    name = str(settings.get("pruner") or DEFAULT_PRUNER).lower()
    max_epochs = int(settings.get("max_epochs") or DEFAULT_MAX_EPOCHS)
    min_resource, factor = pruner_rungs(settings, max_epochs)
    bootstrap = int(settings.get("bootstrap_count", 0))
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=min_resource, max_resource=max_epochs, reduction_factor=factor, bootstrap_count=bootstrap
        )
    if name == "trend_halving":
        return TrendHalvingPruner(min_resource=min_resource, reduction_factor=factor, max_resource=max_epochs)
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=min_resource, reduction_factor=factor, bootstrap_count=bootstrap
        )
    if name == "curve":
        return CurvePruner(min_epochs=int(settings.get("min_epochs") or 1))
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=min_resource - 1)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise SpecError(f"automl.pruner: {name!r} is not allowed; use one of {', '.join(PRUNERS)}")


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def build_storage(storage: str | None, settings: dict | None = None) -> optuna.storages.BaseStorage | None:
    """None (in memory), a `.db` path (SQLite), `journal:<file>` or a `.log` / `.journal` path (journal
    file, many processes on one host) or a SQLAlchemy URL (PostgreSQL for many machines).

    RDB storages get a heartbeat so a dead worker's trial is failed and retried
    (`automl.heartbeat_interval`, `automl.grace_period`, `automl.max_retry`).
    """
    if storage is None or storage == "":
        return None
    settings = settings or {}
    text = str(storage)
    journal = text.startswith("journal:")
    if journal or (text.endswith((".log", ".journal")) and "://" not in text):
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

        path = Path(text[len("journal:"):] if journal else text)
        _make_parent(path)
        if path.is_file():
            probe_journal(path)  # read-only: a file that is not a journal fails in one line
        # The open-lock works on network file systems and inside containers (no symlinks).
        backend = JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path)))
        try:
            return optuna.storages.JournalStorage(backend)
        except (KeyError, TypeError, ValueError, AssertionError) as exc:  # well-formed lines that do not replay
            raise SpecError(f"automl.storage: {path} is not a readable Optuna journal ({_one_line(exc)})") from None
    if "://" not in text:
        if not text.endswith(".db"):
            raise SpecError(
                f"automl.storage: {text!r} is not a storage; use a .db file (SQLite), a .log / "
                ".journal file (journal) or a SQLAlchemy URL such as postgresql://user@host/db"
            )
        _make_parent(Path(text))
        if Path(text).is_file():
            probe_sqlite(text)  # read-only: Optuna would add its tables to any SQLite file
        text = f"sqlite:///{Path(text).resolve()}"
    elif text.startswith("sqlite:///") and Path(text[len("sqlite:///"):].split("?")[0]).is_file():
        probe_sqlite(text[len("sqlite:///"):].split("?")[0])  # the URL form of the same file: same read-only check
    interval = int(settings.get("heartbeat_interval") or 30)
    grace = int(settings.get("grace_period") or max(2 * interval, interval + 1))
    engine_kwargs = {"connect_args": {"connect_timeout": 5}} if text.startswith("postgres") else None
    try:
        with warnings.catch_warnings():  # the heartbeat is "experimental": one line per command otherwise
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                text,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=interval,
                grace_period=grace,
                heartbeat_stale_trial_callback=retry_trial,
            )
    except Exception as exc:  # sqlalchemy / driver errors: unreachable host, bad URL, missing driver
        raise SpecError(f"automl.storage: cannot open {_redact(text)!r}: {_one_line(exc)}") from None


def _make_parent(path: Path) -> None:
    """The storage file's folder, created; a path that cannot exist is one SpecError."""
    check_storage_path(str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SpecError(f"automl.storage: cannot create the folder of {path}: {exc.strerror or exc}") from None


def check_storage_exists(storage: str, hint: str) -> None:
    """A storage file (SQLite, journal) must exist and be one (read-only probe); URLs are checked when opened.

    An `sqlite:///` URL names a file too (opening it would create one), so it is checked as that file.
    """
    text = str(storage)
    if text.startswith("sqlite:"):
        path, is_sqlite = Path(_sqlite_file(text, hint)), True
    elif "://" in text:
        return
    else:
        path = Path(text.removeprefix("journal:"))
        is_sqlite = path.suffix == ".db" and not text.startswith("journal:")
    check_storage_path(str(path), "--storage")
    if not path.is_file():
        raise SpecError(f"automl: no study storage at {path}; {hint}")
    if is_sqlite:
        probe_sqlite(path, "--storage", allow_empty=False)


def _sqlite_file(url: str, hint: str) -> str:
    """The database file an `sqlite:` URL names (SpecError for an invalid or in-memory one)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        database = make_url(url).database
    except ArgumentError:
        raise SpecError(f"--storage: {_redact(url)} is not a valid SQLite URL (sqlite:///<file>.db)") from None
    if not database or database == ":memory:" or database.startswith("file:"):
        raise SpecError(f"--storage: {_redact(url)} names no database file (sqlite:///<file>.db); {hint}")
    return database


def open_existing_study(storage: str, study_name: str | None, hint: str) -> optuna.Study:
    """Load a study that must exist already, creating nothing (no file, no empty study).

    For the inspection commands (status, best, plot, dashboard): a typo in a path or a name is
    a one-line SpecError, not a new empty study reported as "no trials".

    Args:
        storage: a `.db` path, `journal:<file>` / `.log` path or SQLAlchemy URL.
        study_name: the study; None picks the only study in the storage.
        hint: what to do instead, appended to the error.
    """
    text = str(storage)
    check_storage_exists(text, hint)
    opened = build_storage(text, {})
    names = [s.study_name for s in optuna.get_all_study_summaries(opened, include_best_trial=False)]
    name = study_name or (names[0] if len(names) == 1 else None)
    if name is None:
        what = f"several studies ({', '.join(names)}); name one with --study" if names else "no study"
        raise SpecError(f"automl: {_redact(text)} holds {what}; {hint}")
    if name not in names:
        raise SpecError(f"automl: no study {name!r} in {_redact(text)} (studies there: {', '.join(names) or 'none'}); "
                        f"{hint}")
    return optuna.load_study(study_name=name, storage=opened)


def retry_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial, max_retry: int = MAX_RETRY) -> int | None:
    """Queue a failed trial again (same params, its curve so far); returns the new trial's number.

    Used as the heartbeat callback of RDB storages and by the worker's own dead-process check.
    The queued trial carries `retry_history` so the objective can resume from the last
    checkpoint of the trial it retries. The dead worker's identity is not copied.
    """
    history = list(trial.system_attrs.get("retry_history", [])) + [trial.number]
    if len(history) > max_retry:
        return None
    system_attrs = {**trial.system_attrs, "failed_trial": history[0], "retry_history": history}
    user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in ("worker", "fail_reason")}
    study.add_trial(
        optuna.create_trial(
            state=optuna.trial.TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs=user_attrs,
            system_attrs=system_attrs,
            intermediate_values=trial.intermediate_values,
        )
    )
    return max(t.number for t in study.get_trials(deepcopy=False))


def _redact(url: str) -> str:
    """Hide a password in a URL before printing it."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url
    return url


def make_study(settings: dict, storage: Any = None, study_name: str | None = None) -> optuna.Study:
    """Create or resume the study described by the spec's `automl` section.

    Args:
        settings: the `automl` section (sampler, pruner, metric, direction, seed, max_epochs,
            storage, latency_budget_ms, ...). Unknown names are one-line SpecErrors.
        storage: a storage path / URL / optuna storage; None falls back to `settings["storage"]`
            and then to an in-memory study.
        study_name: the study's name; None falls back to `settings["study_name"]`.
    Returns: an optuna.Study whose direction, sampler and pruner follow the settings.
    """
    settings = dict(settings or {})
    objectives = resolve_objectives(settings)  # one, or two for a multi-objective study (automl/pareto.py)
    directions = [o.direction for o in objectives]
    sampler = build_sampler(settings)
    if len(objectives) > 1 and isinstance(sampler, optuna.samplers.CmaEsSampler):
        raise SpecError("automl.sampler: cmaes does not support automl.objectives (multi-objective); use tpe, gp "
                        "or random")
    # Optuna does not prune multi-objective studies (automl/pareto.py says so where it matters)
    pruner = build_pruner(settings) if len(objectives) == 1 else optuna.pruners.NopPruner()
    if storage is None:
        storage = settings.get("storage")
    if not isinstance(storage, optuna.storages.BaseStorage):
        storage = build_storage(storage, settings)
    study_name = study_name or settings.get("study_name")
    if storage is not None and study_name:
        _check_existing_direction(storage, study_name, directions)
    study = optuna.create_study(
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        study_name=study_name,
        directions=directions,
        load_if_exists=True,
    )
    names = [o.metric for o in objectives]
    with warnings.catch_warnings():  # "experimental" in Optuna: one warning per command otherwise
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if study.metric_names != names:  # the dashboard and plots then say val/epe, not "Objective 0"
            study.set_metric_names(names)
    budget = settings.get("latency_budget_ms")
    if budget is not None and study.user_attrs.get("latency_budget_ms") != float(budget):
        study.set_user_attr("latency_budget_ms", float(budget))
    return study


def _check_existing_direction(storage: optuna.storages.BaseStorage, name: str, directions: list[str]) -> None:
    """An existing study of the same name must have the same direction(s)."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return
    existing = [d.name.lower() for d in storage.get_study_directions(study_id)]
    if existing != list(directions):
        raise SpecError(
            f"automl.study_name: study {name!r} already exists with direction {','.join(existing)}, "
            f"not {','.join(directions)}; use another study_name or the same direction"
        )
