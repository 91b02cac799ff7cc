"""A test-only mechanism built from docs/mechanisms.md alone: a counter with one command,
one metric, one event and one view. tests/test_mechanism_recipe.py plugs it in through
$CLOUDQUEST_MECHANISMS and plays a chapter on it."""
