"""Offline stand-in for @rules_cc//cc:defs.bzl.

Bazel 4.2.3 keeps the C/C++ rules built in; the real rules_cc of that era only
wraps them. Each macro here hands its attributes unchanged to the native rule,
so a BUILD file behaves the same as with the real rules_cc. The list covers
every name that Bazel 4.2.3's embedded tools load from this file, plus the
other C-family rules a project might load.
"""

def cc_binary(**attrs):
    native.cc_binary(**attrs)

def cc_import(**attrs):
    native.cc_import(**attrs)

def cc_library(**attrs):
    native.cc_library(**attrs)

def cc_proto_library(**attrs):
    native.cc_proto_library(**attrs)

def cc_test(**attrs):
    native.cc_test(**attrs)

def cc_toolchain(**attrs):
    native.cc_toolchain(**attrs)

def cc_toolchain_suite(**attrs):
    native.cc_toolchain_suite(**attrs)

def fdo_prefetch_hints(**attrs):
    native.fdo_prefetch_hints(**attrs)

def fdo_profile(**attrs):
    native.fdo_profile(**attrs)

def objc_import(**attrs):
    native.objc_import(**attrs)

def objc_library(**attrs):
    native.objc_library(**attrs)
