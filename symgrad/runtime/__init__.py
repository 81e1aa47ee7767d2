"""Runtime: the Model that trains with a generated module, its cache and build, ahead-of-time extensions."""
