import pytest
import torch

from recblocks.core import ConfigError
from recblocks.training import CompositeOptimizer, TrainConfig, build_optimizer, clip_grad_norm


def one_step(model, optimizer, users):
    features = {"user": torch.tensor(users), "x1": torch.ones(len(users)), "x2": torch.ones(len(users))}
    optimizer.zero_grad(set_to_none=True)
    model(features).logits["ctr"].sum().backward()
    optimizer.step()


def test_sparse_tables_get_sparse_adam_and_dense_weights_adam(fake):
    model = fake.Model()
    opt = build_optimizer(model, TrainConfig())
    assert isinstance(opt.optimizers["dense"], torch.optim.Adam)
    assert isinstance(opt.optimizers["embedding"], torch.optim.SparseAdam)
    assert {id(p) for p in opt.optimizers["embedding"].param_groups[0]["params"]} == {
        id(model.user.weight), id(model.bias.weight)}
    dense_tables = build_optimizer(fake.Model(sparse=False), TrainConfig())
    assert list(dense_tables.optimizers) == ["dense"]  # dense-gradient tables join the dense optimizer


def test_sparse_adam_updates_only_looked_up_rows(fake):
    """Rows 1 and 2 carry Adam momentum from step 1; in step 2 only row 3 is looked up.

    SparseAdam leaves rows 1, 2 alone; dense Adam keeps moving them with their momentum.
    """
    torch.manual_seed(0)
    model = fake.Model(sparse=True)
    opt = build_optimizer(model, TrainConfig(optimizer={"lr": 0.1}))
    one_step(model, opt, [1, 2])
    before = model.user.weight.detach().clone()
    features = {"user": torch.tensor([3]), "x1": torch.ones(1), "x2": torch.ones(1)}
    opt.zero_grad(set_to_none=True)
    model(features).logits["ctr"].sum().backward()
    assert model.user.weight.grad.is_sparse
    opt.step()
    moved = (model.user.weight.detach() - before).abs().sum(dim=1).nonzero().flatten().tolist()
    assert moved == [3]

    torch.manual_seed(0)
    dense_model = fake.Model(sparse=False)
    dense_opt = build_optimizer(dense_model, TrainConfig(optimizer={"lr": 0.1}))
    one_step(dense_model, dense_opt, [1, 2])
    before = dense_model.user.weight.detach().clone()
    one_step(dense_model, dense_opt, [3])
    moved = (dense_model.user.weight.detach() - before).abs().sum(dim=1).nonzero().flatten().tolist()
    assert moved == [1, 2, 3]


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
@pytest.mark.parametrize("name, cls", [("adagrad", torch.optim.Adagrad), ("sgd", torch.optim.SGD),
                                       ("adamw", torch.optim.SparseAdam)])
def test_sparse_variants(fake, name, cls):
    model = fake.Model()
    config = TrainConfig(optimizer={"name": name, "weight_decay": 0.01} if name != "sgd" else
                         {"name": "sgd", "momentum": 0.9})
    opt = build_optimizer(model, config)
    assert isinstance(opt.optimizers["embedding"], cls)
    group = opt.optimizers["embedding"].param_groups[0]
    assert group.get("weight_decay", 0.0) == 0.0 and group.get("momentum", 0.0) == 0.0
    one_step(model, opt, [1, 2])
    before = model.user.weight.detach().clone()
    one_step(model, opt, [3])
    moved = (model.user.weight.detach() - before).abs().sum(dim=1).nonzero().flatten().tolist()
    assert moved == [3]


def test_explicit_embedding_optimizer_options_without_row_wise_form(fake):
    with pytest.raises(ConfigError, match="train.embedding_optimizer.weight_decay"):
        build_optimizer(fake.Model(), TrainConfig(embedding_optimizer={"name": "adam", "weight_decay": 0.1}))
    with pytest.raises(ConfigError, match="train.embedding_optimizer.momentum"):
        build_optimizer(fake.Model(), TrainConfig(embedding_optimizer={"name": "sgd", "momentum": 0.5}))
    ok = build_optimizer(fake.Model(sparse=False),
                         TrainConfig(embedding_optimizer={"name": "sgd", "momentum": 0.5, "lr": 0.5}))
    assert isinstance(ok.optimizers["embedding_dense"], torch.optim.SGD)
    assert ok.learning_rates() == {"dense": 1e-3, "embedding_dense": 0.5}


def test_parameter_lists_must_cover_the_model(fake):
    model = fake.Model()
    model.extra = torch.nn.Linear(2, 2)
    with pytest.raises(ConfigError, match=r"missing from embedding_parameters\(\).*extra.weight"):
        build_optimizer(model, TrainConfig())
    model = fake.Model()
    model.embedding_parameters = lambda: [model.user.weight, model.bias.weight, model.dense.weight]
    with pytest.raises(ConfigError, match="both an embedding and a dense parameter"):
        build_optimizer(model, TrainConfig())


def test_lr_multiplier_scales_every_group_from_its_base(fake):
    opt = build_optimizer(fake.Model(), TrainConfig(optimizer={"lr": 0.01},
                                                    embedding_optimizer={"name": "adam", "lr": 0.1}))
    opt.set_lr_multiplier(0.5)
    assert opt.learning_rates() == {"dense": pytest.approx(0.005), "embedding": pytest.approx(0.05)}


def test_state_dict_round_trip(fake):
    torch.manual_seed(0)
    model = fake.Model()
    opt = build_optimizer(model, TrainConfig())
    one_step(model, opt, [1, 2])
    opt.set_lr_multiplier(0.25)
    state = opt.state_dict()
    fresh = build_optimizer(model, TrainConfig())
    fresh.load_state_dict(state)
    assert fresh.lr_multiplier == 0.25
    assert fresh.learning_rates() == opt.learning_rates()
    assert torch.equal(fresh.optimizers["embedding"].state[model.user.weight]["exp_avg"],
                       opt.optimizers["embedding"].state[model.user.weight]["exp_avg"])
    with pytest.raises(ConfigError, match="do not match"):
        CompositeOptimizer({"dense": torch.optim.SGD(model.dense.parameters(), lr=0.1)}).load_state_dict(state)


def test_clip_grad_norm_with_sparse_and_dense_grads(fake):
    model = fake.Model()
    features = {"user": torch.tensor([1, 1, 2]), "x1": torch.ones(3) * 10, "x2": torch.ones(3)}
    (model(features).logits["ctr"].sum() * 100).backward()
    params = [model.user.weight, model.bias.weight, *model.dense.parameters()]
    dense_norm = torch.sqrt(sum(p.grad.to_dense().pow(2).sum() for p in params))
    total = clip_grad_norm(params, 1.0)
    assert float(total) == pytest.approx(float(dense_norm), rel=1e-5)
    after = torch.sqrt(sum(p.grad.to_dense().pow(2).sum() for p in params))
    assert float(after) == pytest.approx(1.0, rel=1e-4)
