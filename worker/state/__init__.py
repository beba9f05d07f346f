"""Everything that talks to Redis: narrow classes over the shared state."""
