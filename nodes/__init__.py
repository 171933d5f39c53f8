"""The pack's nodes; each module holds one node and stays thin."""

from .patch_model import SemCachePatchModel
from .stats_node import SemCacheStats

NODE_CLASSES = [SemCachePatchModel, SemCacheStats]

__all__ = ["NODE_CLASSES", "SemCachePatchModel", "SemCacheStats"]
