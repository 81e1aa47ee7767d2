"""The data sets bundled with symgrad (``digits``, ``iris``); see README.md here for their sources."""
