"""The LoRA trainer on the real SmolLM2-135M and 32 real OpenBookQA questions.

One base load and one short phase serve the module: the phase lowers the gold NLL and raises the
pairwise margin of the questions it trained on; the saved adapter, loaded by plain peft into a base
loaded the ordinary way, reproduces the trainer's log-likelihoods through a plain forward pass; the
transformers scorer, switched to the adapter without a restart, gives other features (and a new
cache key), and switched back gives the base's again. Kept cheap: 2 optimizer steps, short rows.
"""

import numpy as np
import pytest

from stackray.data import load_items
from stackray.scoring import FeatureCache, load_scorer
from stackray.scoring.prompts import build_prompts
from stackray.train import LoraSettings, LoraTrainer, TrainExample, read_adapter_meta

pytestmark = pytest.mark.slow

SETTINGS = LoraSettings(enabled=True, threads=2, epochs=1, batch_size=16, max_steps=2, lr=3e-3, max_length=96)


@pytest.fixture(scope="module")
def items():
    return load_items("openbookqa:train", limit=32)


@pytest.fixture(scope="module")
def examples(items):
    # two alternatives per question (the run gives the follower's hardest; any two keep the rows short)
    return [TrainExample(it, it.answer, tuple(j for j in range(it.num_options) if j != it.answer)[:2]) for it in items]


@pytest.fixture(scope="module")
def phase(items, examples, tmp_path_factory):
    trainer = LoraTrainer(SETTINGS)
    before = trainer.evaluate(examples)
    result = trainer.train(examples)
    after = trainer.evaluate(examples)
    folder = tmp_path_factory.mktemp("run") / "adapter"
    record = trainer.save(folder, version=1, loss=result.loss, steps=result.steps)
    return {"trainer": trainer, "before": before, "after": after, "result": result, "folder": folder,
            "record": record, "logprobs": trainer.option_logprobs(items[:6])}


def test_one_phase_lowers_gold_nll_and_raises_the_pairwise_margin(phase):
    before, after, result = phase["before"], phase["after"], phase["result"]
    assert result.steps == 2 and len(result.losses) == 2 and np.isfinite(result.losses).all()
    assert after["nll"] < before["nll"] - 0.1, (before, after)
    assert after["margin"] > before["margin"] + 0.05, (before, after)


def test_the_adapter_record_names_the_base_and_the_weights(phase):
    record = read_adapter_meta(phase["folder"])
    assert record == phase["record"]
    assert record["base_fingerprint"] == phase["trainer"].source.fingerprint()
    assert record["base_fingerprint"].startswith("gguf:") and record["version"] == 1 and record["steps"] == 2
    assert {"adapter_config.json", "adapter_model.safetensors", "stackray_adapter.json"} <= \
        {p.name for p in phase["folder"].iterdir()}


@pytest.fixture(scope="module")
def plain_base(gguf_base):
    """The base loaded the ordinary way (transformers from the GGUF), not through stackray's loader."""
    return gguf_base


def _plain_sum_logprobs(model, tokenizer, item) -> np.ndarray:
    """Summed log p(option | prompt) per option, one unpadded forward pass of prompt + option each."""
    import torch

    split = build_prompts([item], "cloze")[0]
    prompt = tokenizer(split.prompt, add_special_tokens=True)["input_ids"]
    out = []
    for cont in split.continuations:
        c = tokenizer(cont, add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([prompt + c])).logits[0].float()
        lp = torch.log_softmax(logits[len(prompt) - 1 : -1], dim=-1)
        out.append(float(lp[torch.arange(len(c)), torch.tensor(c)].sum()))
    return np.array(out)


def test_plain_peft_loads_the_adapter_and_reproduces_the_trainers_log_likelihoods(phase, plain_base, items):
    from peft import PeftModel

    base, tokenizer = plain_base
    model = PeftModel.from_pretrained(base, str(phase["folder"])).eval()
    try:
        for item, expected in zip(items[:6], phase["logprobs"]):
            np.testing.assert_allclose(_plain_sum_logprobs(model, tokenizer, item), expected, atol=1e-4, rtol=0)
        # and the adapter matters: without it the same forward pass gives other numbers
        with model.disable_adapter():
            base_lp = _plain_sum_logprobs(model, tokenizer, items[0])
        assert np.abs(base_lp - phase["logprobs"][0]).max() > 1e-3
    finally:
        model.unload()  # plain_base is the base again for the next test


def test_the_scorer_switches_to_the_adapter_without_a_restart(phase, plain_base, items):
    base, tokenizer = plain_base
    scorer = load_scorer(model=base, tokenizer=tokenizer, d_h=8, num_threads=2)
    cache = FeatureCache("/nonexistent-unused")
    few = items[:4]
    phi0, key0 = scorer.featurize(few), cache.key_of(cache.key_material(scorer, few, "cloze"))
    scorer.set_adapter(phase["folder"])
    phi1, key1 = scorer.featurize(few), cache.key_of(cache.key_material(scorer, few, "cloze"))
    assert scorer.load_count == 1  # switched in place
    assert key1 != key0 and "+adapter:" in scorer.fingerprint
    assert np.abs(phi1[..., 0] - phi0[..., 0]).max() > 1e-3  # the adapted model scores differently
    np.testing.assert_allclose(phi1[..., 1], np.concatenate(phase["logprobs"][:4]).reshape(4, -1), atol=1e-4, rtol=0)
    scorer.set_adapter(None)
    np.testing.assert_allclose(scorer.featurize(few), phi0, atol=1e-5, rtol=0)
    assert cache.key_of(cache.key_material(scorer, few, "cloze")) == key0


def test_a_phase_is_deterministic_for_its_seed(phase, examples):
    import torch

    trainer = phase["trainer"]  # the module's base, loaded once; its saved adapter was read by the tests above
    weights = []
    for _ in range(2):
        trainer.train(examples[:4])  # one step on 4 questions, from a fresh seeded adapter each time
        weights.append({k: v.detach().clone() for k, v in trainer._peft.named_parameters() if v.requires_grad})
    assert weights[0].keys() == weights[1].keys() and weights[0]
    for k in weights[0]:
        assert torch.equal(weights[0][k], weights[1][k]), k


def test_questions_with_fewer_alternatives_than_their_batch_keep_the_gradients_finite():
    """ARC-Easy mixes 3-, 4- and 5-option questions, so a batch pads some rows' alternatives. A pad must not
    reach the gradient: it once made every LoRA weight NaN after one such step."""
    import torch

    items = [it for it in load_items("arc_easy:train", limit=60, seed=0)]
    by_k = {k: [it for it in items if it.num_options == k] for k in (3, 4)}
    assert by_k[3] and by_k[4], "the sample needs 3- and 4-option questions"
    mixed = by_k[3][:2] + by_k[4][:2]
    examples = [TrainExample(it, it.answer, tuple(j for j in range(it.num_options) if j != it.answer)) for it in mixed]
    trainer = LoraTrainer(SETTINGS.model_copy(update={"max_steps": 1, "batch_size": 4}))
    result = trainer.train(examples)
    assert result.steps == 1 and np.isfinite(result.losses).all()
    weights = [p for p in trainer._peft.parameters() if p.requires_grad]
    assert all(torch.isfinite(w).all() for w in weights)
    assert any(w.abs().max() > 0 for w in weights if w.shape[0] != SETTINGS.rank)  # lora_B moved off zero
