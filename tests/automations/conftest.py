from tests.tickets.helpers import clock

__all__ = ["clock"]
