"""Service stage: the HTTP moderation API and batch scoring of comment dumps."""
