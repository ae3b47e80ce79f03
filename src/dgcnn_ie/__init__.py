"""DGCNN + "subject first, then (object, predicate)" relation-triple extraction (LIC2019 / DuIE 2.0)."""

__version__ = "0.1.0"
