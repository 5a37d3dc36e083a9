import math

import pytest

from recblocks.core import ConfigError, parse_params
from recblocks.training import ConstantSchedule, ExponentialDecaySchedule, TrainConfig, train_config_from_easyrec


def test_exponential_decay_by_hand():
    s = ExponentialDecaySchedule(initial_learning_rate=1e-3, decay_steps=1000, decay_factor=0.5,
                                 min_learning_rate=1e-5)
    assert s.learning_rate_at(0, 1.0) == 1e-3
    assert s.learning_rate_at(999, 1.0) == 1e-3  # staircase: whole periods only
    assert s.learning_rate_at(1000, 1.0) == 5e-4
    assert s.learning_rate_at(2999, 1.0) == 2.5e-4
    assert s.learning_rate_at(6000, 1.0) == pytest.approx(1e-3 / 64)
    assert s.learning_rate_at(7000, 1.0) == 1e-5  # 1e-3/128 < floor
    assert s.learning_rate_at(10**6, 1.0) == 1e-5
    smooth = s.model_copy(update={"staircase": False})
    assert smooth.learning_rate_at(500, 1.0) == pytest.approx(1e-3 * math.sqrt(0.5))
    assert s.multiplier(1000, 1.0) == pytest.approx(0.5)


def test_schedule_uses_optimizer_lr_when_it_sets_none():
    cfg = TrainConfig(optimizer={"lr": 0.01}, lr_schedule={"type": "exponential_decay", "decay_steps": 10,
                                                          "decay_factor": 0.1})
    assert cfg.base_learning_rate == 0.01
    assert cfg.learning_rate_multiplier(10) == pytest.approx(0.1)
    assert ConstantSchedule().learning_rate_at(5, 0.3) == 0.3


def test_easyrec_schedule_spellings():
    inner = {"initial_learning_rate": 0.001, "decay_steps": 1000, "decay_factor": 0.5, "min_learning_rate": 1e-5}
    for spelling in ({"exponential_decay_learning_rate": inner},
                     {"learning_rate": {"exponential_decay_learning_rate": inner}},
                     inner,
                     {"type": "exponential_decay_learning_rate", **inner}):
        cfg = TrainConfig(lr_schedule=spelling)
        assert isinstance(cfg.lr_schedule, ExponentialDecaySchedule)
        assert cfg.lr_schedule.staircase is True
        assert cfg.base_learning_rate == 0.001
    cfg = TrainConfig(lr_schedule={"constant_learning_rate": {"learning_rate": 0.02}})
    assert cfg.base_learning_rate == 0.02


def test_train_config_defaults_and_easyrec_aliases():
    cfg = TrainConfig()
    assert (cfg.epochs, cfg.batch_size, cfg.optimizer.name, cfg.optimizer.lr, cfg.restore_best) == (1, 1024, "adam", 1e-3, True)
    cfg = TrainConfig.model_validate({"num_epochs": 3, "num_steps": 0, "gradient_clipping_by_norm": 0,
                                      "log_step_count_steps": 10})
    assert (cfg.epochs, cfg.max_steps, cfg.grad_clip_norm, cfg.log_every) == (3, None, None, 10)


def test_round_trip_keeps_schedule_type():
    cfg = TrainConfig(lr_schedule={"type": "exponential_decay"}, early_stopping={"metric": "logloss"}, epochs=4)
    data = cfg.to_dict()
    assert data["lr_schedule"] == {"type": "exponential_decay"}
    assert TrainConfig.model_validate(data) == cfg


def test_config_errors():
    with pytest.raises(ConfigError, match="train.optimizer.name: unknown optimizer.*did you mean 'adam'"):
        parse_params(TrainConfig, {"optimizer": {"name": "adma"}}, "train")
    with pytest.raises(ConfigError, match="train.epoch: unknown parameter.*did you mean 'epochs'"):
        parse_params(TrainConfig, {"epoch": 2}, "train")
    with pytest.raises(ConfigError, match="learning rate is set twice"):
        parse_params(TrainConfig, {"optimizer": {"lr": 0.1},
                                   "lr_schedule": {"exponential_decay_learning_rate": {"initial_learning_rate": 0.2}}},
                     "train")
    # early-stopping metrics are checked against the keys of the model's evaluator (Trainer, train_run)
    assert parse_params(TrainConfig, {"early_stopping": {"metric": "recall@10"}}, "train").early_stopping.metric \
        == "recall@10"
    with pytest.raises(ConfigError, match="train.early_stopping.metric: .*at least 1 character"):
        parse_params(TrainConfig, {"early_stopping": {"metric": ""}}, "train")
    with pytest.raises(ConfigError, match="momentum is an sgd/sgdw option"):
        parse_params(TrainConfig, {"optimizer": {"name": "adam", "momentum": 0.9}}, "train")


def test_early_stopping_mode_inferred():
    assert TrainConfig(early_stopping={"metric": "ctr/logloss"}).early_stopping.resolved_mode == "min"
    assert TrainConfig(early_stopping="auc").early_stopping.resolved_mode == "max"
    assert TrainConfig(early_stopping={"metric": "group_auc"}).early_stopping.metric == "gauc"
    assert TrainConfig(early_stopping={"metric": "rmse", "mode": "max"}).early_stopping.resolved_mode == "max"
    assert TrainConfig(early_stopping={"metric": "recall@10"}).early_stopping.resolved_mode is None  # the evaluator's


def test_from_easyrec_movielens_train_config():
    train = {
        "optimizer_config": [{"adam_optimizer": {
            "learning_rate": {"exponential_decay_learning_rate": {
                "initial_learning_rate": 0.001, "decay_steps": 1000, "decay_factor": 0.5,
                "min_learning_rate": 0.00001}},
            "beta1": 0.9, "beta2": 0.999}, "use_moving_average": False,
            "embedding_learning_rate_multiplier": 2.0}],
        "num_steps": 2500, "sync_replicas": True, "save_checkpoints_steps": 100,
    }
    cfg = train_config_from_easyrec(train, {"batch_size": 1024, "num_epochs": 1})
    assert cfg.optimizer.name == "adam" and cfg.optimizer.betas == (0.9, 0.999)
    assert cfg.lr_schedule.decay_factor == 0.5 and cfg.lr_schedule.min_learning_rate == 1e-5
    assert (cfg.max_steps, cfg.batch_size, cfg.epochs) == (2500, 1024, 1)
    assert cfg.embedding_learning_rate == pytest.approx(0.002)
    with pytest.raises(ConfigError, match="did you mean 'num_steps'"):
        train_config_from_easyrec({"num_step": 10})
    with pytest.raises(ConfigError, match="unsupported or missing optimizer"):
        train_config_from_easyrec({"optimizer_config": {"rms_prop_optimizer": {}}})
    momentum = train_config_from_easyrec({"optimizer_config": {"momentum_optimizer": {}}})
    assert (momentum.optimizer.name, momentum.optimizer.momentum) == ("sgd", 0.9)
