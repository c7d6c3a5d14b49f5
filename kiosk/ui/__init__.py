"""The screens: pygame-ce drawing, text shaping, languages, sounds."""
