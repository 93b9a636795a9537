"""Pure rules of the directory: standard library and small pure dependencies only, no FastAPI, no SQL."""
