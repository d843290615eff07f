"""cost_models: the query layer, ``evaluate(workload, target, design) -> CostReport``."""
