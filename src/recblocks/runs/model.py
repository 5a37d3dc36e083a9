"""``Model(body, task)``: a Python-composed body + tasks, held as the typed model config (Merlin).

The body (a :class:`~recblocks.blocks.compose.Block`) compiles straight into the typed
:class:`~recblocks.models.config.ModelConfig` (:attr:`Model.config`), the same objects a YAML
config parses into, and the network is built from it by the model class the config names,
with no round trip through dicts. ``to_config()`` serialises it into the ``features`` and
``model`` sections that ``recblocks train`` accepts (``to_run_config`` adds ``data``/``train``),
and :meth:`Model.from_config` parses them once (the loaded backbone becomes a
:class:`~recblocks.blocks.compose.BackboneBlock` that Python blocks can extend). A build error
in a block that a Python block made names that Python block (the block config's ``origin``).

``fit`` trains in memory through the objects ``recblocks train`` uses
(:class:`~recblocks.runs.experiment.Experiment`: preprocessing, loaders, seeding, trainer); a
run directory is written only when ``output`` is given. ``evaluate``/``predict`` score with
the fitted network and preprocessing (:mod:`recblocks.runs.scoring`, as ``recblocks
evaluate``/``predict`` do).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from recblocks.blocks.compose import BackboneBlock, Block, CompiledBody, compile_body
from recblocks.core.errors import ConfigError, SchemaError
from recblocks.core.files import OutputPathError
from recblocks.core.limits import memory_limit
from recblocks.core.params import join_path, parse_params
from recblocks.features.preprocess import Preprocessor
from recblocks.features.schema import Schema
from recblocks.models.config import ModelConfig, parse_model_config, parse_model_params
from recblocks.models.memory import build_on_meta, check_memory, plan_memory
from recblocks.models.registry import MODEL_CLASSES
from recblocks.runs.config import DataConfig, RunConfig
from recblocks.runs.config_file import load_config_file
from recblocks.runs.config_paths import absolute_data_path
from recblocks.runs.experiment import Experiment, RunResult, placeholder_vocab
from recblocks.runs.retrieval_tasks import TOWER_NAMES, RetrievalTask, retrieval_options
from recblocks.runs.run_dir import RunDir
from recblocks.runs.scoring import as_table, evaluate_data, predict_data
from recblocks.tasks import LogitsTemperatureScaler, Task, TaskConfig, build_task
from recblocks.training.callbacks import Callback
from recblocks.training.config import TrainConfig
from recblocks.viz.diagram import plot_model
from recblocks.viz.summary import format_table

__all__ = ["Model"]

_SECTION_KEYS = ("feature_groups", "backbone", "task", "tasks")
#: Rows of the batch whose activations :meth:`Model.build` plans for.
PLANNED_BATCH = 1024


def _find_schema(body: Block) -> Schema | None:
    found = [s for b in body.walk() if (s := getattr(b, "schema", None)) is not None]
    return found[0] if found else None


def _defined_tasks(options: Mapping[str, Any]) -> list[TaskConfig]:
    """The tasks a model class defines in its ``model_params`` (MultiTaskModel's towers); [] for RankModel."""
    params = parse_model_params(options.get("model_class", "RankModel"), options.get("model_params"),
                                "model.model_params")
    defined = getattr(params, "task_configs", None)
    return list(defined()) if defined is not None else []


def _task_config(task: Task, index: int) -> tuple[TaskConfig, ConfigError | None]:
    """The task's config (a LogitsTemperatureScaler ``pre`` becomes ``logits_temperature``) and,
    for any other ``pre``, the error that saving or building the model raises."""
    config, pre = task.config, task.pre
    if pre is None or config.logits_temperature != 1.0:
        return config, None
    if isinstance(pre, LogitsTemperatureScaler):
        return config.model_copy(update={"logits_temperature": pre.temperature}), None
    return config, ConfigError(f"tasks[{index}] '{task.name}'.pre", "this pre transform cannot be saved in a config",
                               "a LogitsTemperatureScaler (or logits_temperature=T)", type(pre).__name__)


_SECTIONS = ("feature_groups", "backbone", "tasks")


class Model:
    """A ranking model from a composed body and one or more tasks (Merlin's ``Model``).

    Args:
        body: the :class:`~recblocks.blocks.compose.Block` applied to the raw features.
        tasks: a task or a list of tasks (:mod:`recblocks.tasks` objects or their config
            dicts). With several tasks and a dict output holding every task name, each task
            reads its own entry; otherwise every task reads the (concatenated) output.
        schema: the feature schema (a :class:`Schema` or its list of entries); default: the
            schema an input block of the body was built ``from_schema`` with.
        **options: other ``model`` section keys: ``embedding_dim`` (default width of id
            features), ``embedding_regularization``, ``model_params`` (or
            ``l2_regularization``), ``model_name``, ``embedding_init_std``, ``sparse_embeddings``.

    Raises:
        ConfigError / SchemaError: at construction, for anything wrong in the body (unknown
            features, a Filter naming a missing branch...) or the options; shape problems are
            raised by :meth:`build`, naming the block.
    """

    def __init__(self, body: Block, tasks: Task | Mapping[str, Any] | Sequence[Task | Mapping[str, Any]],
                 schema: Schema | Sequence[Mapping[str, Any]] | None = None, **options: Any) -> None:
        if not isinstance(body, Block):
            raise ConfigError("Model.body", "the body must be a block", "a recblocks.blocks.compose Block",
                              type(body).__name__)
        #: The retrieval task (ItemRetrievalTask / NextItemPredictionTask) the model was made with, if any.
        self.retrieval_task = tasks if isinstance(tasks, RetrievalTask) else None
        if self.retrieval_task is not None:  # a MatchModel: the task gives model_params and the towers
            options = retrieval_options(self.retrieval_task, options)
            body, tasks = self.retrieval_task.two_tower_body(body), []
        self.body = body
        items = [tasks] if isinstance(tasks, (Task, Mapping)) else list(tasks)
        defined = _defined_tasks(options)  # e.g. MultiTaskModel's task towers
        model_class = options.get("model_class", "RankModel")
        scores_tasks = MODEL_CLASSES.get(model_class, "model.model_class").scores_tasks
        if items and (defined or not scores_tasks):
            raise ConfigError("Model.tasks", "the model_params define the tasks (task towers)" if defined else
                              f"a {model_class} has no per-row task (its model_params say what it learns)",
                              "tasks=[]", f"{len(items)} tasks")
        if not items and not defined and scores_tasks:
            raise ConfigError("Model.tasks", "the model has no task", "at least one task", "none")
        self.tasks: list[Task] = [build_task(t, f"tasks[{i}]") for i, t in enumerate(items or defined)]
        self._tasks_in_params = bool(defined) or not scores_tasks
        schema = schema if schema is not None else _find_schema(body)
        if schema is None:
            raise SchemaError("Model.schema", "no schema", "Model(..., schema=...) or an input block built "
                              "from_schema", "none")
        self.schema = schema if isinstance(schema, Schema) else Schema(schema, "schema")
        if "l2_regularization" in options:
            options = dict(options)
            l2 = options.pop("l2_regularization")
            options["model_params"] = {**dict(options.get("model_params") or {}), "l2_regularization": l2}
        bad = sorted(set(options) & set(_SECTION_KEYS))
        if bad:
            raise ConfigError("Model", "these keys come from the body and the tasks", "other model options", bad)
        self.options = copy.deepcopy(options)
        for task in self.tasks:
            if task.label in self.schema:
                raise ConfigError(f"task '{task.name}'", f"label '{task.label}' is also an input feature",
                                  "a label column that is not a feature", repr(task.label))
        self.data_config: dict[str, Any] | None = None
        self.train_config: dict[str, Any] | None = None
        self.module: Any = None
        self.preprocessor: Preprocessor | None = None
        self.run_dir: Path | None = None
        self.fitted_train_config: TrainConfig | None = None
        self.fitted_data_config: DataConfig | None = None
        #: The run config of the last fit (or of the loaded run): what scoring reads data with.
        self.fitted_run_config: RunConfig | None = None
        self._compiled = self.compile()
        saved = [_task_config(t, i) for i, t in enumerate(self.tasks)]
        self._unsaveable = [error for _, error in saved if error is not None]
        #: The typed model section: what :meth:`build` builds and :meth:`to_config` writes.
        self.config: ModelConfig = parse_model_config(
            {**self.options, "feature_groups": self._compiled.feature_groups, "backbone": self._compiled.backbone,
             **({} if self._tasks_in_params else {"tasks": [config for config, _ in saved]})}, "model")

    # ------------------------------------------------------------------ config
    def compile(self) -> CompiledBody:
        """Compile the body: typed feature groups, typed backbone and embedding widths."""
        names = list(TOWER_NAMES) if self.retrieval_task is not None else [t.name for t in self.tasks]
        return compile_body(self.body, self.schema, names)

    def _check_saveable(self) -> None:
        if self._unsaveable:
            raise self._unsaveable[0]

    def feature_configs(self) -> list[dict[str, Any]]:
        """The ``features`` section: the schema with widths set by input blocks."""
        features = self.schema.to_config()
        for entry in features:
            if entry["name"] in self._compiled.dims:
                entry["embedding_dim"] = self._compiled.dims[entry["name"]]
        Schema(features, "features")  # e.g. shared tables now of different widths
        return features

    def to_config(self) -> dict[str, Any]:
        """``{"features": [...], "model": {...}}``: plain, YAML-serializable data (:meth:`ModelConfig.to_dict`)."""
        self._check_saveable()
        return {"features": self.feature_configs(), "model": self.config.to_dict()}

    def to_run_config(self, data: Mapping[str, Any] | None = None,
                      train: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A whole run config (``data``, ``features``, ``model``, ``train``) for ``recblocks train``.

        ``data``/``train`` default to the sections the model was loaded with (if any).
        """
        run: dict[str, Any] = {}
        data = data if data is not None else self.data_config
        if data is not None:
            run["data"] = {k: str(v) if isinstance(v, Path) else copy.deepcopy(v) for k, v in dict(data).items()}
        run.update(self.to_config())
        train = train if train is not None else self.train_config
        if train is not None:
            run["train"] = copy.deepcopy(dict(train))
        return run

    def save_config(self, path: str | Path, data: Mapping[str, Any] | None = None,
                    train: Mapping[str, Any] | None = None) -> Path:
        """Write :meth:`to_run_config` as YAML (``.yaml``/``.yml``) or JSON (``.json``), by extension."""
        out = Path(path)
        suffix = out.suffix.lower()
        if suffix not in (".yaml", ".yml", ".json"):
            raise OutputPathError(str(path), "unknown config format", "a file name ending in .yaml, .yml or .json",
                                  repr(out.suffix or out.name))
        config = self.to_run_config(data, train)
        text = json.dumps(config, indent=2) if suffix == ".json" else yaml.safe_dump(config, sort_keys=False)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        return out

    @staticmethod
    def from_config(config: Mapping[str, Any] | str | Path) -> "Model":
        """Rebuild from a run config (mapping or YAML path) holding ``features`` and ``model``.

        The model section is parsed once (:func:`~recblocks.models.config.parse_model_config`);
        its backbone becomes a :class:`BackboneBlock` (emitted as it is by ``to_config``);
        ``data`` and ``train`` sections are kept as defaults of :meth:`to_run_config`; relative
        data paths of a file resolve against its folder (as ``recblocks train`` reads them).
        """
        if isinstance(config, (str, Path)):
            config = load_config_file(config)  # YAML or EasyRec .config; data paths against the file's folder
        if not isinstance(config, Mapping):
            raise ConfigError("config", "a config must be a mapping", "a mapping", type(config).__name__)
        for key in ("features", "model"):
            if key not in config:
                raise ConfigError(key, "required section is missing", f"a '{key}' section", "none")
        section = config["model"]
        if not isinstance(section, Mapping):
            raise ConfigError("model", "the model section must be a mapping", "a mapping", type(section).__name__)
        parsed = parse_model_config(section, "model")
        schema = Schema(config["features"], "features")
        body = BackboneBlock(parsed.backbone, parsed.feature_groups, "model")
        tasks = [build_task(t, join_path("model.tasks", i)) for i, t in enumerate(parsed.tasks)]
        options = {k: getattr(parsed, k) for k in parsed.model_fields_set if k not in _SECTIONS}
        model = Model(body, tasks, schema, **options)
        model.data_config = copy.deepcopy(dict(config["data"])) if config.get("data") is not None else None
        model.train_config = copy.deepcopy(dict(config["train"])) if config.get("train") is not None else None
        return model

    # ------------------------------------------------------------------ building
    def build(self, vocab_sizes: Mapping[str, int] | Any = None, memory_limit_gb: float | None = None) -> Any:
        """Build (and keep as :attr:`module`) the network: shapes are planned here.

        The network is planned on the meta device first: its parameters and the activations
        of one batch of 1,024 rows must fit ``memory_limit_gb`` before anything is allocated.

        Args:
            vocab_sizes: table rows per id feature, or a fitted ``Preprocessor``; None uses
                placeholder sizes (shapes are exact, vocabularies are not).
            memory_limit_gb: the most memory (GB, 10**9 bytes) the planned network may need;
                None: the loaded ``train`` section's ``memory_limit_gb``, else half of the
                machine's memory; 0: no limit.

        Raises:
            ShapeError / ConfigError: blocks whose shapes cannot meet, named with the Python
                block they come from; a network above the memory limit.
        """
        self._check_saveable()
        schema = Schema(self.feature_configs(), "features")
        if vocab_sizes is None:
            vocab = placeholder_vocab(schema)
        elif hasattr(vocab_sizes, "num_embeddings"):
            vocab = {f.name: vocab_sizes.num_embeddings(f.name) for f in schema if f.is_id}
        else:
            vocab = dict(vocab_sizes)
        if memory_limit_gb is None:
            memory_limit_gb = (self.train_config or {}).get("memory_limit_gb")

        model_class = MODEL_CLASSES.get(self.config.model_class, "model.model_class").cls

        def factory() -> Any:
            return model_class(schema, self.config, vocab, where="model")

        plan = plan_memory(build_on_meta(factory), PLANNED_BATCH, training=False)
        check_memory(plan, memory_limit(memory_limit_gb, "memory_limit_gb"), "Model.build",
                     setting="Model.build(memory_limit_gb=...) or fit(memory_limit_gb=...)")
        module = factory()
        self.module = module
        return module

    def _built(self) -> Any:
        return self.module if self.module is not None else self.build()

    def __call__(self, batch: Any) -> Any:
        """The built network's output for a batch (a :class:`~recblocks.features.batch.Batch` or its
        features): a :class:`~recblocks.models.outputs.ModelOutput` (``.logits[task]``)."""
        return self._built()(batch)

    def summary(self, print_fn: Any = print) -> str:
        """A table of blocks, inputs, output shapes and parameter counts (builds if needed)."""
        module = self._built()
        text = format_table(module.summary_rows(), sum(p.numel() for p in module.parameters()))
        if print_fn is not None:
            print_fn(text)
        return text

    def plot(self, path: str | Path, overwrite: bool = True) -> Path:
        """Draw the model graph to ``path`` (.png, .svg or Mermaid .mmd); returns the file written.

        An existing file is replaced only when recblocks drew it (and ``overwrite``)."""
        return plot_model(self._built(), path, overwrite)

    # ------------------------------------------------------------------ training
    def _data(self, train: Any, valid: Any, test: Any, data: Mapping[str, Any] | None
              ) -> tuple[dict[str, Any], dict[str, Any], dict[str, pa.Table]]:
        """The ``data`` section to run, the one to save (file splits only), and in-memory tables."""
        stored = dict(self.data_config or {})
        given = any(v is not None for v in (train, valid, test))
        if not given and not (stored.get("train") or stored.get("synthetic")):
            raise ConfigError("fit(train=...)", "no training data", "a path, a table, or a loaded data section",
                              "None")
        section = {k: v for k, v in stored.items() if not given or k not in ("train", "valid", "test", "synthetic")}
        section.update(dict(data or {}))
        tables: dict[str, pa.Table] = {}
        for split, value in (("train", train), ("valid", valid), ("test", test)):
            if value is None:
                continue
            table = as_table(value)
            if table is not None:
                tables[split] = table
            elif isinstance(value, (str, Path, Mapping)):
                section[split] = absolute_data_path(dict(value) if isinstance(value, Mapping) else value)
            else:
                raise ConfigError(f"fit({split}=...)", "unsupported data", "a path, a data-source mapping, a "
                                  "pyarrow Table or a pandas DataFrame", type(value).__name__)
        return section, {k: v for k, v in section.items() if k not in tables}, tables

    def fit(self, train: Any = None, valid: Any = None, test: Any = None, *, output: str | Path | None = None,
            overwrite: bool = False, data: Mapping[str, Any] | None = None, callbacks: Sequence[Callback] = (),
            reset: bool = False, **train_config: Any) -> RunResult:
        """Train in memory through the objects ``recblocks train`` uses.

        **A second call continues training** the model of the first (its weights, its fitted
        preprocessing, and its optimizer state when the optimizer settings are unchanged), as a
        Keras ``fit`` does: calling ``fit`` again means "train more", and throwing the trained
        weights away silently was the surprise. Each call runs its own ``epochs`` /
        ``max_steps`` from step 0 (the learning-rate schedule and the data order start again;
        new ids in new data are out-of-vocabulary, since the tables keep their size).
        ``reset=True`` starts from scratch: new preprocessing, new weights, new optimizer.

        Args:
            train, valid, test: paths, data-source mappings, or in-memory tables (pyarrow or
                pandas). None for all three: the ``data`` section the model was loaded with.
            output: also write a run directory there (as ``recblocks train`` does; its
                ``config.yaml`` names the file splits; in-memory tables are not saved).
            overwrite: replace an earlier recblocks run at ``output``.
            data: other ``data`` options (``passthrough``, ``max_bad_fraction``, ``soft_labels``...).
            callbacks: trainer :class:`~recblocks.training.Callback` objects.
            reset: train from scratch instead of continuing an earlier ``fit``.
            **train_config: ``train`` section keys (``epochs``, ``batch_size``, ``optimizer``,
                ``embedding_optimizer``, ``seed``...), over the loaded ``train`` section.

        Returns:
            The run result (valid/test metrics, best epoch); the trained network is
            :attr:`module` and the fitted preprocessing :attr:`preprocessor`.
        """
        self._check_saveable()
        run_section, saved_section, tables = self._data(train, valid, test, data)
        train_section = {**(self.train_config or {}), **train_config}
        config = parse_params(RunConfig, {"data": run_section, "features": self.feature_configs(),
                                          "model": self.config, "train": train_section}, "")
        experiment = Experiment(config, Schema(config.features, "features"), tables)
        experiment.plan()
        previous = self._previous(config.train) if not reset else None
        if output is None:
            result = experiment.train(callbacks=callbacks, previous=previous)
        else:
            with RunDir(output, overwrite=overwrite, command="Model.fit") as run_dir:
                run_dir.write_config(self.to_run_config(data=saved_section, train=train_section))
                result = experiment.train(run_dir, callbacks, previous=previous)
        self._optimizer_state = result.optimizer_state
        self.module, self.preprocessor = result.model, result.preprocessor
        self.fitted_train_config, self.fitted_data_config = config.train, config.data
        self.fitted_run_config = config
        self.run_dir = result.run_dir
        return result

    def _previous(self, train: TrainConfig) -> RunResult | None:
        """What a continued ``fit`` starts from: the trained network and preprocessing, and the
        optimizer state when the optimizer settings did not change (None before a first fit)."""
        if self.module is None or self.preprocessor is None or self.fitted_train_config is None:
            return None
        old = self.fitted_train_config
        same = old.optimizer == train.optimizer and old.embedding_optimizer == train.embedding_optimizer
        state = getattr(self, "_optimizer_state", None) if same else None
        return RunResult(None, {}, {}, None, 0.0, model=self.module, preprocessor=self.preprocessor,
                         optimizer_state=state)

    # ------------------------------------------------------------------ scoring
    def _fitted(self, what: str) -> tuple[Any, Preprocessor, RunConfig]:
        if self.module is None or self.preprocessor is None or self.fitted_run_config is None:
            raise ConfigError(f"Model.{what}", "the model is not trained", "call fit(...) or Model.load(run_dir) "
                              "first", "an untrained model")
        return self.module, self.preprocessor, self.fitted_run_config

    def evaluate(self, data: Any, batch_size: int | None = None) -> dict[str, float]:
        """Metrics of the trained model on ``data`` (a path, a pyarrow table or a pandas frame),
        as ``recblocks evaluate`` computes them (:func:`~recblocks.runs.scoring.evaluate_data`)."""
        module, preprocessor, config = self._fitted("evaluate")
        return evaluate_data(module, config, preprocessor, data, "Model.evaluate(data)", batch_size)

    def predict(self, data: Any, batch_size: int | None = None) -> dict[str, Any]:
        """Activated outputs per task, and extra outputs (numpy arrays, data order): the scores
        ``recblocks predict`` writes (:func:`~recblocks.runs.scoring.predict_data`; a ``(N, C)``
        output is its columns ``<name>_0 ..`` there). ``data``: a Parquet/CSV path (read as
        the training text was), a data-source mapping, a pyarrow table or a pandas frame."""
        module, preprocessor, config = self._fitted("predict")
        return predict_data(module, config, preprocessor, data, "Model.predict(data)", batch_size=batch_size)[0]

    @staticmethod
    def load(run_dir: str | Path, allow_unfinished: bool = False) -> "Model":
        """The trained model of a finished run directory, ready to ``predict`` / ``evaluate``
        (see :func:`recblocks.runs.loading.load_run`; ``recblocks.load`` is the same)."""
        from recblocks.runs.loading import load_run

        return load_run(run_dir, allow_unfinished)

    # ------------------------------------------------------------------ retrieval (MatchModel)
    def item_embeddings(self) -> pa.Table:
        """The catalogue of a trained retrieval model: item id and ``embedding`` per item."""
        from recblocks.runs.candidates import item_table

        module, preprocessor, _ = self._fitted("item_embeddings")
        return item_table(module, preprocessor)

    def user_embeddings(self, data: Any) -> pa.Table:
        """User vectors of ``data`` (a path or table with the user tower's columns), one row per row."""
        from recblocks.runs.candidates import user_table

        module, preprocessor, _ = self._fitted("user_embeddings")
        return user_table(module, preprocessor, data, "Model.user_embeddings(data)")

    def candidates(self, data: Any, k: int = 10, ann: bool = False, exclude_seen: bool = True) -> pa.Table:
        """Top-K items per distinct user of ``data``, as ``recblocks candidates`` writes them."""
        from recblocks.runs.candidates import top_k_candidates

        module, preprocessor, _ = self._fitted("candidates")
        return top_k_candidates(module, preprocessor, data, k, ann, exclude_seen, "Model.candidates(data)")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.body!r}, {[t.name for t in self.tasks]})"
