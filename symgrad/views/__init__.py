"""Views: the notation spelled (notation), the document of a derivation (document), its formats
(formats: text, Markdown, LaTeX, Jupyter; html), and the teaching views (teach, numbers, descent)."""
