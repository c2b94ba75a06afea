"""SD-1.5's architecture with random weights, built from its published configs (no download).

The weights of stable-diffusion-v1-5 cannot be fetched here, but speed, GPU memory and the paper profile's
code path (fine-tune, checkpoints, export, 424-px sampling) do not depend on what the weights have learned.
``small`` keeps every config but shrinks the widths, for a CPU dry run of the same code.
"""
from __future__ import annotations

from raregal.paper_b.diffusion import components


def random_sd15(tokenizer, small: bool = False) -> components.Components:
    """UNet (320-640-1280-1280, cross-attention 768), VAE (128-256-512-512, 4 latent channels, scaling
    0.18215) and CLIP ViT-L/14 text tower (768 wide, 12 layers); our tokenizer's ids fit its vocabulary."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8,
                                block_out_channels=(32, 64, 64, 64) if small else (320, 640, 1280, 1280))
    vae = AutoencoderKL(down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        block_out_channels=(32, 64, 64, 64) if small else (128, 256, 512, 512),
                        layers_per_block=2, latent_channels=4, sample_size=512, scaling_factor=0.18215)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072,
                                        num_hidden_layers=2 if small else 12, num_attention_heads=12,
                                        max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768))
    tokenizer.model_max_length = 77
    comps = components.Components(unet, vae, text, tokenizer, components.noise_scheduler(),
                         info={"pretrained": "SD-1.5 architecture, random weights" + (" (small)" if small else "")})
    comps.info["n_params"] = components.n_params(comps)
    return comps
