"""Model stage: features, training, evaluation, prediction; versioned artifacts."""
