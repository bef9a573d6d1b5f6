"""glibc's malloc keeps freed megabyte-sized blocks once glmmix fits a model (allocator.py);
the environment variable GLMMIX_KEEP_FREED_MEMORY=0 leaves the allocator alone."""

import os
import platform
import subprocess
import sys

import pytest

CODE = ("from glmmix import allocator; print(allocator.keep_freed_memory(), allocator.keep_freed_memory())")


def _run(env_value):
    env = dict(os.environ)
    env.pop("GLMMIX_KEEP_FREED_MEMORY", None)
    if env_value is not None:
        env["GLMMIX_KEEP_FREED_MEMORY"] = env_value
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="mallopt is glibc's")
def test_allocator_is_changed_once_and_the_environment_can_refuse_it():
    assert _run(None) == ["True", "True"]
    assert _run("0") == ["False", "False"]
