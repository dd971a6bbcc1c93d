"""The built-in token issuer: local accounts with argon2 password hashes, OAuth2 password flow.

It serves embedded mode and local distributed runs; production points services at an OIDC
provider instead. Accounts live in their own `identity` schema, owned by the process that
hosts the issuer.
"""
