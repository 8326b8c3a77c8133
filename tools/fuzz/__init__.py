"""Fuzz campaign over wlbridge's readers (``python -m tools.fuzz --help``)."""
