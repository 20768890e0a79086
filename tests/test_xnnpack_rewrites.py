"""The export-time rewrites compute what the eager modules compute, and keep the DiT in few XNNPACK delegates."""

import torch
import torch.nn.functional as F

from arc_edge.export.xnnpack_rewrites import (
    ExplicitAttention,
    FoldedSnake,
    LinearLayerNorm,
    xnnpack_friendly,
)
from arc_edge.models.oobleck import SnakeBeta
from arc_edge.models.transformer import Attention, LayerNorm


def test_linear_layer_norm_matches_layer_norm_on_3d_and_4d_inputs():
    gen = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(24, generator=gen), torch.randn(24, generator=gen)
    norm = LinearLayerNorm(weight, bias, 1e-6)
    for shape in ((2, 5, 24), (1, 3, 7, 24)):
        x = torch.randn(shape, generator=gen) * 3 + 1
        torch.testing.assert_close(norm(x), F.layer_norm(x, (24,), weight, bias, 1e-6), rtol=1e-5, atol=1e-5)


def test_explicit_attention_matches_sdpa_for_self_and_cross_shapes():
    gen = torch.Generator().manual_seed(1)
    attend = ExplicitAttention(16)
    for n, m in ((9, 9), (9, 5)):
        q = torch.randn(1, 2, n, 16, generator=gen)
        k, v = torch.randn(1, 2, m, 16, generator=gen), torch.randn(1, 2, m, 16, generator=gen)
        torch.testing.assert_close(attend(q, k, v), F.scaled_dot_product_attention(q, k, v), rtol=1e-5, atol=1e-6)


def test_folded_snake_matches_snake_beta():
    snake = SnakeBeta(6)
    with torch.no_grad():
        snake.alpha.normal_()
        snake.beta.normal_()
    x = torch.randn(2, 6, 50)
    torch.testing.assert_close(FoldedSnake(snake)(x), snake(x))


def test_rewrite_replaces_every_target_and_leaves_the_original_alone(tiny_pipeline):
    dit = tiny_pipeline.model.model
    friendly = xnnpack_friendly(dit)
    kinds = {type(m) for m in friendly.modules()}
    assert LayerNorm not in kinds and torch.nn.LayerNorm not in kinds and LinearLayerNorm in kinds
    assert all(isinstance(m.attend, ExplicitAttention) for m in friendly.modules() if isinstance(m, Attention))
    assert any(isinstance(m, LayerNorm) for m in dit.modules())  # the eager model is untouched
    assert all(m.attend is F.scaled_dot_product_attention for m in dit.modules() if isinstance(m, Attention))
    decoder = xnnpack_friendly(tiny_pipeline.pretransform.model.decoder)
    assert not any(isinstance(m, SnakeBeta) for m in decoder.modules())


def test_int8_dit_lowers_to_few_xnnpack_delegates(et_int8_bundle):
    """Before the rewrites every layer norm, chunk and attention split the DiT: 47 delegates for 4 blocks.
    Read from the exported program itself (the test run lowers the int8 DiT once, for the bundle)."""
    from arc_edge.export.pte import summarize_pte

    summary = summarize_pte(et_int8_bundle / "dit.pte")
    assert summary.delegates["XnnpackBackend"] <= 3
    left_out = " ".join(summary.operators)
    assert not any(op in left_out for op in ("layer_norm", "split", "where", "expand", "mul", "linear", "addmm"))
