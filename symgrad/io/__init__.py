"""Input and output: spec files and training data."""
