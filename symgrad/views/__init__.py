"""Views: the document of a derivation, its text, Markdown, LaTeX and HTML forms, and the teaching views."""
