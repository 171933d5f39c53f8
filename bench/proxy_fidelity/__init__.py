"""Proxy fidelity: does the proxy Wan behave like the real Wan where caching looks? (bench/fidelity.py)"""
