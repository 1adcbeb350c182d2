"""Loads a catmem plugin into python3 with ctypes, as an extension module would be loaded.

Usage: python3 load.py ./libcatmem_plugin.so
"""
import ctypes
import sys


def main(path):
    try:
        plugin = ctypes.CDLL(path)
    except OSError as err:
        print("load failed: %s" % err)
        return 1
    plugin.plugin_backend.restype = ctypes.c_char_p
    plugin.plugin_backend_info.restype = ctypes.c_char_p
    print("loaded: backend %s (%s), selftest %d" % (
        plugin.plugin_backend().decode(),
        plugin.plugin_backend_info().decode(),
        plugin.plugin_selftest()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
