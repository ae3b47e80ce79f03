"""DVC stages: each module has a `main()` that reads params.yaml and writes exactly its dvc.yaml outputs."""
