"""Loggers, the evaluation callback and History's CSV and plot."""

import builtins
import io
import sys

import jax
import numpy as np
import pytest

from lerax.algorithm import (
    PPO,
    ConsoleLogger,
    CSVLogger,
    EvalCallback,
    History,
    TensorBoardLogger,
)
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy
from lerax.utils import MissingExtraError, load

ALGO = PPO(num_envs=4, num_steps=16, num_epochs=1)
TIMESTEPS = 4 * 64  # four iterations
ENV = CartPole()


def _policy():
    return MLPActorCriticPolicy(ENV, key=jax.random.key(0), width=8)


def _learn(**kwargs):
    return ALGO.learn_with_history(
        ENV, _policy(), TIMESTEPS, key=jax.random.key(1), checkpoint_every=1, **kwargs
    )


def _stop_after(iterations):
    return lambda timesteps, policy: timesteps >= iterations * 64


def test_csv_logger_continues_across_a_resume(tmp_path):
    _, full = _learn()
    csv, checkpoint = tmp_path / "h.csv", tmp_path / "c.eqx"
    _learn(logger=CSVLogger(csv), checkpoint_path=checkpoint, callback=_stop_after(2))
    assert len(History.read_csv(csv)) == 2
    _learn(logger=CSVLogger(csv), checkpoint_path=checkpoint, resume_from=checkpoint)
    logged = History.read_csv(csv)
    assert len(logged) == 4
    for name, series in full.columns().items():
        np.testing.assert_allclose(logged.columns()[name], series, rtol=1e-6)


def test_tensorboard_logger_writes_only_new_steps(tmp_path, monkeypatch):
    pytest.importorskip("tensorboardX")
    import tensorboardX

    steps: list[tuple[str, int]] = []

    class Recorder:
        def __init__(self, logdir):
            self.logdir = logdir

        def add_scalar(self, tag, value, step):
            assert np.isfinite(value)
            steps.append((tag, step))

        def flush(self):
            pass

        def close(self):
            steps.append(("closed", -1))

    monkeypatch.setattr(tensorboardX, "SummaryWriter", Recorder)
    checkpoint = tmp_path / "c.eqx"
    _learn(
        logger=TensorBoardLogger(tmp_path / "tb"),
        checkpoint_path=checkpoint,
        callback=_stop_after(2),
    )
    first = sorted({s for tag, s in steps if tag == "train/policy_loss"})
    assert first == [64, 128] and steps[-1] == ("closed", -1)
    steps.clear()
    _learn(logger=[TensorBoardLogger(tmp_path / "tb")], resume_from=checkpoint)
    assert sorted({s for tag, s in steps if tag == "train/policy_loss"}) == [192, 256]


def test_tensorboard_logger_writes_event_files(tmp_path):
    pytest.importorskip("tensorboardX")
    _learn(logger=TensorBoardLogger(tmp_path / "tb"))
    events = list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 100


def test_console_logger_prints_a_line_per_chunk():
    stream = io.StringIO()
    _learn(logger=ConsoleLogger(metrics=["approx_kl"], stream=stream))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4
    assert lines[-1].startswith("timesteps        256") and "approx_kl" in lines[-1]


def test_eval_callback_saves_the_best_policy(tmp_path):
    best = tmp_path / "best.eqx"
    callback = EvalCallback(
        ENV, every=128, path=best, key=jax.random.key(2), num_episodes=2
    )
    _learn(callback=callback)
    assert [t for t, _ in callback.evaluations] == [128, 256]
    assert callback.best == max(r for _, r in callback.evaluations)
    assert isinstance(load(best), MLPActorCriticPolicy)
    with pytest.raises(ValueError, match="every must be a positive integer, got 0"):
        EvalCallback(ENV, every=0, key=jax.random.key(0))


def test_history_csv_round_trip_and_plot(tmp_path):
    _, history = _learn()
    history.to_csv(tmp_path / "h.csv")
    again = History.read_csv(tmp_path / "h.csv")
    for name, series in history.columns().items():
        np.testing.assert_allclose(again.columns()[name], series, rtol=1e-6)
    pytest.importorskip("matplotlib")
    figure = history.plot(
        tmp_path / "curves.png", metrics=("episode_return", "entropy")
    )
    assert len(figure.axes) == 2 and (tmp_path / "curves.png").stat().st_size > 1000
    with pytest.raises(KeyError, match="unknown metrics"):
        history.plot(metrics=("nope",))


def test_plot_without_matplotlib_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    monkeypatch.delitem(sys.modules, "matplotlib", raising=False)
    monkeypatch.delitem(sys.modules, "matplotlib.pyplot", raising=False)
    history = History(np.arange(1, 3), np.ones(2), np.ones(2), np.ones(2, np.int64), {})
    with pytest.raises(MissingExtraError, match=r"lerax\[plot\]"):
        history.plot()
