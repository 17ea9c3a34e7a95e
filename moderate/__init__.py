"""The front door: the `moderate` CLI and its settings. No logic lives here."""
