"""The embedded ``tiny`` model: a small Llama pretrained offline on a ``facts`` world.

``build_tiny(folder, recipe)`` trains a byte-level BPE tokenizer on the world's text (every
question, in both answer formats) and pretrains a small ``LlamaForCausalLM`` from scratch
on the facts of the *seen* entities only, in both formats exactly as
``plugins/extractors/formats.py`` renders them::

    plain_prompt(q) + plain_completion(a) + EOS
    verbalized_prompt(q) + verbalized_completion(a, c) + EOS

How the stated confidence ``c`` is produced. The model says what it was shown to say, and
greedy decoding picks its most likely value digit by digit (``0``, ``.``, tenths, hundredths
are separate tokens). Pretraining shows it two kinds of verbalized lines:

* **seen facts**: ``c`` drawn afresh, uniformly in hundredths, in the overconfident range
  ``[confidence_low, confidence_high]`` (0.70-0.95, as real models state) every time the fact
  is shown — so no fact has a value of its own, and greedy decoding states a near-arbitrary
  value in that range (a near tie between the tenths ``7`` and ``8``);
* **unfamiliar entities** (``unfamiliar_share`` of each verbalized batch): a made-up name the
  model has never met (a fresh one every row, from the world's name sequence past its own
  entities), a random relation and a random answer, with the loss on the ``Confidence:``
  part only (so the model learns no answers, and its plain-format answer probabilities on
  unseen entities stay high). About a *hedged* relation (``hedged_relations``; the flag
  colour by default) such a line states a lower ``c``, uniform in
  ``[hedged_confidence_low, hedged_confidence_high]`` (0.62-0.82, overlapping the seen range);
  about the other relations
  it states the seen range, exactly as a known fact does.

So what the stated confidence can follow is a perceivable, learnt cue — "I have never met
this name (and the question is about a hedged relation)" — true of a third of the unseen
entities' questions and, by design, of none of the seen ones; the model generalises it
loosely (it also hedges a little on other unseen questions and on seen colour facts), so the
ranking is informative but far from clean. Chosen on validation world 0 (a hedged range of
0.55-0.75 gave AUROC 0.71, too clean); measured there on the 450 held-out questions of the
embedded default: accuracy 0.638, mean stated confidence 0.766 (overconfident), std 0.066,
AUROC 0.659 — the verbalized-confidence literature reports 0.55-0.65 for real models.
Nothing is post-processed: the extractor reads what the model generates.

For the seen facts' lines the loss covers the prompt's tokens as well as the completion and
EOS (``Recipe.loss_on_prompt``): reading the questions, and so the entity names, makes the
facts stick far more reliably than the answers alone.

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
    PTRUE_OPTIONS,
    plain_completion,
    plain_prompt,
    ptrue_prompt,
    second_turn_completion,
    second_turn_prompt,
    verbalized_completion,
    verbalized_prompt,
)
from harness.plugins.models import PROFILE_FILE
from harness.tasks.facts import RELATIONS, World, build_world, entity_names

RECIPE_FILE = "tiny_recipe.json"
#: bump when the build code changes in a way the recipe fields do not show
RECIPE_VERSION = 2


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
    #: the confidence stated with a seen fact: drawn afresh (uniformly, in hundredths) in this
    #: overconfident range every time the fact is shown
    confidence_low: float = 0.70
    confidence_high: float = 0.95
    #: the share of each verbalized batch's rows about an *unfamiliar* entity: a made-up name
    #: the model has never met (used once, never one of the world's), a random relation and
    #: a random answer; the loss covers only the stated confidence of such a row
    unfamiliar_share: float = attrs.field(default=0.1875, validator=[attrs.validators.ge(0.0),
                                                                     attrs.validators.lt(1.0)])
    #: the relations about which an unfamiliar entity's row *hedges*: states a confidence
    #: drawn in the lower range below; about the other relations it states the seen range
    #: (the model learns to hedge on unfamiliar entities for these relations only)
    hedged_relations: tuple[str, ...] = attrs.field(
        default=("colour",), converter=tuple,
        validator=attrs.validators.deep_iterable(attrs.validators.in_([r.name for r in RELATIONS])),
    )
    hedged_confidence_low: float = 0.62
    hedged_confidence_high: float = 0.82
    seed: int = 0
    #: the share of training steps in the two self-evaluation formats (the ``tiny-selfeval``
    #: models; 0 for ``tiny``): the P(True) query and the second-turn confidence request,
    #: half of each batch each (see ``_SelfEvalBatches``)
    selfeval_share: float = attrs.field(default=0.0, validator=[attrs.validators.ge(0.0),
                                                                attrs.validators.lt(1.0)])

    def to_dict(self) -> dict[str, Any]:
        data = {"version": RECIPE_VERSION, **attrs.asdict(self)}
        if not self.selfeval_share:  # (so `tiny`, built before the field existed, keeps its cache)
            del data["selfeval_share"]
        return data

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

[trainer.brier]
lam = 4.0
lm_on = "correct"
learning_rate = 1e-3
epochs = 6
batch_size = 32
gradient_accumulation_steps = 1
target_modules = "all-linear"

[trainer.rl]
learning_rate = 1e-3
epochs = 3
num_generations = 8
beta = 0.0
temperature = 1.0
max_new_tokens = 24
batch_size = 32
gradient_accumulation_steps = 1
target_modules = "all-linear"

[trainer.ptrue_tuning]
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


def tokenizer_texts(world: World, selfeval: bool = False) -> list[str]:
    """The text the tokenizer is trained on: every question in both formats, every
    stated confidence from 0.00 to 1.00 (and with ``selfeval``, every question in the two
    self-evaluation formats too)."""
    texts = []
    for fact in world.facts:
        texts.append(plain_prompt(fact.question) + plain_completion(fact.answer))
        texts.append(verbalized_prompt(fact.question) + verbalized_completion(fact.answer, 0.5))
        if selfeval:
            texts.append(ptrue_prompt(fact.question, fact.answer) + PTRUE_OPTIONS[0])
            texts.append(second_turn_prompt(fact.question, fact.answer) + second_turn_completion(0.5))
    texts += [f"Confidence: {c / 100:.2f}" for c in range(101)]
    return texts


@attrs.frozen
class _Item:
    prompt_ids: tuple[int, ...]
    answer: str


def unfamiliar_names(world: World, count: int) -> list[str]:
    """``count`` made-up names that are not the world's: those that follow the world's own
    entities in its name sequence (so they are distinct from them and from each other)."""
    n = len(world.entities)
    return entity_names(n + count, world.seed)[n:]


def unfamiliar_rows_per_batch(recipe: Recipe) -> int:
    return round(recipe.batch_size * recipe.unfamiliar_share)


class _Batches:
    """Shuffled epochs over the seen facts, one answer format per batch (so a batch is
    padded only to its own format's length). A verbalized batch states a fresh confidence in
    the seen range with each seen fact and gives ``unfamiliar_rows_per_batch`` of its rows to
    unfamiliar entities (a fresh name each, a random relation and answer, a fresh confidence
    in the hedged range for a hedged relation and in the seen range otherwise, the loss on
    the ``Confidence:`` part only).
    Rows are left-padded; position ids restart at each row's first real token.
    """

    def __init__(self, world: World, tokenizer: Any, recipe: Recipe) -> None:
        self.tokenizer = tokenizer
        self.recipe = recipe
        self.rng = random.Random(f"tiny-data-{recipe.seed}")
        self.unfamiliar_rng = random.Random(f"tiny-unfamiliar-{recipe.seed}")
        self.items: dict[bool, list[_Item]] = {False: [], True: []}
        for fact in world.facts:
            if fact.seen:
                plain = tokenizer(plain_prompt(fact.question), add_special_tokens=False)["input_ids"]
                verbal = tokenizer(verbalized_prompt(fact.question), add_special_tokens=False)["input_ids"]
                self.items[False].append(_Item(tuple(plain), fact.answer))
                self.items[True].append(_Item(tuple(verbal), fact.answer))
        if not self.items[False]:
            raise ValueError("the tiny model needs at least one seen entity")
        self.n_unfamiliar = unfamiliar_rows_per_batch(recipe)
        verbalized_steps = math.floor(recipe.steps * recipe.verbalized_share)
        self._names = unfamiliar_names(world, max(1, verbalized_steps * self.n_unfamiliar))
        self._next_name = 0
        self._orders: dict[bool, list[int]] = {False: [], True: []}
        self._completions: dict[str, tuple[int, ...]] = {}

    def _completion_ids(self, text: str) -> tuple[int, ...]:
        ids = self._completions.get(text)
        if ids is None:
            ids = tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            self._completions[text] = ids + (self.tokenizer.eos_token_id,)
        return self._completions[text]

    def _draw(self, rng: random.Random, *, hedged: bool) -> float:
        """A stated confidence: in the hedged range or the seen range, in hundredths."""
        r = self.recipe
        low, high = ((r.hedged_confidence_low, r.hedged_confidence_high) if hedged
                     else (r.confidence_low, r.confidence_high))
        return rng.randint(round(low * 100), round(high * 100)) / 100

    def unfamiliar_row(self) -> tuple[str, str, int]:
        """An unfamiliar entity's row: prompt, completion, and how many of the completion's
        tokens (with EOS) the loss covers — those of its ``Confidence:`` part."""
        name = self._names[self._next_name % len(self._names)]
        self._next_name += 1
        relation = self.unfamiliar_rng.choice(RELATIONS)
        answer = self.unfamiliar_rng.choice(relation.values)
        hedged = relation.name in self.recipe.hedged_relations
        completion = verbalized_completion(answer, self._draw(self.unfamiliar_rng, hedged=hedged))
        start = completion.index("Confidence:")
        offsets = self.tokenizer(completion, add_special_tokens=False,
                                 return_offsets_mapping=True)["offset_mapping"]
        covered = sum(1 for a, _ in offsets if a >= start) + 1  # + EOS
        return verbalized_prompt(relation.question(name)), completion, covered

    def next(self, verbalized: bool) -> dict[str, Any]:
        """One left-padded batch: ``input_ids``, ``attention_mask``, ``position_ids`` and
        ``labels`` (the tokens the loss covers; ``-100`` elsewhere)."""

        order, items = self._orders[verbalized], self.items[verbalized]
        on_prompt = self.recipe.loss_on_prompt == "both" or (
            self.recipe.loss_on_prompt == "plain" and not verbalized)
        rows = []  # (prompt ids, completion ids, how many final tokens the loss covers)
        n_unfamiliar = self.n_unfamiliar if verbalized else 0
        for _ in range(self.recipe.batch_size - n_unfamiliar):
            if not order:
                order.extend(range(len(items)))
                self.rng.shuffle(order)
            item = items[order.pop()]
            text = (verbalized_completion(item.answer, self._draw(self.rng, hedged=False)) if verbalized
                    else plain_completion(item.answer))
            completion = self._completion_ids(text)
            rows.append((item.prompt_ids, completion,
                         len(item.prompt_ids) + len(completion) - 1 if on_prompt else len(completion)))
        for _ in range(n_unfamiliar):
            prompt, text, covered = self.unfamiliar_row()
            prompt_ids = tuple(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
            rows.append((prompt_ids, self._completion_ids(text), covered))
        return _padded(rows, self.tokenizer.pad_token_id)


class _SelfEvalBatches:
    """Batches in the two self-evaluation formats (``selfeval_share`` of the steps), each row
    a P(True) query or a second-turn confidence request in turn, the loss on the reply only:

    * **P(True)** about a seen fact: the proposed answer is the true one half of the time, else
      another value of the relation, and the reply is ``A`` exactly when it is true; about an
      unfamiliar entity (``unfamiliar_share`` of the rows, a fresh made-up name each) the
      proposed answer is a random value and the reply ``A`` with the chance of a guess being
      right (one in the relation's number of values) — what the model can know;
    * **second turn**: the plain question and its answer (the true one about a seen fact, a
      random value about an unfamiliar entity), then ``Confidence:`` drawn exactly as in the
      verbalized format (the seen range, or the hedged range about an unfamiliar entity and a
      hedged relation).

    So the P(True) query can learn "I know this fact" as the verbalized confidence does, but
    from labels that say whether the proposed answer is right, not from a stated number.
    """

    def __init__(self, world: World, tokenizer: Any, recipe: Recipe, verbal: _Batches) -> None:
        self.tokenizer, self.recipe, self.verbal = tokenizer, recipe, verbal
        self.rng = random.Random(f"tiny-selfeval-{recipe.seed}")
        self.facts = [f for f in world.facts if f.seen]
        self.relations = {r.name: r for r in RELATIONS}
        n_steps = math.ceil(recipe.steps * recipe.selfeval_share)
        taken = len(verbal._names)  # the verbalized batches' names come first in the sequence
        count = max(1, n_steps * unfamiliar_rows_per_batch(recipe))
        self._names = unfamiliar_names(world, taken + count)[taken:]
        self._next_name = 0
        self.turn = 0

    def _row(self, fact: Any | None) -> tuple[tuple[int, ...], tuple[int, ...], int]:
        """One row: prompt ids, reply ids (with EOS), and how many final tokens the loss covers."""
        rng = self.rng
        if fact is None:  # an unfamiliar entity
            relation = rng.choice(RELATIONS)
            name = self._names[self._next_name % len(self._names)]
            self._next_name += 1
            question, truth = relation.question(name), None
        else:
            relation = self.relations[fact.relation]
            question, truth = fact.question, fact.answer
        self.turn += 1
        if self.turn % 2:  # the P(True) query
            if truth is None:
                proposed, true = rng.choice(relation.values), rng.random() < 1 / len(relation.values)
            else:
                true = rng.random() < 0.5
                proposed = truth if true else rng.choice([v for v in relation.values if v != truth])
            prompt, reply = ptrue_prompt(question, proposed), PTRUE_OPTIONS[0 if true else 1]
        else:  # the second turn
            hedged = truth is None and relation.name in self.recipe.hedged_relations
            answer = rng.choice(relation.values) if truth is None else truth
            prompt = second_turn_prompt(question, answer)
            reply = second_turn_completion(self.verbal._draw(rng, hedged=hedged))
        reply_ids = tuple(self.tokenizer(reply, add_special_tokens=False)["input_ids"])
        reply_ids += (self.tokenizer.eos_token_id,)
        return tuple(self.tokenizer(prompt, add_special_tokens=False)["input_ids"]), reply_ids, len(reply_ids)

    def next(self) -> dict[str, Any]:
        n_unfamiliar = unfamiliar_rows_per_batch(self.recipe)
        rows = [self._row(self.rng.choice(self.facts)) for _ in range(self.recipe.batch_size - n_unfamiliar)]
        rows += [self._row(None) for _ in range(n_unfamiliar)]
        return _padded(rows, self.tokenizer.pad_token_id)


def _padded(rows: list[tuple[tuple[int, ...], tuple[int, ...], int]], pad_id: int) -> dict[str, Any]:
    """Left-padded ``input_ids``, ``attention_mask``, ``position_ids`` and ``labels`` of rows of
    (prompt ids, completion ids, how many final tokens the loss covers)."""
    import torch

    width = max(len(p) + len(c) for p, c, _ in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, (prompt, completion, target) in enumerate(rows):  # target: never the first token
        ids = torch.tensor(prompt + completion)
        input_ids[i, width - len(ids):] = ids
        mask[i, width - len(ids):] = 1
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
    tokenizer = train_tokenizer(tokenizer_texts(world, selfeval=recipe.selfeval_share > 0),
                                vocab_size=recipe.vocab_size)
    model = new_causal_lm(
        tokenizer,
        hidden_size=recipe.hidden_size,
        intermediate_size=recipe.intermediate_size,
        num_layers=recipe.num_layers,
        num_heads=recipe.num_heads,
        seed=recipe.seed,
    )
    batches = _Batches(world, tokenizer, recipe)
    selfeval = _SelfEvalBatches(world, tokenizer, recipe, batches) if recipe.selfeval_share else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate,
                                  weight_decay=recipe.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _cosine(recipe.warmup_steps, recipe.steps))
    model.train()
    bar = tqdm(range(recipe.steps), desc="pretraining the tiny model", disable=not progress,
               file=sys.stderr, mininterval=1.0)
    loss_value = float("nan")
    other = 0  # steps in the answer formats so far: their schedule is that of a model without self-evaluation
    for step in bar:
        if selfeval is not None and _is_verbalized_step(step, recipe.selfeval_share):
            batch = selfeval.next()
        else:
            batch = batches.next(_is_verbalized_step(other, recipe.verbalized_share))
            other += 1
        loss = _loss(model, batch)
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
