"""Helpers of bench/demo_proxy.py: UI-to-API workflow conversion and the side-by-side preview."""
