"""The pack's nodes; each module holds one node and stays thin."""

from .compare_node import SemCacheCompare
from .patch_model import SemCachePatchModel
from .stats_node import SemCacheStats
from .tmm_frame_selector import TMMFrameSelector

NODE_CLASSES = [SemCachePatchModel, TMMFrameSelector, SemCacheStats, SemCacheCompare]

__all__ = ["NODE_CLASSES", "SemCacheCompare", "SemCachePatchModel", "SemCacheStats", "TMMFrameSelector"]
