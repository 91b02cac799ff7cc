"""The game: chapters from YAML, the console language, objectives and grading, the quiz,
replays and saved progress. It turns the simulated cloud (``cloudquest.cloud``) into
something a player operates; it never imports the terminal game (``cloudquest.tui``)."""
