"""Reading mail that comes in: its parts, its new text, delivery reports, auto-replies."""
