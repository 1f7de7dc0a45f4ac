"""Small environments for the tests, each registered when its module is imported (a worker imports one only where
ENV_MODULES, or a test's EnvAccess, allows it)."""
