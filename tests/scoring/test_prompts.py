import pytest

from stackray.data import MCItem
from stackray.scoring.prompts import NEUTRAL_PROMPT, build_prompt, build_prompts, shots_hash

ITEM = MCItem("q1", "What is 2+2? ", ("3", " 4 ", "5"), answer=1)
SHOT = MCItem("s1", "Capital of France?", ("Paris", "Rome"), answer=0)


def test_cloze_split_scores_option_text_after_a_space():
    split = build_prompt(ITEM, "cloze")
    assert split.prompt == "Question: What is 2+2?\nAnswer:"
    assert split.continuations == (" 3", " 4", " 5")


def test_letter_split_lists_options_and_scores_letters():
    split = build_prompt(ITEM, "letter")
    assert split.prompt == "Question: What is 2+2?\nA. 3\nB. 4\nC. 5\nAnswer:"
    assert split.continuations == (" A", " B", " C")


def test_k_shot_examples_show_their_gold_answer_before_the_question():
    cloze = build_prompt(ITEM, "cloze", shots=[SHOT])
    assert cloze.prompt == "Question: Capital of France?\nAnswer: Paris\n\nQuestion: What is 2+2?\nAnswer:"
    letter = build_prompt(ITEM, "letter", shots=[SHOT])
    assert letter.prompt.startswith("Question: Capital of France?\nA. Paris\nB. Rome\nAnswer: A\n\n")
    assert shots_hash([SHOT]) != shots_hash([]) == ""


@pytest.mark.parametrize("fmt", ["cloze", "letter"])
@pytest.mark.parametrize("shots", [[], [SHOT]])
def test_neutral_prompt_is_the_answer_cue_of_every_prompt_without_the_question(fmt, shots):
    # Calibration is log p(y | prompt) - log p(y | NEUTRAL_PROMPT): both terms must score y right after
    # the same cue, and only the first may know the question or its options.
    split = build_prompt(ITEM, fmt, shots=shots)
    assert split.prompt.endswith("\n" + NEUTRAL_PROMPT)
    question = split.prompt[: -len(NEUTRAL_PROMPT)]
    assert "2+2" in question and "2+2" not in NEUTRAL_PROMPT
    assert not any(option.strip() in NEUTRAL_PROMPT for option in ITEM.options)


def test_unknown_format_is_rejected_even_for_no_items():
    with pytest.raises(ValueError, match="unknown prompt format 'essay'"):
        build_prompts([], "essay")


def test_shot_without_gold_is_rejected():
    with pytest.raises(ValueError, match="k-shot example 'u' has no gold answer"):
        build_prompt(ITEM, "cloze", shots=[MCItem("u", "q", ("a", "b"))])
