"""``python -m dgcnn_ie.synthetic``: the same as ``python -m dgcnn_ie.synthetic.generate``."""
from .generate import main

main()
