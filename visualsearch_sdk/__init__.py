"""visualsearch_sdk: one typed interface to visual search, with an offline local backend."""

__version__ = "0.1.0"
