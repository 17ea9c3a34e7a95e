"""Labels stage: the toxicity + conspiracy dataset and the tools that build it."""
