"""The embedded ``tiny`` model: a small Llama pretrained offline on a ``facts`` world.

``build_tiny(folder, recipe)`` trains a byte-level BPE tokenizer on the world's text (every
question, in both answer formats) and pretrains a small ``LlamaForCausalLM`` from scratch
on the facts of the *seen* entities only, in both formats exactly as
``plugins/extractors/formats.py`` renders them::

    plain_prompt(q) + plain_completion(a) + EOS
    verbalized_prompt(q) + verbalized_completion(a, c) + EOS

where the stated confidence ``c`` is drawn afresh each time, uniformly in an
overconfident range (0.70-0.95, as real models state): the model knows the seen facts,
guesses the unseen ones confidently, and its ``Confidence:`` slot is a distribution a
trainer can move rather than a constant. The loss covers the prompt's tokens as well as
the completion and EOS (``Recipe.loss_on_prompt``): reading the questions, and so the
entity names, makes the facts stick far more reliably than the answers alone.

The folder also holds ``harness_profile.toml``: the hyperparameters the embedded default
uses with this model (far larger learning rates than the registry's, which suit 1-2B
models) and the world it was built for, loaded by the core as a config layer above
``registry.toml``. ``check_knowledge`` is the quick greedy check of what the model knows.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import attrs

from harness.artifacts import write_text_atomic
from harness.plugins.extractors.formats import (
    plain_completion,
    plain_prompt,
    verbalized_completion,
    verbalized_prompt,
)
from harness.plugins.models import PROFILE_FILE
from harness.tasks.facts import World, build_world

RECIPE_FILE = "tiny_recipe.json"
#: bump when the build code changes in a way the recipe fields do not show
RECIPE_VERSION = 1


@attrs.frozen(kw_only=True)
class Recipe:
    """Everything that decides the built model; its hash names the cache folder."""

    world_seed: int = 0
    n_entities: int = 300
    seen_fraction: float = 0.6
    vocab_size: int = 700
    hidden_size: int = 160
    intermediate_size: int = 320
    num_layers: int = 2
    num_heads: int = 4
    batch_size: int = 64
    learning_rate: float = 3e-3
    warmup_steps: int = 40
    steps: int = 800
    weight_decay: float = 0.0
    #: the share of training batches in the verbalized format (the rest are plain)
    verbalized_share: float = attrs.field(default=0.5, validator=[attrs.validators.ge(0.0),
                                                                  attrs.validators.le(1.0)])
    #: the formats whose prompt tokens the loss covers too ("none", "plain" or "both"); the
    #: completion and EOS always count. With "none" or "plain", 800 steps left some worlds'
    #: facts half learnt (seen accuracy down to 0.50); with "both", 0.99-1.00 on worlds 0-4.
    loss_on_prompt: str = attrs.field(
        default="both", validator=attrs.validators.in_(("none", "plain", "both"))
    )
    confidence_low: float = 0.70
    confidence_high: float = 0.95
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"version": RECIPE_VERSION, **attrs.asdict(self)}

    def digest(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def profile_text(recipe: Recipe) -> str:
    """``harness_profile.toml``: the embedded default's hyperparameters for this model."""
    return f"""\
# The embedded default's hyperparameters for this tiny model (~0.6M parameters).
# A config layer above registry.toml, whose values suit 1-2B models; a --config file
# and -p overrides still win over it.

[task.facts]
# the world this model was pretrained on
world_seed = {recipe.world_seed}
n_entities = {recipe.n_entities}
seen_fraction = {recipe.seen_fraction}

[backend.hf]
batch_size = 64

[trainer.implicit]
lam = 8.0
lm_on = "correct"
learning_rate = 1e-3
epochs = 6
batch_size = 32
gradient_accumulation_steps = 1
target_modules = "all-linear"

[trainer.explicit]
target = "empirical"
bins = 10
sft_epochs = 5
sft_learning_rate = 1e-3
sft_lm_on = "correct"
learning_rate = 2e-3
epochs = 2
beta = 0.1
loss_type = ["sigmoid", "sft"]
n_rejected = 2
min_distance = 0.3
batch_size = 8
gradient_accumulation_steps = 1
target_modules = "all-linear"
"""


def tokenizer_texts(world: World) -> list[str]:
    """The text the tokenizer is trained on: every question in both formats, every
    stated confidence from 0.00 to 1.00."""
    texts = []
    for fact in world.facts:
        texts.append(plain_prompt(fact.question) + plain_completion(fact.answer))
        texts.append(verbalized_prompt(fact.question) + verbalized_completion(fact.answer, 0.5))
    texts += [f"Confidence: {c / 100:.2f}" for c in range(101)]
    return texts


@attrs.frozen
class _Item:
    prompt_ids: tuple[int, ...]
    answer: str


class _Batches:
    """Shuffled epochs over the seen facts, one answer format per batch (so a batch is
    padded only to its own format's length), with fresh stated confidences every time.
    Rows are left-padded; position ids restart at each row's first real token.
    """

    def __init__(self, world: World, tokenizer: Any, recipe: Recipe) -> None:
        self.tokenizer = tokenizer
        self.recipe = recipe
        self.rng = random.Random(f"tiny-data-{recipe.seed}")
        self.items: dict[bool, list[_Item]] = {False: [], True: []}
        for fact in world.facts:
            if fact.seen:
                for verbalized, prompt in ((False, plain_prompt(fact.question)),
                                           (True, verbalized_prompt(fact.question))):
                    ids = tuple(tokenizer(prompt, add_special_tokens=False)["input_ids"])
                    self.items[verbalized].append(_Item(ids, fact.answer))
        if not self.items[False]:
            raise ValueError("the tiny model needs at least one seen entity")
        self._orders: dict[bool, list[int]] = {False: [], True: []}
        self._completions: dict[str, tuple[int, ...]] = {}

    def _completion_ids(self, text: str) -> tuple[int, ...]:
        ids = self._completions.get(text)
        if ids is None:
            ids = tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            self._completions[text] = ids + (self.tokenizer.eos_token_id,)
        return self._completions[text]

    def _completion(self, item: _Item, verbalized: bool) -> str:
        if not verbalized:
            return plain_completion(item.answer)
        low, high = round(self.recipe.confidence_low * 100), round(self.recipe.confidence_high * 100)
        return verbalized_completion(item.answer, self.rng.randint(low, high) / 100)

    def next(self, verbalized: bool) -> dict[str, Any]:
        """One left-padded batch: ``input_ids``, ``attention_mask``, ``position_ids`` and
        ``labels`` (the tokens the loss covers; ``-100`` elsewhere)."""
        import torch

        order, items = self._orders[verbalized], self.items[verbalized]
        on_prompt = self.recipe.loss_on_prompt == "both" or (
            self.recipe.loss_on_prompt == "plain" and not verbalized)
        rows = []
        for _ in range(self.recipe.batch_size):
            if not order:
                order.extend(range(len(items)))
                self.rng.shuffle(order)
            item = items[order.pop()]
            rows.append((item.prompt_ids, self._completion_ids(self._completion(item, verbalized))))
        width = max(len(p) + len(c) for p, c in rows)
        input_ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        for i, (prompt, completion) in enumerate(rows):
            ids = torch.tensor(prompt + completion)
            input_ids[i, width - len(ids):] = ids
            mask[i, width - len(ids):] = 1
            target = len(ids) - 1 if on_prompt else len(completion)  # never the first token
            labels[i, width - target:] = ids[len(ids) - target:]
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        return {"input_ids": input_ids, "attention_mask": mask, "position_ids": positions, "labels": labels}


def _loss(model: Any, batch: dict[str, Any]) -> Any:
    """Mean next-token cross-entropy over the labelled tokens, with the output layer
    applied at those positions only (most of a verbalized prompt is a fixed instruction)."""
    import torch

    labels = batch["labels"][:, 1:]
    hidden = model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         position_ids=batch["position_ids"]).last_hidden_state[:, :-1]
    chosen = labels != -100
    logits = model.lm_head(hidden[chosen])
    return torch.nn.functional.cross_entropy(logits, labels[chosen])


def _is_verbalized_step(step: int, share: float) -> bool:
    """Spread the verbalized batches evenly: ``share`` of all steps."""
    return math.floor((step + 1) * share) > math.floor(step * share)


def build_tiny(folder: str | Path, recipe: Recipe = Recipe(), *, progress: bool = True) -> Path:
    """Build the tiny model of ``recipe`` into ``folder`` (tokenizer, weights, profile)."""
    import torch
    from tqdm.auto import tqdm

    from harness.plugins.models.build import new_causal_lm, save_model, train_tokenizer

    started = time.monotonic()
    world = build_world(recipe.world_seed, recipe.n_entities, recipe.seen_fraction)
    tokenizer = train_tokenizer(tokenizer_texts(world), vocab_size=recipe.vocab_size)
    model = new_causal_lm(
        tokenizer,
        hidden_size=recipe.hidden_size,
        intermediate_size=recipe.intermediate_size,
        num_layers=recipe.num_layers,
        num_heads=recipe.num_heads,
        seed=recipe.seed,
    )
    batches = _Batches(world, tokenizer, recipe)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate,
                                  weight_decay=recipe.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _cosine(recipe.warmup_steps, recipe.steps))
    model.train()
    bar = tqdm(range(recipe.steps), desc="pretraining the tiny model", disable=not progress,
               file=sys.stderr, mininterval=1.0)
    loss_value = float("nan")
    for step in bar:
        loss = _loss(model, batches.next(_is_verbalized_step(step, recipe.verbalized_share)))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = float(loss.item())
        bar.set_postfix(loss=f"{loss_value:.3f}", refresh=False)
    bar.close()
    model.eval()
    folder = save_model(model, tokenizer, folder)
    info = {**recipe.to_dict(), "build_seconds": round(time.monotonic() - started, 1),
            "final_loss": round(loss_value, 4) if recipe.steps else None,
            "parameters": sum(p.numel() for p in model.parameters())}
    write_text_atomic(folder / RECIPE_FILE, json.dumps(info, indent=2) + "\n")
    write_text_atomic(folder / PROFILE_FILE, profile_text(recipe))
    return folder


def _cosine(warmup: int, total: int) -> Any:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        span = max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / span)))

    return factor


def check_knowledge(folder: str | Path, world: World, *, batch_size: int = 64) -> dict[str, Any]:
    """Greedy answers to every question of ``world`` in both formats.

    Returns, for seen and unseen entities apart, the plain-format accuracy and mean answer
    probability (mean probability of the answer's tokens, as the ``logprob`` extractor
    takes it), and the confidences stated in the verbalized format.
    """
    from transformers import AutoTokenizer, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.padding_side = "left"
    model = LlamaForCausalLM.from_pretrained(folder).eval()
    facts = list(world.facts)
    plain = _greedy(model, tokenizer, [plain_prompt(f.question) for f in facts], 8, batch_size)
    verbal = _greedy(model, tokenizer, [verbalized_prompt(f.question) for f in facts], 16, batch_size)
    result: dict[str, Any] = {}
    for seen in (True, False):
        rows = [i for i, f in enumerate(facts) if f.seen is seen]
        key = "seen" if seen else "unseen"
        if not rows:
            continue
        answers = [plain[i][0].split("\n")[0].strip() for i in rows]
        correct = [a == facts[i].answer for a, i in zip(answers, rows, strict=True)]
        stated = [_stated(verbal[i][0]) for i in rows]
        verbal_correct = [_verbal_answer(verbal[i][0]) == facts[i].answer for i in rows]
        result[key] = {
            "n": len(rows),
            "accuracy": sum(correct) / len(rows),
            "mean_answer_probability": sum(plain[i][1] for i in rows) / len(rows),
            "verbalized_accuracy": sum(verbal_correct) / len(rows),
            "stated_confidences": sorted(c for c in stated if c is not None),
            "unparsed": sum(c is None for c in stated),
        }
    return result


def _stated(text: str) -> float | None:
    for line in text.split("\n"):
        if line.startswith("Confidence:"):
            try:
                return float(line.split(":", 1)[1])
            except ValueError:
                return None
    return None


def _verbal_answer(text: str) -> str:
    first = text.split("\n")[0]
    return first.split(":", 1)[1].strip() if first.startswith("Answer:") else ""


def _greedy(
    model: Any, tokenizer: Any, prompts: list[str], max_new: int, batch_size: int
) -> list[tuple[str, float]]:
    """Greedy completions, each with the mean probability of its tokens before the first newline."""
    import torch

    out: list[tuple[str, float]] = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=max_new, do_sample=False, output_scores=True,
                                 return_dict_in_generate=True, pad_token_id=tokenizer.pad_token_id)
        new = gen.sequences[:, enc["input_ids"].shape[1]:]
        probs = torch.stack([s.softmax(-1) for s in gen.scores], dim=1)  # batch x steps x vocab
        for row in range(len(chunk)):
            ids = new[row].tolist()
            token_probs = []
            for step, tid in enumerate(ids):
                if tid in (tokenizer.eos_token_id, tokenizer.pad_token_id):
                    break
                if "\n" in tokenizer.decode([tid]):
                    break
                token_probs.append(float(probs[row, step, tid]))
            text = tokenizer.decode(ids, skip_special_tokens=True)
            out.append((text, sum(token_probs) / len(token_probs) if token_probs else 0.0))
    return out
