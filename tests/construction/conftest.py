from tests.properties.factories import clock

__all__ = ["clock"]
