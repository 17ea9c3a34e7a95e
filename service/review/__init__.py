"""The moderators' review queue: scored comments in, decisions and human labels out."""
