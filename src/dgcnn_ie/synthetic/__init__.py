"""Deterministic synthetic LIC2019-format data (``python -m dgcnn_ie.synthetic``), so the pipeline runs with no download."""
