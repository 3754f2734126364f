"""The composer: the paper's exact prompts, template, sampling and post-processing, run locally."""

from __future__ import annotations

from pathlib import Path

import pytest

from modeling.captioners.composer import (
    Composer,
    ComposerSampling,
    LocalBackend,
    apply_template,
    build_prompt,
    postprocess,
)
from modeling.hub import ModelNotFoundError

# The paper's scripts (llm.py and llm_copy.py), rendered for one pair of captions.
FUSION = (
    "Video caption: 'a man plays the guitar' \nMusic caption: 'calm piano' \nDescribe the music "
    "from both "
    "video and music captions. Return answer only without intro/outro."
)
MSI = (
    "Video caption: 'a man plays the guitar' \nMusic caption: 'calm piano' \nDescribe the video "
    "from the "
    "given video and music information. Return answer only without intro/outro."
)


def test_it_writes_the_released_scripts_prompts_exactly() -> None:
    pair = ("a man plays the guitar", "calm piano")
    assert build_prompt("fusion", *pair, prompt_set="released") == FUSION
    assert build_prompt("msi", *pair, prompt_set="released") == MSI
    assert apply_template(MSI) == "[INST] " + MSI + " [/INST]\n    "


def test_the_default_prompt_set_is_the_papers_table_1_wording() -> None:
    """Issue 14, item 3: the paper (Table 1) asks which scene the music suits; the released
    script asks to describe the video. The default is the paper's."""
    pair = ("a man plays the guitar", "calm piano")
    assert build_prompt("msi", *pair) == (
        'Video Caption: "a man plays the guitar", Music Caption: "calm piano". '
        "What type of scene the music is suitable for?"
    )
    assert build_prompt("fusion", *pair, prompt_set="paper") == (
        'Video Caption: "a man plays the guitar", Music Caption: "calm piano". '
        "Describe the music from both video and music captions."
    )
    with pytest.raises(ValueError, match="prompt set must be one of paper, released"):
        build_prompt("msi", *pair, prompt_set="mine")


def test_it_refuses_a_missing_caption_or_kind() -> None:
    with pytest.raises(ValueError, match="music caption is empty"):
        build_prompt("msi", "a man plays the guitar", "  ")
    with pytest.raises(ValueError, match="kind"):
        build_prompt("video", "a", "b")


def test_it_post_processes_like_the_paper() -> None:
    decoded = "<s> [INST] " + MSI + " [/INST]\n     A lively  scene\nunfolds.\n\nThe   camera</s>"
    # newlines are deleted, not replaced by spaces; runs of spaces become one
    assert postprocess(decoded) == "A lively sceneunfolds.The camera"
    assert (
        postprocess("[INST] a [/INST]\n x [/INST]\ny</s></s>") == "y"
    )  # the text after the last marker
    assert (
        postprocess("no marker\tat   all ") == "no marker\tat all"
    )  # only runs of 2+ are squeezed


def test_its_sampling_defaults_are_the_papers() -> None:
    s = ComposerSampling()
    assert (s.temperature, s.top_p, s.top_k, s.max_new_tokens, s.greedy) == (
        0.7,
        0.95,
        40,
        512,
        False,
    )
    with pytest.raises(ValueError):
        ComposerSampling(top_p=0)


@pytest.fixture(scope="module")
def backend(tiny_dir: Path) -> LocalBackend:
    return LocalBackend.from_pretrained(str(tiny_dir / "composer"), device="cpu", batch_size=2)


def test_it_feeds_the_template_with_a_bos(backend: LocalBackend) -> None:
    ids = backend.tokenizer(apply_template(MSI)).input_ids
    assert ids[0] == backend.tokenizer.bos_token_id
    assert backend.tokenizer.decode(ids, skip_special_tokens=True) == apply_template(MSI)


PAIRS = [
    ("a man plays the guitar", "calm piano"),
    ("people dance on a beach", "upbeat pop with drums and synth"),
    ("a car drives at night", "dark ambient"),
]


def test_it_composes_in_batches_as_one_by_one_when_greedy(backend: LocalBackend) -> None:
    composer = Composer(
        backend,
        sampling=ComposerSampling(temperature=0, max_new_tokens=12),
        prompt_set="released",
    )
    batched = composer.compose("fusion", PAIRS)
    single = [composer.fusion(v, m) for v, m in PAIRS]
    assert [r.text for r in batched] == [r.text for r in single]
    assert all(r.text and "\n" not in r.text and "</s>" not in r.text for r in batched)
    assert batched[0].prompt == apply_template(FUSION)


def test_it_samples_reproducibly_and_records_the_provenance(
    backend: LocalBackend, tiny_dir: Path
) -> None:
    import torch

    composer = Composer(backend, sampling=ComposerSampling(max_new_tokens=12))
    state = torch.get_rng_state()
    first = composer.compose("msi", PAIRS[:2], seed=5)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone
    again = composer.compose("msi", PAIRS[:2], seed=5)
    other = composer.compose("msi", PAIRS[:2], seed=6)
    assert [r.text for r in first] == [r.text for r in again] != [r.text for r in other]
    r = first[1]
    assert r.kind == "msi" and r.model == str(tiny_dir / "composer")
    assert r.prompt == apply_template(build_prompt("msi", *PAIRS[1]))
    assert r.parameters == {
        "temperature": 0.7,
        "top_p": 0.95,
        "top_k": 40,
        "max_new_tokens": 12,
        "do_sample": True,
        "seed": 5,
        "prompt_set": "paper",
        "index": 1,
        "backend": "local",
        "batch_size": 2,
    }


def test_it_names_a_missing_model() -> None:
    with pytest.raises(ModelNotFoundError, match="nobody/Mixtral-missing"):
        LocalBackend.from_pretrained("nobody/Mixtral-missing")
