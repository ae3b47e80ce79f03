"""Command-line tools usable outside DVC: ``python -m dgcnn_ie.cli.predict`` (console script ``dgcnn-ie-predict``)."""
