"""Sharing trained models: `save_pretrained`, `from_pretrained`, `push_to_hub` (see pretrained.py)."""

from hrm.hub.pretrained import from_pretrained, push_to_hub, save_pretrained

__all__ = ["from_pretrained", "push_to_hub", "save_pretrained"]
