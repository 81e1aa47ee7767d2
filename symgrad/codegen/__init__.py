"""Code generation: the printer, the two shapes of module, and their templates' data."""
