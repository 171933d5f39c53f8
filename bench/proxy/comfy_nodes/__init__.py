"""ComfyUI nodes for the SemCache proxy model (a tiny custom-node folder, V1 API).

Not part of the SemCache pack's user nodes: the benchmark and the demo put this folder into
ComfyUI's custom_nodes/ next to the pack, so a workflow can run the proxy Wan checkpoint:
  SemCache Proxy Text Encode: STRING -> CONDITIONING (the proxy's deterministic text encoder)
  SemCache Proxy Decode:      LATENT -> IMAGE (the proxy's exact codec; one image per frame)
"""

from __future__ import annotations

from .proxy_codec import raw_to_rgb
from .proxy_text import encode


class SemCacheProxyTextEncode:
    """Stands in for CLIPTextEncode + the UMT5 model (which the proxy does not use)."""

    CATEGORY = "SemCache/proxy"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "encode"
    DESCRIPTION = "Encodes a prompt for the SemCache proxy Wan model (deterministic; no weights)."

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {"required": {"text": ("STRING", {"multiline": True, "dynamicPrompts": True})}}

    def encode(self, text: str) -> tuple:
        return ([[encode(text), {}]],)


class SemCacheProxyDecode:
    """Stands in for VAE Decode: the proxy's latents are an exact linear code of RGB frames."""

    CATEGORY = "SemCache/proxy"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "decode"
    DESCRIPTION = "Decodes a SemCache proxy latent video into frames (IMAGE batch, one per latent frame)."

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {"required": {"samples": ("LATENT",)}}

    def decode(self, samples: dict) -> tuple:
        rgb = raw_to_rgb(samples["samples"])  # (B, 3, T, H, W)
        frames = rgb.permute(0, 2, 3, 4, 1).reshape(-1, rgb.shape[3], rgb.shape[4], 3)
        return (frames.contiguous(),)


NODE_CLASS_MAPPINGS = {
    "SemCacheProxyTextEncode": SemCacheProxyTextEncode,
    "SemCacheProxyDecode": SemCacheProxyDecode,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "SemCacheProxyTextEncode": "SemCache Proxy Text Encode",
    "SemCacheProxyDecode": "SemCache Proxy Decode",
}
