"""Weighted-prompt parsing, token location and embedding scaling (Ma et al. 2025 Table 1 {phrase:weight})."""
import pytest
import torch

from raregal.core.config import torch_threads
from raregal.paper_b.diffusion import components
from raregal.paper_b.diffusion.prompts import (
    TABLE1,
    PromptSyntaxError,
    parse_weighted_prompt,
    scale_embeddings,
    token_weights,
    weighted_embeddings,
    without_phrase,
)

CORPUS = ["sdss, completely round galaxy, dust lane", "edge-on galaxy, with rounded edge-on bulge",
          "cigar-shaped galaxy, merger"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def tokenizer():
    return components.build_tokenizer(CORPUS, max_length=16)


def test_parse_paper_prompt():
    wp = parse_weighted_prompt("sdss, {completely round:1.2} galaxy, {dust lane:1.3}")
    assert wp.text == "sdss, completely round galaxy, dust lane"
    assert wp.weights == {"completely round": 1.2, "dust lane": 1.3}
    for a, b, _ in wp.spans:
        assert wp.text[a:b] in ("completely round", "dust lane")


def test_parse_without_weights_and_spaces_inside_braces():
    assert parse_weighted_prompt("edge-on galaxy").spans == ()
    wp = parse_weighted_prompt("a { dust lane : 1.5 }")
    assert wp.text == "a  dust lane "
    assert wp.weights == {"dust lane": 1.5}


@pytest.mark.parametrize("bad, words", [
    ("{dust lane:1.3", "unbalanced"),
    ("dust lane:1.3}", "unbalanced"),
    ("{dust lane}", "malformed"),
    ("{dust lane:heavy}", "not a number"),
    ("{:1.3}", "empty phrase"),
    ("{dust lane:-1}", "positive"),
    ("{{dust lane:1.3}:2}", "malformed"),
])
def test_malformed_prompts_raise(bad, words):
    with pytest.raises(PromptSyntaxError, match=words):
        parse_weighted_prompt(bad)


def test_token_weights_mark_exactly_the_phrase_tokens(tokenizer):
    wp = parse_weighted_prompt("sdss, completely round galaxy, {dust lane:1.3}")
    ids, w = token_weights(tokenizer, wp)
    toks = tokenizer.convert_ids_to_tokens(ids[0].tolist())
    weighted = [t for t, x in zip(toks, w.tolist()) if x != 1.0]
    assert weighted == ["dust</w>", "lane</w>"]
    assert torch.allclose(w[w != 1.0], torch.tensor(1.3))
    assert ids.shape == (1, 16)


def test_phrase_cut_off_by_token_limit_is_an_error(tokenizer):
    long = ", ".join(["completely round galaxy"] * 6) + ", {dust lane:1.3}"
    with pytest.raises(PromptSyntaxError, match="not found among the prompt's tokens"):
        token_weights(tokenizer, parse_weighted_prompt(long))


def test_scale_embeddings_restores_mean_and_emphasises():
    torch.manual_seed(0)
    emb = torch.randn(1, 6, 8) + 2.0
    w = torch.tensor([1, 1, 1.5, 1.5, 1, 1])
    out = scale_embeddings(emb, w)
    assert torch.allclose(out.mean(), emb.mean(), atol=1e-5)
    shift = (emb - out)[0, [0, 1, 4, 5]]  # unweighted tokens move by one constant only
    assert torch.allclose(shift, shift.flatten()[0].expand_as(shift), atol=1e-5)
    assert torch.allclose(out[0, 2:4], 1.5 * emb[0, 2:4] - shift.flatten()[0], atol=1e-5)
    assert torch.equal(scale_embeddings(emb, torch.ones(6)), emb)
    with pytest.raises(ValueError, match="one weight per token"):
        scale_embeddings(emb, torch.ones(5))


def test_weighted_embeddings_equal_plain_encoding_without_weights(tokenizer):
    spec = components.TinySpec(resolution=16, vae_channels=(8, 16), unet_channels=(16, 32), text_hidden=32,
                      text_layers=1, text_heads=2, max_length=16)
    te = components.tiny_text_encoder(spec, tokenizer).eval()
    plain = weighted_embeddings("edge-on galaxy, dust lane", tokenizer, te)
    ids = tokenizer(["edge-on galaxy, dust lane"], padding="max_length", max_length=16,
                    return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.allclose(plain, te(ids)[0])
    weighted = weighted_embeddings("edge-on galaxy, {dust lane:1.3}", tokenizer, te)
    assert weighted.shape == plain.shape
    assert not torch.allclose(weighted, plain)
    assert torch.allclose(weighted.mean(), plain.mean(), atol=1e-5)


def test_table1_has_the_16_paper_prompts():
    assert list(TABLE1.letter) == list("ABCDEFGHIJKLMNOP")
    assert TABLE1.set_index("letter").prompt["K"] == "in-between round galaxy, {dust lane:1.3}"
    for p in TABLE1.prompt:
        parse_weighted_prompt(p)


def test_without_phrase_drops_one_item_weighted_or_not():
    p = "edge-on galaxy, {dust lane:1.3}, with rounded edge-on bulge"
    assert without_phrase(p, "dust lane") == "edge-on galaxy, with rounded edge-on bulge"
    assert without_phrase("in-between round galaxy, dust lane", "dust lane") == "in-between round galaxy"
    with pytest.raises(PromptSyntaxError, match="not one of"):
        without_phrase(p, "ring galaxy")
    with pytest.raises(PromptSyntaxError, match="leaves nothing"):
        without_phrase("{dust lane:1.3}", "dust lane")
    with pytest.raises(PromptSyntaxError, match="unbalanced"):
        without_phrase("edge-on galaxy, {dust lane:1.3", "dust lane")


def test_phrase_pairs_differ_by_exactly_the_named_phrase():
    from raregal.paper_b.diffusion.prompts import phrase_pairs, table1_prompts

    pairs = phrase_pairs(table1_prompts())
    assert list(pairs) == ["L: dust lane", "K: dust lane", "F: 4 vs 2 arms", "E: ring vs spiral",
                           "coarse: edge-on vs round"]

    def items(p):
        return {parse_weighted_prompt(x).text.strip() for x in p.split(",")}

    for key in ("L: dust lane", "K: dust lane"):
        a, b = pairs[key]
        assert items(a) - items(b) == {"dust lane"} and items(b) < items(a), key
    a, b = pairs["F: 4 vs 2 arms"]
    assert "4 spiral arms" in a and "2 spiral arms" in b and "4 spiral arms" not in b
    a, b = pairs["E: ring vs spiral"]
    assert "ring" in a and "ring" not in b
    assert len({p for pair in pairs.values() for p in pair}) == 10  # no pair is two copies of one prompt
