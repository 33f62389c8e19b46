"""Build the compiled hot paths; everything else is declared in pyproject.toml."""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "connectors._l2book",
            sources=["connectors/_l2book.c"],
            extra_compile_args=["-O3", "-std=c11"],
        ),
        Extension(
            "internal_book._engine",
            sources=["internal_book/_engine.c"],
            extra_compile_args=["-O3", "-std=c11"],
        ),
    ],
)
