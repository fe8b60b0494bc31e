"""The stage graph: a study turns each grid cell into nodes (node.py), the runner executes
every node whose inputs exist (runner.py), and every output lands in one content-addressed
store (artifacts.py). Generation nodes of every stage and study share engine pools; a
training node is a Ray task (tasks.py)."""
