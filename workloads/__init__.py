"""Network descriptions and training steps (issue 6)."""
