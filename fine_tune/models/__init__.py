"""Base models: the embedded tiny model, and loading any model a config names."""
