"""SemCache for ComfyUI: prompt-semantic step caching for Wan video models.

ComfyUI imports this package as `custom_nodes.<folder>` and calls `comfy_entrypoint()`.
Only the stable public API (`comfy_api.latest`) is imported here; ComfyUI internals are
imported lazily in `semcache_core/comfy_glue.py`.
"""

from comfy_api.latest import ComfyExtension, io

from .nodes import NODE_CLASSES

WEB_DIRECTORY = "./web"


class SemCacheExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODE_CLASSES)


async def comfy_entrypoint() -> SemCacheExtension:
    return SemCacheExtension()
