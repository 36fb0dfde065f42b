"""The domain core of fediverse-server: rules, storage, configuration and the command line."""

__version__ = "0.1.0"
