"""Declaration: formulas (the whitelist parser), activations and costs, layers and networks, optimisers."""
