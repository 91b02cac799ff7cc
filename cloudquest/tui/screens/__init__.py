"""The screens of the terminal game. Import each from its module: the title screen must
load without the game, so nothing is imported here."""
