from importlib.metadata import version as _v  # noqa: F401
__version__ = "0.1.0"

from rcmkit.errors import RcmkitError  # noqa: E402  (one root for rcmkit's own errors)
