"""camsvc — camera service."""

from importlib.metadata import PackageNotFoundError, version

try:
    # The installed distribution's version, so `camsvc --version`, get_server_info and
    # /health/* name the release that is actually running.
    __version__ = version("camsvc")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+unknown"
