"""Receivers that keep verified answers honest when the pages they rest on change."""

from __future__ import annotations
