"""The HTTP face of Parlour: ``create_app(settings)`` builds it."""
