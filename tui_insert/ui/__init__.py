"""The Textual face of tui-insert: live database panels, the summary, the keys."""
