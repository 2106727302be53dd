"""Handler templates for ``segfn new --template``.

Each module here is a link to the example of the same name in ``examples/``, so that the
examples ship inside the package (a wheel stores the linked file's contents). They are
handler sources, read as text; importing them is not useful.
"""
