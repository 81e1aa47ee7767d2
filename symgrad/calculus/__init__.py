"""Calculus: symbols and their metadata, derivation steps, the chain-rule derivation and BP1-BP4."""
