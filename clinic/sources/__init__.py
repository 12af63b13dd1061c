"""The "Sources" page: who said what, for every clinical claim the screens make."""
