"""Test-session settings: notebooks executed by nbval run in fast mode unless told otherwise."""

import os

os.environ.setdefault("FACENET_EDU_FAST", "1")
