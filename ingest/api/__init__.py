"""The HTTP edge: routes' plumbing (middleware.py), bodies read (wire.py), callers authenticated
(authentication.py), views, error answers (errors.py), the OpenAPI description and /healthz."""
