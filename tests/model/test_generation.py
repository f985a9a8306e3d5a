"""generate(): greedy and beam search equal to transformers', the KV cache changes nothing, beam
search equal to a textbook one, sampling reproducible, top-k / top-p on hand-made distributions."""

from __future__ import annotations

import math

import pytest
import torch
import transformers
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit import GPTConfig, GPTLanguageModel
from bertkit.model.generation import DecodingState, generate, top_k_filter, top_p_filter

EOS = 98


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A random tiny GPT-2 in transformers and the same weights in bertkit."""
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=99, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                  bos_token_id=EOS, eos_token_id=EOS, pad_token_id=EOS)
    ref = transformers.GPT2LMHeadModel(cfg).eval()
    directory = tmp_path_factory.mktemp("gpt2")
    ref.save_pretrained(directory)
    return GPTLanguageModel.from_pretrained(directory).eval(), ref


@pytest.fixture(scope="module")
def prompts():
    return torch.randint(0, 98, (3, 5), generator=torch.Generator().manual_seed(1))


def test_greedy_equals_transformers_with_and_without_cache(pair, prompts):
    model, ref = pair
    ours = model.generate(prompts, max_new_tokens=20)
    theirs = ref.generate(prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=20,
                          do_sample=False)
    assert torch.equal(ours, theirs)
    assert torch.equal(model.generate(prompts, max_new_tokens=20, use_cache=False), ours)


def test_left_padded_batch_equals_transformers(pair, prompts):
    model, ref = pair
    mask = torch.ones_like(prompts)
    mask[1, :2] = 0
    mask[2, :4] = 0
    ids = prompts.masked_fill(mask == 0, EOS)
    ours = model.generate(ids, attention_mask=mask, max_new_tokens=12)
    theirs = ref.generate(ids, attention_mask=mask, max_new_tokens=12, do_sample=False)
    assert torch.equal(ours, theirs)
    alone = model.generate(prompts[2:, 4:], max_new_tokens=12)              # the same prompt unpadded
    assert torch.equal(ours[2, 4:], alone[0])


@pytest.mark.parametrize("length_penalty, eos", [(1.0, EOS), (1.0, 3), (2.0, 3), (0.0, 60), (-1.0, 60)])
def test_beam_search_equals_transformers(pair, prompts, length_penalty, eos):
    model, ref = pair
    ours = model.generate(prompts, max_new_tokens=15, num_beams=3, length_penalty=length_penalty,
                          eos_token_id=eos)
    theirs = ref.generate(prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=15, num_beams=3,
                          length_penalty=length_penalty, do_sample=False, eos_token_id=eos, pad_token_id=eos)
    assert torch.equal(ours, theirs)
    assert torch.equal(model.generate(prompts, max_new_tokens=15, num_beams=3, length_penalty=length_penalty,
                                      eos_token_id=eos, use_cache=False), ours)


@pytest.mark.parametrize("early_stopping", [True, "never"])
def test_beam_search_early_stopping_equals_transformers(pair, prompts, early_stopping):
    model, ref = pair
    eos = int(model.generate(prompts, max_new_tokens=3)[0, -1])      # a token the beams do reach
    ours = model.generate(prompts, max_new_tokens=12, num_beams=4, eos_token_id=eos,
                          early_stopping=early_stopping)
    theirs = ref.generate(prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=12, num_beams=4,
                          do_sample=False, eos_token_id=eos, pad_token_id=eos, early_stopping=early_stopping)
    assert torch.equal(ours, theirs)


class MarkovModel(torch.nn.Module):
    """A 'model' whose next-token logits depend on the last token only (a fixed random table)."""

    def __init__(self, vocab: int, seed: int):
        super().__init__()
        self.table = torch.randn(vocab, vocab, generator=torch.Generator().manual_seed(seed))
        self.config = GPTConfig.preset("tiny", vocab_size=vocab, eos_token_id=None)
        self.context_window = 100

    def start_decoding(self, input_ids, attention_mask, use_cache):
        return input_ids, DecodingState()

    def decode_next(self, tokens, state):
        return self.table[tokens[:, -1]]


def test_greedy_takes_the_first_of_equal_maxima_like_argmax():
    """Greedy picks `max(-1).indices`, which is argmax's choice: the first of equal maxima, NaN first."""
    model = MarkovModel(vocab=6, seed=0)
    model.table = torch.tensor([[0., 3., 1., 3., 3., 0.],        # tie 1, 3, 4 -> 1
                                [2., 0., 2., 0., 0., 0.],        # tie 0, 2 -> 0
                                [0.] * 6,                        # all equal -> 0
                                [1., 1., float("nan"), 9., 1., float("nan")],   # NaN wins, the first
                                [0.] * 6, [0.] * 6])
    for start, want in ((0, 1), (1, 0), (2, 0), (3, 2)):
        out = generate(model, torch.tensor([[start]]), max_new_tokens=1, eos_token_id=None)
        assert out[0, 1].item() == want == model.table[start].argmax().item()


def reference_beam_search(model: MarkovModel, prompt: list[int], steps: int, beams: int) -> list[int]:
    """The textbook beam search: extend every hypothesis by every token, keep the `beams` best."""
    hyps = [(0.0, prompt)]
    for _ in range(steps):
        grown = []
        for score, seq in hyps:
            logp = torch.log_softmax(model.table[seq[-1]], -1).tolist()
            grown += [(score + lp, seq + [t]) for t, lp in enumerate(logp)]
        hyps = sorted(grown, key=lambda h: -h[0])[:beams]
    return hyps[0][1]


@settings(max_examples=25, deadline=None)
@given(vocab=st.integers(3, 8), seed=st.integers(0, 10_000), steps=st.integers(1, 6), beams=st.integers(2, 5))
def test_beam_search_equals_the_textbook_one(vocab, seed, steps, beams):
    model = MarkovModel(vocab, seed)
    ours = generate(model, torch.tensor([[0]]), max_new_tokens=steps, num_beams=beams, eos_token_id=None)
    got, want = ours[0].tolist(), reference_beam_search(model, [0], steps, beams)
    if got != want:
        # the same transitions in another order score exactly alike ([0,1,4,1,4,0,1] vs
        # [0,1,4,0,1,4,1]); rounding of the sums then picks either, so such ties compare by score
        assert path_score(model, got) == pytest.approx(path_score(model, want), abs=1e-5)


def path_score(model: MarkovModel, seq: list[int]) -> float:
    logp = torch.log_softmax(model.table.double(), -1)
    return sum(logp[a, b].item() for a, b in zip(seq[:-1], seq[1:], strict=True))


def test_beam_search_tie_found_by_hypothesis_scores_as_the_textbook_one():
    model = MarkovModel(5, 6)
    ours = generate(model, torch.tensor([[0]]), max_new_tokens=6, num_beams=3, eos_token_id=None)
    best = reference_beam_search(model, [0], 6, 3)
    assert path_score(model, ours[0].tolist()) == pytest.approx(path_score(model, best), abs=1e-9)


def test_beam_search_wide_enough_is_exhaustive():
    model = MarkovModel(3, 7)
    ours = generate(model, torch.tensor([[1]]), max_new_tokens=3, num_beams=27, eos_token_id=None)
    logp = torch.log_softmax(model.table, -1)
    best = max(((a, b, c) for a in range(3) for b in range(3) for c in range(3)),
               key=lambda s: logp[1, s[0]] + logp[s[0], s[1]] + logp[s[1], s[2]])
    assert ours[0, 1:].tolist() == list(best)


def test_sampling_is_reproducible_with_a_seed(pair, prompts):
    model, _ = pair
    kw = dict(max_new_tokens=15, do_sample=True, temperature=1.5, top_k=20, top_p=0.9)
    a = model.generate(prompts, seed=3, **kw)
    assert torch.equal(a, model.generate(prompts, seed=3, **kw))
    assert torch.equal(a, model.generate(prompts, seed=3, use_cache=False, **kw))
    assert not torch.equal(a, model.generate(prompts, seed=4, **kw))
    greedy = model.generate(prompts, max_new_tokens=15)
    assert torch.equal(model.generate(prompts, max_new_tokens=15, do_sample=True, top_k=1, seed=0), greedy)


def test_top_k_filter_on_a_hand_made_distribution():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0]])
    inf = float("-inf")
    assert top_k_filter(logits, 2).tolist() == [[inf, 3.0, 2.0, inf]]
    assert torch.equal(top_k_filter(logits, 0), logits)


def test_top_p_filter_on_a_hand_made_distribution():
    logits = torch.tensor([[0.15, 0.5, 0.05, 0.3]]).log()
    kept = lambda p: top_p_filter(logits, p).isfinite()[0].tolist()   # noqa: E731
    assert kept(0.4) == [False, True, False, False]      # 0.5 alone reaches 0.4
    assert kept(0.7) == [False, True, False, True]       # 0.5 + 0.3
    assert kept(0.9) == [True, True, False, True]        # 0.5 + 0.3 + 0.15
    assert kept(1.0) == [True, True, True, True]


def test_sampled_frequencies_follow_the_filtered_distribution():
    class Fixed(MarkovModel):
        def decode_next(self, tokens, state):
            return torch.tensor([0.15, 0.5, 0.05, 0.3]).log().expand(tokens.shape[0], 4)

    model = Fixed(4, 0)
    out = generate(model, torch.zeros(4000, 1, dtype=torch.long), max_new_tokens=1, do_sample=True, top_p=0.7,
                   seed=0, eos_token_id=None)[:, 1]
    freq = torch.bincount(out, minlength=4) / 4000.0
    assert freq[0] == 0 and freq[2] == 0                  # outside the nucleus
    assert math.isclose(freq[1].item(), 0.5 / 0.8, abs_tol=0.03)


@pytest.mark.parametrize("kwargs, message", [
    (dict(top_p=0.0), "top_p"), (dict(top_p=1.5), "top_p"), (dict(temperature=0.0), "temperature"),
    (dict(num_beams=0), "num_beams"), (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(max_new_tokens=100), "context window of 64"),
])
def test_bad_arguments_are_clear_errors(pair, prompts, kwargs, message):
    model, _ = pair
    with pytest.raises(ValueError, match=message):
        model.generate(prompts, **{"max_new_tokens": 5, **kwargs})
    with pytest.raises(ValueError, match="seq >= 1"):
        model.generate(prompts[:, :0], max_new_tokens=5)


def test_tokens_are_streamed_as_they_come(pair, prompts):
    model, _ = pair
    seen = []
    out = model.generate(prompts[:1], max_new_tokens=6, eos_token_id=None, on_token=seen.append)
    assert torch.cat(seen).tolist() == out[0, 5:].tolist()


def _stops_reached(model, prompts):
    """Two ids the greedy continuation reaches, at different steps of different rows."""
    out = model.generate(prompts, max_new_tokens=10, eos_token_id=None)[:, 5:]
    return [int(out[0, 3]), int(out[1, 6])]


def test_several_stop_ids_greedy_equal_transformers(pair, prompts):
    model, ref = pair
    stops = _stops_reached(model, prompts)
    ours = model.generate(prompts, max_new_tokens=12, eos_token_id=stops)
    theirs = ref.generate(prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=12,
                          do_sample=False, eos_token_id=stops, pad_token_id=stops[0])
    assert torch.equal(ours, theirs)
    new = ours[:, 5:]
    for row in new.tolist():                                   # every row ends at its first stop id
        ends = [i for i, t in enumerate(row) if t in stops]
        if ends:
            assert all(t == stops[0] for t in row[ends[0] + 1:])
    assert torch.equal(model.generate(prompts, max_new_tokens=12, eos_token_id=stops, use_cache=False), ours)
    assert torch.equal(model.generate(prompts, max_new_tokens=12, eos_token_id=[stops[0]]),
                       model.generate(prompts, max_new_tokens=12, eos_token_id=stops[0]))


@pytest.mark.parametrize("length_penalty", [1.0, 0.5])
def test_several_stop_ids_beam_search_equals_transformers(pair, prompts, length_penalty):
    model, ref = pair
    stops = _stops_reached(model, prompts) + [3]
    ours = model.generate(prompts, max_new_tokens=12, num_beams=3, eos_token_id=stops,
                          length_penalty=length_penalty)
    theirs = ref.generate(prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=12, num_beams=3,
                          do_sample=False, eos_token_id=stops, pad_token_id=stops[0],
                          length_penalty=length_penalty)
    assert torch.equal(ours, theirs)


def test_several_stop_ids_end_sampling(pair, prompts):
    model, _ = pair
    kw = dict(max_new_tokens=30, do_sample=True, temperature=2.0, seed=5)
    free = model.generate(prompts, eos_token_id=None, **kw)[:, 5:]
    stops = [int(free[0, 2]), int(free[2, 4])]
    out = model.generate(prompts, eos_token_id=stops, pad_token_id=0, **kw)[:, 5:]
    for row, free_row in zip(out.tolist(), free.tolist(), strict=False):
        end = next(i for i, t in enumerate(free_row + stops) if t in stops)   # same draws until a stop
        assert row[:end + 1] == (free_row + stops)[:end + 1][:len(row)]
        assert all(t == 0 for t in row[end + 1:])


@pytest.mark.parametrize("bad", [[-2], "7", [1.5]])
def test_bad_stop_ids_are_clear_errors(pair, prompts, bad):
    with pytest.raises(ValueError, match="eos_token_id"):
        pair[0].generate(prompts, max_new_tokens=3, eos_token_id=bad)


@pytest.mark.parametrize("rows, padded", [(1, False), (3, False), (3, True)])
def test_lean_steps_give_the_modules_logits(pair, prompts, rows, padded):
    """One-token steps with the cache run `Block.step` on the generation's `step_plan` (no module
    calls, q, k, v as one product with q pre-scaled, attention by hand): the modules' logits to
    float32 rounding (1e-5 relative), one row or several, with left padding or none."""
    from unittest import mock

    from bertkit.model.attention import KVCache
    from bertkit.model.gpt import Block

    model, _ = pair
    ids = prompts[:rows]
    mask = torch.ones_like(ids)
    if padded:
        mask[1, :2] = 0
    with torch.no_grad(), mock.patch.object(Block, "step", side_effect=Block.step) as step:
        plan = model.step_plan(rows)
        assert plan is not None
        lean, full = ([KVCache() for _ in model.layers] for _ in range(2))
        for caches in (lean, full):
            model.hidden_states(ids, mask if padded else None, cache=caches)
        for t in range(3):
            nxt = ids[:, t:t + 1]
            mask = torch.cat((mask, torch.ones(rows, 1, dtype=mask.dtype)), 1)
            positions = (mask.cumsum(1) - 1).clamp(min=0)[:, -1:] if padded else None
            key_mask = mask if padded else None
            got = model.step_logits(nxt, key_mask, positions, lean, plan)
            want = model.head(model.hidden_states(nxt, key_mask, positions, cache=full)[:, -1])
            assert (got - want).abs().max() <= 1e-5 * want.abs().max()
            assert lean[0].seen == full[0].seen == ids.shape[1] + t + 1
        assert step.call_count == 3 * len(model.layers)       # the lean step ran, once per layer


def test_lean_greedy_single_row_equals_transformers_and_no_cache(pair, prompts):
    model, ref = pair
    for row in range(4):
        ids = prompts[row:row + 1] if row < 3 else prompts[:1, :1]      # the last: a one-token prompt
        ours = model.generate(ids, max_new_tokens=25)
        theirs = ref.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=25, do_sample=False)
        assert torch.equal(ours, theirs)
        assert torch.equal(model.generate(ids, max_new_tokens=25, use_cache=False), ours)


def test_lean_steps_see_edited_weights(tmp_path, prompts):
    """The fused q, k, v copy lives for one generation only: weights edited between generations
    are used by the next one (equal to the modules' output without the cache)."""
    torch.manual_seed(3)
    model = GPTLanguageModel(GPTConfig.preset("tiny", vocab_size=99, n_positions=64)).eval()
    before = model.generate(prompts, max_new_tokens=12, eos_token_id=None)
    with torch.no_grad():
        for layer in model.layers:
            layer.attn.v.weight.mul_(-4.0)
            layer.attn.q.bias.add_(0.5)
    after = model.generate(prompts, max_new_tokens=12, eos_token_id=None)
    assert not torch.equal(before, after)
    assert torch.equal(after, model.generate(prompts, max_new_tokens=12, eos_token_id=None, use_cache=False))


def test_lean_decoding_yields_to_hooks(pair, prompts):
    """With a forward hook on any module the modules run (the hook sees every step)."""
    model, _ = pair
    calls = []
    handle = model.layers[1].ffn.register_forward_hook(lambda *args: calls.append(1))
    try:
        with torch.no_grad():
            assert not model.plain_inference() and model.step_plan(3) is None
        hooked = model.generate(prompts, max_new_tokens=6, eos_token_id=None)
    finally:
        handle.remove()
    assert len(calls) == 6                                 # the prompt, then 5 one-token steps
    assert torch.equal(hooked, model.generate(prompts, max_new_tokens=6, eos_token_id=None))
