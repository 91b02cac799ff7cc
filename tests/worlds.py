"""Small worlds and chapters the tests build on."""

from __future__ import annotations


def tiny_world(**extra):
    world = {
        "regions": [
            {
                "name": "r1",
                "zones": [
                    {"name": "za", "racks": [{"name": "a1", "hosts": [{"count": 2, "vcpus": 4, "ram_gib": 8}]}]},
                    {"name": "zb", "racks": [{"name": "b1", "hosts": [{"count": 2, "vcpus": 16, "ram_gib": 64}]}]},
                ],
            }
        ]
    }
    world.update(extra)
    return world


def make_chapter(objectives, commands=("launch", "terminate", "describe"), world=None, solution=("launch",)):
    from cloudquest.game.schema import Chapter

    return Chapter.model_validate(
        {
            "id": "t",
            "title": "Test",
            "number": 1,
            "sections": [2],
            "skills": ["resource scheduling"],
            "story": "s",
            "world": world or tiny_world(),
            "commands": list(commands),
            "objectives": objectives,
            "solution": list(solution),
        }
    )
