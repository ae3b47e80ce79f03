"""Command-line tools usable outside DVC: ``dgcnn-ie predict`` (also ``python -m dgcnn_ie.cli.predict``) and ``dgcnn-ie stage <name>``."""
