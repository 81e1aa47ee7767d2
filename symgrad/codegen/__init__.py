"""Code generation: the recipe and its key (recipe), the printer, the comments, the two shapes
of module and their templates' data (generate, unrolled), and the cache of generated modules."""
