"""The multi-tenant service behind ``segfn serve``: workspaces, functions with immutable
versions, sources with encrypted settings, roles and tokens, and the REST API.

- ``catalog``: the tables and the plain functions over them; ``records``: the value classes
  they answer, and how the API shows each;
- ``operations``: what the API and the CLI do to functions, versions and sources;
- ``access``: tokens' roles and what they allow;
- ``vault``, ``keyring``, ``settings_schema``: setting values at rest;
- ``api``, ``bodies``, ``openapi``, ``problems``: the REST API, its request bodies, its
  document and its errors;
- ``tester``: running a version on a payload without delivering anything.

Only this package and the CLI that starts it import from here; the webhook pipeline in
``runner`` knows nothing of workspaces.
"""
