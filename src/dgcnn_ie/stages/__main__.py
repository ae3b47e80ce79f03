"""``python -m dgcnn_ie.stages <stage> ...``: see `dgcnn_ie.stages.runner`."""
import sys

from .runner import main

sys.exit(main())
