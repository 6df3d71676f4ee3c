"""Plugins: one sub-package per slot, the slot's interface in its `__init__`.

Plugins answer questions and perform commands; they hold no policy (DESIGN.md §2).
"""
