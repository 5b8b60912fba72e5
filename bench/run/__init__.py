"""Running a scenario: point by point, repeat by repeat, watched and reported as it goes."""
