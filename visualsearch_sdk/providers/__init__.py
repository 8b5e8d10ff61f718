"""Provider adapters. Nothing is imported here: adapters load lazily through ``_registry``."""

__all__: list[str] = []
