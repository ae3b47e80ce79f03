"""DVC stages, run by one runner: ``python -m dgcnn_ie.stages <stage> [--params FILE] [options]``.

Each stage module declares ``PARAMS`` (the dotted params keys it reads; dvc.yaml's ``params:``
lists exactly these) and ``run(config, ...)``, which gets the validated config as a view limited
to those keys and writes exactly its dvc.yaml outputs (paths from `dgcnn_ie.layout`). Optional
``add_arguments(parser)`` adds stage options (cv_raw's fold, cv's family and fold). No stage imports
another stage; shared code lives in the library.
"""
