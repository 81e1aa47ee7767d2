"""Runtime: compile (build), the Model that trains with a generated module (model, with the data
checked at its edge and its calls sized in chunks), weights files, ahead-of-time extensions."""
