"""Measuring a package's git history: ``bisect`` (which commit made it worse) and
``history`` (every commit of a range, and where the series steps)."""
