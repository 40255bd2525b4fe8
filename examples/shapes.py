"""A small module to try completions on: `refact-lsp complete examples/shapes.py:17:5`."""

import math
from dataclasses import dataclass


@dataclass
class Circle:
    radius: float

    def area(self) -> float:
        return math.pi * self.radius ** 2


def total_area(circles: list[Circle]) -> float:
    """The sum of the areas of all circles."""
    
