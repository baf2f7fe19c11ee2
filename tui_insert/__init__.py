"""tui-insert: validated, concurrent insertion into three SQLite databases."""

__version__ = "0.1.0"
