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
            depends=[f"internal_book/_core_{part}.h" for part in ("types", "tables", "book", "commands")],
            extra_compile_args=["-O3", "-std=c11"],
        ),
    ],
)
