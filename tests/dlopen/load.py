"""Loads modules with ctypes, as a Python extension is loaded, and calls their probe.

    python3 load.py MODULE.so...

Same output and exit status as host.c: "loaded <path>: <report>", or "dlopen failed: <error>"
and status 2.
"""
import ctypes
import sys


def main(paths):
    for path in paths:
        try:
            module = ctypes.CDLL(path)
        except OSError as error:
            print(f"dlopen failed: {error}")
            return 2
        report = ctypes.create_string_buffer(256)
        probe = module.dlopen_module_probe
        probe.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        probe.restype = ctypes.c_int
        if probe(report, len(report)) != 0:
            print(f"probe failed in {path}: {report.value.decode()}")
            return 1
        print(f"loaded {path}: {report.value.decode()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
