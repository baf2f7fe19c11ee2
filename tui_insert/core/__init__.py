"""The domain of tui-insert: records, rules, inputs, storage and the insertion engine.

Nothing in this package imports Textual: the headless CLI and the UI are two thin faces over it.
"""
