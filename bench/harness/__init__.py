"""Benchmark harness: SemCache vs ComfyUI's EasyCache/LazyCache on the trained proxy Wan model."""
