"""The result model, its files and their history, and the environment they came from."""
