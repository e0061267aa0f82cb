"""The platform launcher: runs the five services (embedded or one per process), migrations and
topics. The only package that knows every service."""
