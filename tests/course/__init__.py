"""The five course decks' worked examples, computed with tinyconv (one test file per deck)."""
